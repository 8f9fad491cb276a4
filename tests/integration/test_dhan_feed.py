"""The supervised market-feed client against the emulator: reconnect, resubscribe, staleness."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from brokers.dhan.client import Credentials
from brokers.dhan.feed import DisconnectAction, MarketFeedClient, disconnect_action
from brokers.dhan.parsing import (
    DisconnectPacket,
    FullPacket,
    Packet,
    PrevClosePacket,
    TickerPacket,
    encode_packet,
    utc_from_ltt,
)
from core.config import DhanConfig
from sim.dhan_emulator import EmulatorServer
from tests.integration.emulator_support import INDEX_ID, admin, quoted_options, serve, wait_until


class Collector:
    def __init__(self) -> None:
        self.packets: list[tuple[Packet, int]] = []
        self.lock = threading.Lock()

    def __call__(self, packet: Packet, receive_ns: int) -> None:
        with self.lock:
            self.packets.append((packet, receive_ns))

    def full(self, sid: int) -> list[FullPacket]:
        with self.lock:
            return [p for p, _ in self.packets
                    if isinstance(p, FullPacket) and p.security_id == sid]


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


@pytest.fixture
def feed(server: EmulatorServer) -> Iterator[tuple[MarketFeedClient, Collector]]:
    got = Collector()
    cfg = DhanConfig(feed_reconnect_base_s=0.05, feed_reconnect_cap_s=0.2, feed_stale_s=0.5)
    client = MarketFeedClient(Credentials(server.settings.client_id,
                                          server.settings.access_token), got, cfg,
                              url=server.feed_url)
    client.start()
    try:
        assert client.wait_connected()
        yield client, got
    finally:
        client.stop()


def _subscribed_on_server(server: EmulatorServer) -> set[int]:
    return server.call(lambda: set(server.emulator.feed.subscribed_ids()))


def test_full_packets_carry_float32_prices_and_the_ltt_as_utc(
        server: EmulatorServer, feed: tuple[MarketFeedClient, Collector]) -> None:
    client, got = feed
    option = quoted_options(server)[0]
    client.subscribe([("NSE_FNO", option.security_id)])
    assert wait_until(lambda: got.full(option.security_id))
    packet = got.full(option.security_id)[0]
    snap = server.call(lambda: server.emulator.market.snapshot(
        option.security_id, server.emulator.now_ns()))
    assert packet.depth[0].ask_price == np.float32(snap.ask)  # not a formatted string
    assert packet.depth[0].bid_price == np.float32(snap.bid)
    assert utc_from_ltt(packet.ltt) <= server.call(server.emulator.now)
    assert any(isinstance(p, PrevClosePacket) for p, _ in got.packets)


def test_disconnect_reconnects_and_resubscribes_everything(
        server: EmulatorServer, feed: tuple[MarketFeedClient, Collector]) -> None:
    client, got = feed
    option = quoted_options(server)[0]
    client.subscribe([("IDX_I", INDEX_ID), ("NSE_FNO", option.security_id)])
    assert wait_until(lambda: _subscribed_on_server(server) == {INDEX_ID, option.security_id})
    admin(server, "feed/disconnect", {"code": 800})
    assert client.wait_connected(connects=2)
    assert client.status.last_disconnect_code == 800
    assert wait_until(lambda: _subscribed_on_server(server) == {INDEX_ID, option.security_id})
    admin(server, "feed/drop", {})  # cut without a packet or close handshake
    assert client.wait_connected(connects=3)
    assert wait_until(lambda: _subscribed_on_server(server) == {INDEX_ID, option.security_id})
    before = len(got.full(option.security_id))
    admin(server, "clock", {"speed": 20, "action": "start"})
    assert wait_until(lambda: len(got.full(option.security_id)) > before + 2)


def test_a_silent_instrument_is_reported_stale(
        server: EmulatorServer, feed: tuple[MarketFeedClient, Collector]) -> None:
    client, got = feed
    quiet, busy = (o.security_id for o in quoted_options(server)[:2])
    client.subscribe([("NSE_FNO", quiet), ("NSE_FNO", busy)])
    assert wait_until(lambda: got.full(quiet) and got.full(busy))
    admin(server, "faults", {"stall_ids": [quiet]})
    admin(server, "clock", {"speed": 20, "action": "start"})
    assert wait_until(lambda: quiet in client.stale(), timeout=3.0)
    assert busy not in client.stale()
    client.unsubscribe([("NSE_FNO", quiet)])
    assert quiet not in client.stale()
    assert wait_until(lambda: _subscribed_on_server(server) == {busy})


def test_expired_token_stops_the_feed_for_good(
        server: EmulatorServer, feed: tuple[MarketFeedClient, Collector]) -> None:
    client, _ = feed
    admin(server, "faults", {"token_expired": True})
    assert wait_until(lambda: client.status.stopped_reason != "")
    assert "807" in client.status.stopped_reason
    assert client.status.connects == 1


@pytest.mark.parametrize(("code", "action"), [
    (None, DisconnectAction.RECONNECT), (800, DisconnectAction.RECONNECT),
    (805, DisconnectAction.RECONNECT_SLOWLY), (807, DisconnectAction.STOP_AUTH),
    (809, DisconnectAction.STOP_AUTH), (814, DisconnectAction.RECONNECT)])
def test_disconnect_codes_map_to_actions(code: int | None, action: DisconnectAction) -> None:
    assert disconnect_action(code) is action


def test_every_packet_of_a_frame_is_delivered_and_bad_frames_skipped() -> None:
    got = Collector()
    client = MarketFeedClient(Credentials("1", "t"), got, url="ws://127.0.0.1:9")
    ticks = [TickerPacket(2, sid, 101.25 + sid, 1_728_467_400) for sid in (40, 41, 42)]
    assert client._on_frame(b"".join(encode_packet(t) for t in ticks)) is None
    assert [p for p, _ in got.packets] == ticks
    assert client._on_frame(encode_packet(ticks[0])[:-3]) is None  # truncated: skipped
    assert client.status.bad_packets == 1
    assert client._on_frame(encode_packet(DisconnectPacket(2, 0, 805))) == 805
