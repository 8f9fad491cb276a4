"""The binary market feed against the real dhanhq MarketFeed: prices, LTT, limits, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, time

import numpy as np
import pytest
import websockets
from aiohttp import ClientSession, WSMsgType
from websockets.sync.client import connect

from brokers.dhan.parsing import DisconnectPacket, decode_packet
from core.clock import IST, ns_from_utc
from feeds.catalog import Catalog
from sim.dhan_emulator import EmulatorServer
from tests.integration.emulator_support import (
    DAY,
    INDEX_ID,
    PREVIOUS_DAY,
    FeedReader,
    admin,
    ist,
    quoted_options,
    serve,
    shared_catalog,
    wait_until,
)

NSE_FNO, IDX = 2, 0
TICKER, QUOTE, FULL = 15, 17, 21


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory, speed=100) as running:
        yield running


def _run(server: EmulatorServer) -> None:
    admin(server, "clock", {"action": "start"})


def _sid(message: object) -> int | None:
    return message.get("security_id") if isinstance(message, dict) else None


def test_feed_decodes_to_the_catalog_prices(server: EmulatorServer) -> None:
    full, quote = quoted_options(server)[:2]
    ticks = Catalog(server.settings.catalog_root).read_ticks("NIFTY", DAY)
    previous = Catalog(server.settings.catalog_root).read_ticks("NIFTY", PREVIOUS_DAY)
    subs = [(NSE_FNO, str(full.security_id), FULL), (NSE_FNO, str(quote.security_id), QUOTE),
            (IDX, str(INDEX_ID), TICKER)]
    with FeedReader(server, subs) as reader:
        first = [reader.read() for _ in range(3)]
        _run(server)
        later = [reader.read() for _ in range(60)]
    kinds = {m["type"] for m in later}
    assert {"Full Data", "Quote Data", "OI Data", "Ticker Data"} <= kinds
    prev = [m for m in first + later if m["type"] == "Previous Close"]
    assert {m["security_id"] for m in prev} == {full.security_id, quote.security_id, INDEX_ID}
    for message in prev:
        # The previous session's last price; a contract new today falls back to its first.
        before = previous["ltp"][previous["security_id"] == message["security_id"]]
        today = ticks["ltp"][ticks["security_id"] == message["security_id"]]
        expected = before[-1] if before.size else today[0]
        assert message["prev_close"] == f"{np.float32(expected):.2f}"
    checked = 0
    for message in later:
        if "LTP" not in message:
            continue
        # LTT is IST wall-clock time: the catalog has a tick of this instrument then.
        wall = datetime.combine(DAY, time.fromisoformat(message["LTT"]), tzinfo=IST)
        rows = np.flatnonzero((ticks["security_id"] == message["security_id"])
                              & (ticks["ts"] == ns_from_utc(wall)))
        assert rows.size == 1, message
        row = rows[0]
        assert message["LTP"] == f"{np.float32(ticks['ltp'][row]):.2f}"
        if message["type"] == "Full Data":
            top = message["depth"][0]
            assert top["bid_price"] == f"{np.float32(ticks['bid'][row]):.2f}"
            assert top["ask_quantity"] == ticks["ask_qty"][row]
            assert message["volume"] == ticks["volume"][row]
            assert message["OI"] == ticks["oi"][row]
        checked += 1
    assert checked >= 20


def test_unsubscribe_stops_an_instrument(server: EmulatorServer) -> None:
    a, b = quoted_options(server)[:2]
    subs = [(NSE_FNO, str(a.security_id), TICKER), (NSE_FNO, str(b.security_id), TICKER)]
    with FeedReader(server, subs) as reader:
        reader.read_until(lambda m: _sid(m) == b.security_id and m["type"] == "Ticker Data")
        reader.feed.unsubscribe_symbols([(NSE_FNO, str(a.security_id), TICKER)])
        reader.drain()  # what was already on its way
        _run(server)
        later = [reader.read() for _ in range(10)]
    assert {_sid(m) for m in later} == {b.security_id}


def test_more_than_100_instruments_in_one_message_disconnects_804(
        server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    with FeedReader(server, [(NSE_FNO, str(option.security_id), TICKER)]) as reader:
        reader.read()
        reader.send({"RequestCode": 15, "InstrumentCount": 101, "InstrumentList": [
            {"ExchangeSegment": "NSE_FNO", "SecurityId": str(1000 + i)} for i in range(101)]})
        messages = reader.read_until(lambda m: m is None)  # the disconnect packet
        assert reader.closed == 1
        assert messages[-1] is None
        with pytest.raises(websockets.ConnectionClosed):
            reader.read()


def test_a_sixth_connection_pushes_the_oldest_out_with_805(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    subs = [(NSE_FNO, str(option.security_id), TICKER)]
    readers = []
    try:
        for _ in range(5):
            readers.append(FeedReader(server, subs).__enter__())
            readers[-1].read()
        oldest = readers[0]
        readers.append(FeedReader(server, subs).__enter__())
        oldest.read_until(lambda m: m is None)
        assert oldest.closed == 1
        assert server.call(lambda: len(server.emulator.feed.connections)) == 5
    finally:
        for reader in readers:
            reader.close()


def _raw_feed_answer(server: EmulatorServer, token: str, client_id: str) -> object:
    """The first packet a raw WebSocket gets on the feed URL with these credentials."""
    query = f"?version=2&token={token}&clientId={client_id}&authType=2"
    with connect(server.feed_url + query, open_timeout=5) as ws:
        return decode_packet(ws.recv(timeout=5))


@pytest.mark.parametrize(("token", "client_id", "code"), [
    ("bad", None, 809), (None, "1999999999", 810)])
def test_bad_credentials_are_disconnected(server: EmulatorServer, token: str | None,
                                          client_id: str | None, code: int) -> None:
    answer = _raw_feed_answer(server, token or server.settings.access_token,
                              client_id or server.settings.client_id)
    assert answer == DisconnectPacket(0, 0, code)


def test_stall_all_then_resume(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    with FeedReader(server, [(NSE_FNO, str(option.security_id), TICKER)]) as reader:
        reader.read_until(lambda m: m["type"] == "Ticker Data")
        admin(server, "faults", {"stall_feed": True})
        _run(server)
        assert reader.silent_for(0.5)  # 50 s of replay, no packet, socket still open
        admin(server, "faults", {"stall_feed": False})
        assert reader.read()["type"] == "Ticker Data"


def test_stall_one_instrument(server: EmulatorServer) -> None:
    a, b = quoted_options(server)[:2]
    subs = [(NSE_FNO, str(a.security_id), TICKER), (NSE_FNO, str(b.security_id), TICKER)]
    with FeedReader(server, subs) as reader:
        assert {_sid(m) for m in reader.drain()} == {a.security_id, b.security_id}
        admin(server, "faults", {"stall_ids": [a.security_id]})
        _run(server)
        later = [reader.read() for _ in range(10)]
    assert {_sid(m) for m in later} == {b.security_id}


def test_drop_one_instrument_until_resubscribed(server: EmulatorServer) -> None:
    a, b = quoted_options(server)[:2]
    subs = [(NSE_FNO, str(a.security_id), TICKER), (NSE_FNO, str(b.security_id), TICKER)]
    with FeedReader(server, subs) as reader:
        assert {_sid(m) for m in reader.drain()} == {a.security_id, b.security_id}
        assert admin(server, "feed/drop", {"security_id": a.security_id})["dropped"] == 1
        _run(server)
        assert {_sid(reader.read()) for _ in range(10)} == {b.security_id}
        reader.feed.subscribe_symbols([(NSE_FNO, str(a.security_id), TICKER)])
        reader.read_until(lambda m: _sid(m) == a.security_id and m["type"] == "Ticker Data")


def test_drop_all_cuts_the_connection(server: EmulatorServer) -> None:
    with FeedReader(server, [(IDX, str(INDEX_ID), TICKER)]) as reader:
        reader.read()
        assert admin(server, "feed/drop")["dropped"] == 1
        with pytest.raises(websockets.ConnectionClosed):
            reader.read_until(lambda m: False)
        assert reader.closed == 0  # no disconnect packet was sent


@pytest.mark.parametrize("code", [805, 807, 800])
def test_disconnect_with_a_code(server: EmulatorServer, code: int,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with FeedReader(server, [(IDX, str(INDEX_ID), TICKER)]) as reader:
        reader.read()
        assert admin(server, "feed/disconnect", {"code": code})["disconnected"] == 1
        reader.read_until(lambda m: m is None)
        assert reader.closed == 1
    if code == 807:
        assert "Access Token is expired" in capsys.readouterr().out


def test_token_expiry_closes_the_feed_with_807(server: EmulatorServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with FeedReader(server, [(IDX, str(INDEX_ID), TICKER)]) as reader:
        reader.read()
        admin(server, "faults", {"token_expired": True})
        reader.read_until(lambda m: m is None)
    assert "Access Token is expired" in capsys.readouterr().out
    refused = _raw_feed_answer(server, server.settings.access_token,
                               server.settings.client_id)  # a new connection: refused at once
    assert refused == DisconnectPacket(0, 0, 807)


def test_max_speed_replays_the_rest_of_the_day_to_the_close(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, speed="max", start_paused=False) as running:
        assert wait_until(lambda: admin(running, "state")["finished"], timeout=30)
        state = admin(running, "state")
        assert state["market_open"] is False
        assert state["now"].startswith("2024-10-09T10:00:00")  # 15:30 IST


def test_max_speed_waits_for_its_reader_and_skips_no_tick(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    ticks = Catalog(shared_catalog(tmp_path_factory)).read_ticks("NIFTY", DAY, [INDEX_ID])
    expected = ticks["ltp"][ticks["ts"] >= ns_from_utc(ist(14, 0))]
    with serve(tmp_path_factory, speed="max", start_at=ist(14, 0)) as running, \
            FeedReader(running, [(IDX, str(INDEX_ID), TICKER)]) as reader:
        reader.read_until(lambda m: m["type"] == "Ticker Data")  # the 14:00 snapshot
        _run(running)
        got = reader.read_until(lambda m: m == "Markets Open", limit=len(expected) + 5)
    prices = [m["LTP"] for m in got if isinstance(m, dict) and m["type"] == "Ticker Data"]
    assert prices == [f"{np.float32(p):.2f}" for p in expected[1:]]  # all, in order


def test_server_pings_and_drops_a_client_that_never_answers(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    async def probe(url: str) -> list[WSMsgType]:
        async with ClientSession() as session, session.ws_connect(url, autoping=False) as ws:
            kinds = []
            while not kinds or kinds[-1] not in (WSMsgType.CLOSE, WSMsgType.CLOSED,
                                                 WSMsgType.CLOSING, WSMsgType.ERROR):
                kinds.append((await asyncio.wait_for(ws.receive(), 5)).type)
            return kinds

    with serve(tmp_path_factory, ping_seconds=0.2) as running:
        query = (f"?version=2&token={running.settings.access_token}"
                 f"&clientId={running.settings.client_id}&authType=2")
        kinds = asyncio.run(probe(running.feed_url + query))
    assert kinds[0] == WSMsgType.PING
    assert kinds[-1] in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
