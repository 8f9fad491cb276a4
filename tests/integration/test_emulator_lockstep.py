"""Lockstep replay and "fill on the next quote", with the real MarketFeedClient over loopback.

The emulator runs at max speed with ``lockstep``: after each replay instant it sends a
``{"Lockstep": ns}`` marker and holds its clock until the client acks; with no subscribed
connection it holds still. Acks are withheld or given by the test, so every clock reading
here is of a replay clock that cannot move on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from brokers.dhan.client import Credentials
from brokers.dhan.feed import MarketFeedClient, lockstep_marker_ns
from brokers.dhan.parsing import Packet, utc_from_ltt
from core.clock import ns_from_utc, utc_from_ns
from core.config import DhanConfig
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.feed import lockstep_marker, parse_lockstep_ack
from sim.dhan_emulator.orders import FillSettings
from tests.integration.emulator_support import (
    INDEX_ID,
    TEN_AM,
    admin,
    dhan_client,
    ist,
    quoted_options,
    serve,
    wait_until,
)

HOLD_S = 0.3  # how long a held clock is watched for not moving
LOCKSTEP = {"speed": "max", "start_paused": False, "lockstep": True}


class Tape:
    """Packets and lockstep markers in the order the feed thread delivered them."""

    def __init__(self, auto_ack: bool) -> None:
        self.auto_ack = auto_ack
        self.client: MarketFeedClient | None = None
        self.events: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def on_packet(self, packet: Packet, receive_ns: int) -> None:
        with self.lock:
            self.events.append(("packet", packet))

    def on_lockstep(self, ns: int) -> None:
        with self.lock:
            self.events.append(("marker", ns))
        if self.auto_ack and self.client is not None:
            self.client.ack_lockstep(ns)

    def markers(self) -> list[int]:
        with self.lock:
            return [ns for kind, ns in self.events if kind == "marker"]

    def next_marker(self, after: int = -1) -> int:
        """The first marker later than ``after`` (waits for it)."""
        assert wait_until(lambda: any(ns > after for ns in self.markers())), \
            f"no lockstep marker after {after}"
        return next(ns for ns in self.markers() if ns > after)

    def snapshot(self) -> list[tuple[str, Any]]:
        with self.lock:
            return list(self.events)


@contextmanager
def lockstep_feed(server: EmulatorServer, auto_ack: bool = False,
                  reconnect_cap_s: float = 0.2) -> Iterator[tuple[MarketFeedClient, Tape]]:
    tape = Tape(auto_ack)
    cfg = DhanConfig(feed_reconnect_base_s=0.05, feed_reconnect_cap_s=reconnect_cap_s)
    client = MarketFeedClient(Credentials(server.settings.client_id,
                                          server.settings.access_token), tape.on_packet, cfg,
                              url=server.feed_url, on_lockstep=tape.on_lockstep)
    tape.client = client
    client.start()
    try:
        assert client.wait_connected()
        yield client, tape
    finally:
        client.stop()


def _now(server: EmulatorServer) -> datetime:
    return datetime.fromisoformat(admin(server, "state")["now"])


def _held_at(server: EmulatorServer, at: datetime) -> bool:
    """The replay clock is at ``at`` and still there ``HOLD_S`` later."""
    first = _now(server)
    time.sleep(HOLD_S)
    return first == at == _now(server)


# ----- the messages -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ns"), [
    ('{"Lockstep": 1728446400000000000}', 1728446400000000000),
    ('{"Lockstep": 0}', 0),
    ('{"Lockstep": 1.5}', None),
    ('{"Lockstep": true}', None),
    ('{"Lockstep": 5, "x": 1}', None),
    ('{"LockstepAck": 5}', None),
    ('{"Lockstep": 5', None),
    ('{"type": "status"}', None),
])
def test_client_reads_only_well_formed_markers(text: str, ns: int | None) -> None:
    assert lockstep_marker_ns(text) == ns


@pytest.mark.parametrize(("text", "ns"), [
    ('{"LockstepAck": 1728446400000000000}', 1728446400000000000),
    ('{"LockstepAck": "5"}', None),
    ('{"LockstepAck": false}', None),
    ('{"LockstepAck": 5, "RequestCode": 15}', None),
    ('["LockstepAck", 5]', None),
    ("LockstepAck", None),
])
def test_emulator_reads_only_well_formed_acks(text: str, ns: int | None) -> None:
    assert parse_lockstep_ack(text) == ns


def test_marker_round_trips_through_the_client_reader() -> None:
    assert lockstep_marker_ns(lockstep_marker(1728446405000000000)) == 1728446405000000000


# ----- lockstep over the feed ---------------------------------------------------------------

def test_markers_follow_their_packets_and_hold_the_clock_until_acked(
        tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sim.dhan_emulator")
    with serve(tmp_path_factory, **LOCKSTEP) as server, lockstep_feed(server) as (client, tape):
        option = quoted_options(server)[0]
        client.subscribe([("IDX_I", INDEX_ID), ("NSE_FNO", option.security_id)])
        marker = -1
        for _ in range(3):
            marker = tape.next_marker(marker)
            assert _held_at(server, utc_from_ns(marker))  # the ack is withheld
            assert tape.markers()[-1] == marker  # ... and no later instant was sent
            client.ack_lockstep(marker)
        tape.next_marker(marker)  # the last ack let it move on
        events = tape.snapshot()
    markers = [ns for kind, ns in events if kind == "marker"]
    assert markers == sorted(set(markers))
    assert markers[0] > ns_from_utc(TEN_AM)  # the subscription snapshot carries no marker
    ltt_seconds: list[int] = []  # of the packets since the last marker
    index_second = None
    for kind, item in events:
        if kind == "marker":
            assert ltt_seconds, f"marker {item} without packets before it"
            assert max(ltt_seconds) <= item // 1_000_000_000, item
            # the index ticks every instant: its last packet before the marker is of it
            assert index_second == item // 1_000_000_000, (item, index_second)
            ltt_seconds = []
        elif getattr(item, "ltt", None) is not None:
            second = ns_from_utc(utc_from_ltt(item.ltt)) // 1_000_000_000
            ltt_seconds.append(second)
            if item.security_id == INDEX_ID:
                index_second = second
    assert not [r for r in caplog.records if "bad" in r.getMessage()]


def test_without_a_subscriber_the_clock_holds_and_resumes_after_a_reconnect(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, **LOCKSTEP) as server:
        assert _held_at(server, TEN_AM)  # nobody connected
        with lockstep_feed(server, reconnect_cap_s=0.7) as (client, tape):
            assert _held_at(server, TEN_AM)  # connected, nothing subscribed
            option = quoted_options(server)[0]
            client.subscribe([("NSE_FNO", option.security_id)])
            first = tape.next_marker()
            client.ack_lockstep(first)
            second = tape.next_marker(first)
            admin(server, "feed/disconnect", {"code": 805})  # the client is back in 0.7 s
            assert _held_at(server, utc_from_ns(second))  # the day waits for the client
            assert client.wait_connected(connects=2)
            third = tape.next_marker(second)  # resubscribed: the replay goes on
            client.ack_lockstep(third)
            tape.next_marker(third)
    assert first < second < third


def test_a_missing_ack_is_logged_and_the_replay_goes_on(
        tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture) -> None:
    with serve(tmp_path_factory, lockstep_timeout_s=0.2, **LOCKSTEP) as server, \
            lockstep_feed(server) as (client, tape):
        client.subscribe([("IDX_I", INDEX_ID)])
        first = tape.next_marker()
        second = tape.next_marker(first)  # never acked: the timeout moved the clock
    assert second - first == 5_000_000_000
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("feed connection #" in m and f"did not ack {first}" in m for m in errors), errors


def test_the_session_close_marker_ends_the_day_once(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, start_at=ist(15, 29, 40), **LOCKSTEP) as server, \
            lockstep_feed(server, auto_ack=True) as (client, tape):
        close_ns = ns_from_utc(server.emulator.session_close)
        client.subscribe([("IDX_I", INDEX_ID)])
        assert tape.next_marker(close_ns - 1) == close_ns
        time.sleep(HOLD_S)
        state = admin(server, "state")
        markers = tape.markers()
    assert state["finished"]
    assert not state["market_open"]
    assert markers.count(close_ns) == 1
    assert markers == sorted(markers)
    assert markers[-1] == close_ns
    assert len(markers) >= 3  # 15:29:45, :50, :55 before the close


# ----- fill on the next quote ---------------------------------------------------------------

def _next_quote_ns(server: EmulatorServer, security_id: int, after_ns: int) -> int:
    market = server.emulator.market
    rows = np.flatnonzero((market.sid == security_id) & (market.ts > after_ns))
    return int(market.ts[rows[0]])


@pytest.mark.parametrize(("fill_on_next_quote", "validity", "fills_on"), [
    (False, "DAY", "the quote at T"),
    (True, "DAY", "the next quote"),
    (True, "IOC", "the next quote, its one chance"),
])
def test_an_order_placed_at_t_fills_on_the_expected_quote(
        tmp_path_factory: pytest.TempPathFactory, fill_on_next_quote: bool, validity: str,
        fills_on: str) -> None:
    fills = FillSettings(fill_on_next_quote=fill_on_next_quote)
    with serve(tmp_path_factory, fills=fills, **LOCKSTEP) as server, \
            lockstep_feed(server) as (client, tape):
        option = quoted_options(server)[0]
        sid = option.security_id
        client.subscribe([("NSE_FNO", sid)])
        decided_at = tape.next_marker()
        placed = dhan_client(server).place_order(str(sid), "NSE_FNO", "BUY", option.lot_size,
                                                 "MARKET", "INTRADAY", 0, validity=validity)
        assert placed["status"] == "success", placed
        order_id = placed["data"]["orderId"]
        status_at_t = server.call(lambda: server.emulator.book.get(order_id).status)
        client.ack_lockstep(decided_at)
        tape.next_marker(decided_at)
        trades = server.call(lambda: [(t.price, t.time) for t in server.emulator.book.trades])
        expected_ns = (_next_quote_ns(server, sid, decided_at) if fill_on_next_quote
                       else decided_at)
        quote = server.call(lambda: server.emulator.market.snapshot(sid, expected_ns))
        decided = server.call(lambda: server.emulator.market.snapshot(sid, decided_at))
    assert quote.ask != decided.ask or not fill_on_next_quote, "pick quotes that differ"
    assert status_at_t == ("PENDING" if fill_on_next_quote else "TRADED"), fills_on
    assert trades == [(quote.ask, utc_from_ns(expected_ns))], fills_on


def test_an_unfilled_ioc_order_is_cancelled_after_its_next_quote(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    fills = FillSettings(fill_on_next_quote=True)
    with serve(tmp_path_factory, fills=fills, **LOCKSTEP) as server, \
            lockstep_feed(server) as (client, tape):
        option = quoted_options(server)[0]
        client.subscribe([("NSE_FNO", option.security_id)])
        decided_at = tape.next_marker()
        placed = dhan_client(server).place_order(
            str(option.security_id), "NSE_FNO", "BUY", option.lot_size, "LIMIT", "INTRADAY",
            option.tick_size, validity="IOC")  # far below any ask
        order_id = placed["data"]["orderId"]
        status_at_t = server.call(lambda: server.emulator.book.get(order_id).status)
        client.ack_lockstep(decided_at)
        tape.next_marker(decided_at)
        status_after = server.call(lambda: server.emulator.book.get(order_id).status)
        trades = server.call(lambda: len(server.emulator.book.trades))
    assert (status_at_t, status_after, trades) == ("PENDING", "CANCELLED", 0)
