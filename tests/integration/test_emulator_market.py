"""Market data REST against the emulator with the real dhanhq client: option chain, expiry
list, charts, market quote, and Dhan's rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from core.clock import IST, ns_from_utc
from feeds.catalog import Catalog
from sim.dhan_emulator import EmulatorServer
from tests.integration.emulator_support import (
    DAY,
    INDEX_ID,
    PREVIOUS_DAY,
    TEN_AM,
    cassette,
    dhan_client,
    quoted_options,
    serve,
    shape_differences,
)

EXPIRY = "2024-10-10"
V25_FIELDS = {"average_price", "security_id"}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


def _chain(server: EmulatorServer) -> dict:
    answer = dhan_client(server).option_chain(INDEX_ID, "IDX_I", EXPIRY)
    assert answer["status"] == "success", answer
    return answer["data"]


def test_option_chain_has_exactly_the_real_structure(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    real = cassette("resources__option_chain__0.json")
    with serve(tmp_path_factory, chain_v25_fields=False) as old_style:
        assert shape_differences(_chain(old_style), real) == []


def test_option_chain_adds_only_the_v25_fields(server: EmulatorServer) -> None:
    real = cassette("resources__option_chain__0.json")
    problems = shape_differences(_chain(server), real)
    assert {p.rsplit(".", 1)[1] for p in problems} == V25_FIELDS
    assert all(p.startswith("extra .data.oc.<strike>.") for p in problems)


def test_option_chain_values_come_from_the_replayed_quotes(server: EmulatorServer) -> None:
    body = _chain(server)["data"]
    market, at = server.emulator.market, server.emulator.now_ns()
    spot = market.snapshot(INDEX_ID, at).ltp
    assert body["last_price"] == float(np.float32(spot))
    strikes = {float(k) for k in body["oc"]}
    assert strikes == {i.strike for i in market.options(market.expiries[0])}
    priced = 0
    for key, legs in body["oc"].items():
        for side, kind in (("ce", "CE"), ("pe", "PE")):
            leg = legs[side]
            inst = market.instrument(leg["security_id"])
            assert (inst.strike, inst.option_type) == (float(key), kind)
            snap = market.snapshot(inst.security_id, at)
            if snap is None:
                assert leg["last_price"] == 0
                continue
            assert leg["last_price"] == pytest.approx(snap.ltp)
            assert leg["top_ask_price"] == pytest.approx(snap.ask)
            assert leg["top_bid_quantity"] == snap.bid_qty
            assert leg["oi"] == snap.oi
            if leg["implied_volatility"]:
                priced += 1
                assert 1.0 < leg["implied_volatility"] < 100.0  # percent
                delta = leg["greeks"]["delta"]
                assert 0 < delta < 1 if kind == "CE" else -1 < delta < 0
                assert leg["greeks"]["theta"] < 0
    assert priced >= len(body["oc"])  # most legs get an IV


def test_expiry_list(server: EmulatorServer) -> None:
    answer = dhan_client(server).expiry_list(INDEX_ID, "IDX_I")
    assert answer["data"] == {"data": [EXPIRY], "status": "success"}
    assert shape_differences(answer["data"], cassette("resources__expiry_list__0.json")) == []


def test_unknown_underlying_and_expiry_are_input_errors(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    assert dhan.option_chain(25, "IDX_I", EXPIRY)["remarks"]["error_code"] == "DH-905"
    wrong = dhan.option_chain(INDEX_ID, "IDX_I", "2024-10-17")
    assert wrong["remarks"]["error_code"] == "DH-905"
    assert "Invalid Expiry Date" in wrong["remarks"]["error_message"]


def test_option_chain_one_unique_request_per_3_seconds(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    assert dhan.option_chain(INDEX_ID, "IDX_I", EXPIRY)["status"] == "success"
    again = dhan.option_chain(INDEX_ID, "IDX_I", EXPIRY)
    assert again["status"] == "failure"
    assert again["remarks"]["error_code"] == "DH-904"
    assert dhan.expiry_list(INDEX_ID, "IDX_I")["status"] == "success"  # another request


def _catalog_bars(server: EmulatorServer, day: object) -> dict[str, np.ndarray]:
    return Catalog(server.settings.catalog_root).read_bars("NIFTY", day, day, [INDEX_ID])


def test_intraday_chart_structure_and_values(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    answer = dhan.intraday_minute_data(str(INDEX_ID), "IDX_I", "INDEX", str(PREVIOUS_DAY),
                                       str(DAY), interval=5)
    body = answer["data"]
    assert shape_differences(body, cassette("base_model__historical_data_test__0.json")) == []
    stamps = [datetime.fromtimestamp(t, UTC) for t in body["timestamp"]]
    assert stamps[0].astimezone(IST).strftime("%Y-%m-%d %H:%M") == "2024-10-08 09:15"
    assert stamps[-1].astimezone(IST).strftime("%Y-%m-%d %H:%M") == "2024-10-09 09:55"
    bars = _catalog_bars(server, PREVIOUS_DAY)
    first = slice(0, 5)
    assert body["open"][0] == bars["open"][0]
    assert body["high"][0] == bars["high"][first].max()
    assert body["low"][0] == bars["low"][first].min()
    assert body["close"][0] == bars["close"][4]
    assert sum(1 for s in stamps if s.astimezone(IST).date() == PREVIOUS_DAY) == 75


def test_intraday_chart_of_an_option_today_stops_before_now(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    answer = dhan_client(server).intraday_minute_data(
        str(option.security_id), "NSE_FNO", "OPTIDX", str(DAY), str(DAY), interval=1, oi=True)
    body = answer["data"]
    assert set(body) == {"open", "high", "low", "close", "volume", "timestamp",
                         "open_interest"}
    assert len(body["timestamp"]) == 45  # 09:15 .. 09:59, every minute completed by 10:00
    assert max(body["timestamp"]) < ns_from_utc(TEN_AM) / 1e9
    assert all(isinstance(v, float) for v in body["volume"])


def test_daily_chart(server: EmulatorServer) -> None:
    answer = dhan_client(server).historical_daily_data(
        str(INDEX_ID), "IDX_I", "INDEX", "2024-10-01", str(DAY + (DAY - PREVIOUS_DAY)))
    body = answer["data"]
    assert shape_differences(body, cassette("resources__historical_data_daily__0.json")) == []
    assert len(body["timestamp"]) == 1  # only the previous day: today has not closed
    stamp = datetime.fromtimestamp(body["timestamp"][0], UTC).astimezone(IST)
    assert (stamp.date(), stamp.hour, stamp.minute) == (PREVIOUS_DAY, 0, 0)
    bars = _catalog_bars(server, PREVIOUS_DAY)
    assert (body["open"][0], body["high"][0], body["low"][0], body["close"][0]) == (
        bars["open"][0], bars["high"].max(), bars["low"].min(), bars["close"][-1])


def test_charts_without_data_are_a_data_error(server: EmulatorServer) -> None:
    answer = dhan_client(server).historical_daily_data(
        str(INDEX_ID), "IDX_I", "INDEX", "2024-09-01", "2024-09-10")
    assert answer["remarks"]["error_code"] == "DH-907"


@pytest.mark.parametrize(("kind", "real"), [
    ("ticker_data", "base_model__market_feed_test__0.json"),
    ("ohlc_data", "base_api__marketfeed_ohlc__0.json"),
    ("quote_data", "client__market_quote__0.json"),
])
def test_market_quote_keys_and_prices(tmp_path_factory: pytest.TempPathFactory, kind: str,
                                      real: str) -> None:
    with serve(tmp_path_factory) as running:
        option = quoted_options(running)[0]
        segment = "NSE_EQ" if kind == "ticker_data" else "NSE_FNO"
        answer = getattr(dhan_client(running), kind)({"NSE_FNO": [option.security_id]})
        body = answer["data"]
        theirs = cassette(real)
        # The recorded instruments were quiet (all zeros), so compare keys, not types.
        ours = {"data": {segment: body["data"]["NSE_FNO"]}, "status": body["status"]}
        assert shape_differences(ours, theirs, check_types=False) == []
        snap = running.emulator.market.snapshot(option.security_id, running.emulator.now_ns())
        assert body["data"]["NSE_FNO"][str(option.security_id)]["last_price"] == \
            pytest.approx(snap.ltp)


def test_quote_api_allows_one_request_per_second(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    assert dhan.ticker_data({"IDX_I": [INDEX_ID]})["status"] == "success"
    assert dhan.ticker_data({"IDX_I": [INDEX_ID]})["remarks"]["error_code"] == "DH-904"


def test_data_api_allows_five_requests_per_second(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    answers = [dhan.intraday_minute_data(str(INDEX_ID), "IDX_I", "INDEX", str(DAY), str(DAY))
               for _ in range(6)]
    assert [a["status"] for a in answers] == ["success"] * 5 + ["failure"]
    assert answers[-1]["remarks"]["error_code"] == "DH-904"


def test_order_api_allows_ten_orders_per_second(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    answers = [dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                                "LIMIT", "INTRADAY", 0.05) for _ in range(11)]
    assert [a["status"] for a in answers] == ["success"] * 10 + ["failure"]
    assert answers[-1]["remarks"]["error_code"] == "DH-904"
    assert len(dhan.get_order_list()["data"]) == 10
