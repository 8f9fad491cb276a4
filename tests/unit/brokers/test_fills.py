"""Fill model rules, one table per rule (tick 0.05 unless a row says otherwise)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from brokers.fills import (
    BarExit,
    Fill,
    FillParams,
    Quote,
    bar_exit_price,
    fill_limit,
    fill_market,
    fill_on_bar,
    fill_quote_index,
    fill_time,
    first_quote_at_or_after,
    round_to_tick,
)
from core.config_check import compose_config
from core.errors import MalformedDataError

NAN = float("nan")
MS = 1_000_000  # nanoseconds


def _quote(bid: float | None = 99.95, ask: float | None = 100.0, ltp: float | None = 100.0,
           bid_qty: float | None = None, ask_qty: float | None = None) -> Quote:
    return Quote(ts_ns=0, ltp=ltp, bid=bid, ask=ask, bid_qty=bid_qty, ask_qty=ask_qty)


@pytest.mark.parametrize(("side", "bid", "ask", "slippage", "tick", "expected"), [
    ("BUY", 99.95, 100.0, 0, 0.05, 100.0),    # buy at the ask
    ("SELL", 99.95, 100.0, 0, 0.05, 99.95),   # sell at the bid
    ("BUY", 99.95, 100.0, 2, 0.05, 100.10),   # slippage: 2 ticks above the ask
    ("SELL", 99.95, 100.0, 3, 0.05, 99.80),   # 3 ticks below the bid
    ("SELL", 0.10, 0.15, 5, 0.05, 0.05),      # a sell never fills below one tick
    ("BUY", 100.0, 100.02, 0, 0.05, 100.05),  # off-tick ask rounds up for a buy
    ("SELL", 100.02, 100.1, 0, 0.05, 100.0),  # off-tick bid rounds down for a sell
    ("BUY", 250.1, 250.3, 1, 0.10, 250.4),    # another tick size
    ("BUY", None, 100.05, 0, 0.05, 100.05),   # a buy needs only the ask
    ("SELL", 99.95, None, 0, 0.05, 99.95),    # a sell needs only the bid
])
def test_market_order_price(side: str, bid: float | None, ask: float | None, slippage: int,
                            tick: float, expected: float) -> None:
    params = FillParams(slippage_ticks=slippage, tick_size=tick)
    fill = fill_market(side, 65, _quote(bid=bid, ask=ask), params)
    assert fill == Fill(price=expected, quantity=65, remaining=0)


@pytest.mark.parametrize(("side", "bid", "ask"), [
    ("BUY", 99.95, None), ("BUY", 99.95, NAN), ("BUY", 99.95, 0.0), ("BUY", 99.95, -1.0),
    ("SELL", None, 100.0), ("SELL", NAN, 100.0), ("SELL", 0.0, 100.0),
])
def test_no_quote_no_fill(side: str, bid: float | None, ask: float | None) -> None:
    assert fill_market(side, 65, _quote(bid=bid, ask=ask), FillParams()) is None


@pytest.mark.parametrize(("side", "quantity", "bid_qty", "ask_qty", "cap", "filled"), [
    ("BUY", 130, None, 65, True, 65),     # partial: the ask had 65
    ("BUY", 130, None, 500, True, 130),   # enough at the touch
    ("BUY", 130, None, None, True, 130),  # unknown size: no cap
    ("BUY", 130, None, NAN, True, 130),
    ("BUY", 130, None, 0, True, 130),     # 0 is what feeds send for "unknown"
    ("BUY", 130, None, 65, False, 130),   # cap switched off
    ("SELL", 195, 130, None, True, 130),  # a sell is capped by the bid size
    ("SELL", 195, None, 65, True, 195),   # ... not by the ask size
])
def test_top_of_book_quantity_cap(side: str, quantity: int, bid_qty: float | None,
                                  ask_qty: float | None, cap: bool, filled: int) -> None:
    params = FillParams(cap_by_top_qty=cap)
    fill = fill_market(side, quantity, _quote(bid_qty=bid_qty, ask_qty=ask_qty), params)
    assert fill is not None
    assert (fill.quantity, fill.remaining) == (filled, quantity - filled)
    assert fill.partial == (filled < quantity)


@pytest.mark.parametrize(("side", "ltp", "bid", "ask", "slippage", "expected"), [
    ("BUY", 100.0, 101.0, 101.5, 0, 101.5),   # ask inside the band (limit 102.00): fills
    ("BUY", 100.0, 101.5, 102.0, 0, 102.0),   # ask on the band edge: fills
    ("BUY", 100.0, 102.0, 102.05, 0, None),   # ask beyond the band: rests
    ("BUY", 100.0, 101.5, 101.95, 2, 102.0),  # slippage never passes the band limit
    ("BUY", 100.03, 101.5, 102.02, 0, None),  # band 102.0306 rounds down to 102.00
    ("SELL", 100.0, 98.0, 98.5, 0, 98.0),     # sell band 98.00: bid on the edge fills
    ("SELL", 100.0, 97.95, 98.5, 0, None),    # bid below the band: rests
    ("SELL", 100.0, 99.0, 99.5, 0, 99.0),
    ("BUY", None, 99.95, 100.0, 0, None),     # no LTP, no band: rests
    ("BUY", NAN, 99.95, 100.0, 0, None),
])
def test_market_order_with_price_protection_band(side: str, ltp: float | None, bid: float,
                                                 ask: float, slippage: int,
                                                 expected: float | None) -> None:
    params = FillParams(slippage_ticks=slippage, price_protection_pct=0.02)
    fill = fill_market(side, 65, _quote(bid=bid, ask=ask, ltp=ltp), params)
    assert (None if fill is None else fill.price) == expected


@pytest.mark.parametrize(("side", "limit", "bid", "ask", "slippage", "resting", "expected"), [
    ("BUY", 100.0, 99.0, 99.5, 0, False, 99.5),      # crossed: the better (the ask)
    ("BUY", 100.0, 99.5, 100.0, 0, False, 100.0),    # touch equals the limit
    ("BUY", 100.0, 100.0, 100.05, 0, False, None),   # not crossed: rests
    ("BUY", 100.0, 99.5, 99.95, 2, False, 100.0),    # slippage capped at the limit
    ("BUY", 100.0, 99.0, 99.5, 0, True, 100.0),      # resting order: at its own limit
    ("BUY", 100.03, 99.5, 100.0, 0, False, 100.0),   # off-tick buy limit snaps down
    ("BUY", 100.03, 99.5, 100.05, 0, False, None),
    ("SELL", 100.0, 100.5, 101.0, 0, False, 100.5),  # crossed: the better (the bid)
    ("SELL", 100.0, 99.95, 100.5, 0, False, None),
    ("SELL", 100.0, 100.5, 101.0, 0, True, 100.0),
    ("SELL", 99.97, 100.0, 100.5, 0, False, 100.0),  # off-tick sell limit snaps up
    ("SELL", 100.0, None, 100.5, 0, False, None),    # no bid: no fill
])
def test_limit_order(side: str, limit: float, bid: float | None, ask: float, slippage: int,
                     resting: bool, expected: float | None) -> None:
    params = FillParams(slippage_ticks=slippage)
    fill = fill_limit(side, 65, limit, _quote(bid=bid, ask=ask), params, resting=resting)
    assert (None if fill is None else fill.price) == expected


def test_limit_fill_is_capped_by_top_quantity() -> None:
    fill = fill_limit("BUY", 130, 101.0, _quote(ask_qty=75), FillParams())
    assert fill == Fill(price=100.0, quantity=75, remaining=55)


@pytest.mark.parametrize(("order_ms", "latency_ms", "expected_index"), [
    (90, 0, 1),     # first quote at or after 90 ms is the one at 100 ms
    (100, 0, 1),    # a quote exactly at the order time counts
    (90, 50, 2),    # latency makes it the later quote (140 ms -> 250 ms)
    (90, 160, 2),   # 250 ms exactly
    (90, 161, 3),
    (90, 400, None),  # past the last quote: nothing to fill against yet
    (-5, 0, 0),
])
def test_latency_picks_the_first_quote_after_arrival(order_ms: int, latency_ms: float,
                                                     expected_index: int | None) -> None:
    stamps = np.array([0, 100, 250, 400], dtype=np.int64) * MS
    params = FillParams(latency_ms=latency_ms)
    assert fill_quote_index(stamps, order_ms * MS, params) == expected_index
    start = datetime(2026, 4, 2, 3, 45, tzinfo=UTC)
    as_datetimes = np.array([np.datetime64(start.replace(tzinfo=None) + timedelta(
        milliseconds=int(ms))) for ms in stamps // MS], dtype="datetime64[ns]")
    order_time = start + timedelta(milliseconds=order_ms)
    assert fill_quote_index(as_datetimes, order_time, params) == expected_index


def test_fill_time_adds_latency_in_both_time_types() -> None:
    params = FillParams(latency_ms=250.5)
    sent = datetime(2026, 4, 2, 9, 20, tzinfo=UTC)
    assert fill_time(sent, params) == sent + timedelta(microseconds=250_500)
    assert fill_time(1_000, params) == 1_000 + 250_500_000
    assert fill_time(np.int64(1_000), params) == 1_000 + 250_500_000
    with pytest.raises(ValueError, match="naive"):
        fill_time(sent.replace(tzinfo=None), params)


def test_first_quote_at_or_after_on_empty_array() -> None:
    assert first_quote_at_or_after(np.array([], dtype=np.int64), 0) is None


@pytest.mark.parametrize(("side", "bar", "half_spread", "slippage", "expected"), [
    ("BUY", (100.0, 102.0, 99.0, 101.0), 1, 0, 100.05),   # next open + half spread
    ("BUY", (100.0, 102.0, 99.0, 101.0), 1, 2, 100.15),   # + slippage
    ("BUY", (100.0, 102.0, 99.0, 101.0), 0, 0, 100.0),
    ("SELL", (100.0, 102.0, 99.0, 101.0), 1, 0, 99.95),   # next open - half spread
    ("SELL", (100.0, 102.0, 99.0, 101.0), 2, 1, 99.85),
    ("SELL", (0.05, 0.10, 0.05, 0.05), 2, 0, 0.05),       # never below one tick
    ("BUY", (NAN, NAN, NAN, NAN), 1, 0, None),            # no bar: no fill
    ("BUY", (0.0, 0.0, 0.0, 0.0), 1, 0, None),
])
def test_market_order_on_bars_fills_at_next_open(side: str,
                                                 bar: tuple[float, float, float, float],
                                                 half_spread: int, slippage: int,
                                                 expected: float | None) -> None:
    params = FillParams(slippage_ticks=slippage)
    fill = fill_on_bar(side, 65, *bar, params, half_spread_ticks=half_spread)
    if expected is None:
        assert fill is None
    else:
        assert fill == Fill(price=expected, quantity=65, remaining=0)


@pytest.mark.parametrize("bar", [
    (100.0, 99.0, 101.0, 100.0),   # high below low
    (103.0, 102.0, 99.0, 101.0),   # open above high
    (100.0, 102.0, 99.0, 98.0),    # close below low
])
def test_malformed_bar_is_an_error(bar: tuple[float, float, float, float]) -> None:
    with pytest.raises(MalformedDataError, match="bad OHLC bar"):
        fill_on_bar("BUY", 65, *bar, FillParams(), half_spread_ticks=1)


@pytest.mark.parametrize(("bar", "stop", "target", "expected"), [
    ((100.0, 110.0, 90.0), 70.0, 160.0, None),                   # nothing touched
    ((100.0, 105.0, 69.0), 70.0, 160.0, BarExit(70.0, "stop")),  # stop inside the bar
    ((100.0, 105.0, 70.0), 70.0, 160.0, BarExit(70.0, "stop")),  # low exactly at the stop
    ((100.0, 161.0, 95.0), 70.0, 160.0, BarExit(160.0, "target")),
    ((100.0, 161.0, 69.0), 70.0, 160.0, BarExit(70.0, "stop")),  # both: stop first
    ((65.0, 72.0, 60.0), 70.0, 160.0, BarExit(65.0, "stop")),    # gap through the stop
    ((70.0, 75.0, 70.0), 70.0, 160.0, BarExit(70.0, "stop")),    # opens at the stop
    ((170.0, 175.0, 150.0), 70.0, 160.0, BarExit(170.0, "target")),  # gap above target
    ((100.0, 105.0, 50.0), None, 160.0, None),                   # no stop set
    ((100.0, 170.0, 50.0), None, 160.0, BarExit(160.0, "target")),
    ((100.0, 170.0, 50.0), 70.0, None, BarExit(70.0, "stop")),
    ((100.0, 105.0, 70.0), 70.035, 160.0, BarExit(70.0, "stop")),    # off-tick stop snaps down
    ((100.0, 105.0, 70.05), 70.035, 160.0, None),
    ((100.0, 160.10, 95.0), 70.0, 160.08, BarExit(160.10, "target")),  # target snaps up
    ((100.0, 160.05, 95.0), 70.0, 160.08, None),
    ((NAN, NAN, NAN), 70.0, 160.0, None),                        # no bar
])
def test_bar_exit_rules(bar: tuple[float, float, float], stop: float | None,
                        target: float | None, expected: BarExit | None) -> None:
    assert bar_exit_price(*bar, stop, target, FillParams()) == expected


@pytest.mark.parametrize(("bar", "expected"), [
    ((100.0, 105.0, 69.0), BarExit(69.85, "stop")),     # 70 - (2 + 1) ticks
    ((65.0, 72.0, 60.0), BarExit(64.85, "stop")),       # gap: from the open
    ((100.0, 161.0, 95.0), BarExit(159.85, "target")),
    ((0.10, 0.15, 0.05), BarExit(0.05, "stop")),        # never below one tick
])
def test_bar_exit_pays_half_spread_and_slippage(bar: tuple[float, float, float],
                                                expected: BarExit) -> None:
    params = FillParams(slippage_ticks=1)
    stop = 0.10 if bar[0] < 1 else 70.0
    assert bar_exit_price(*bar, stop, 160.0, params, half_spread_ticks=2) == expected


@pytest.mark.parametrize(("price", "tick", "mode", "expected"), [
    (100.02, 0.05, "nearest", 100.0),
    (100.03, 0.05, "nearest", 100.05),
    (100.01, 0.05, "up", 100.05),
    (100.04, 0.05, "down", 100.0),
    (100.05, 0.05, "up", 100.05),      # 100.05 / 0.05 is 2000.9999... in floats
    (100.05, 0.05, "down", 100.05),
    (0.35, 0.05, "up", 0.35),
    (250.15, 0.10, "nearest", 250.2),  # halves go up
])
def test_round_to_tick(price: float, tick: float, mode: str, expected: float) -> None:
    assert round_to_tick(price, tick, mode) == expected


def test_fill_params_from_broker_config() -> None:
    broker = compose_config(["broker.latency_ms=150", "broker.slippage_ticks=1",
                             "broker.price_protection_pct=0.03"]).broker
    params = FillParams.from_config(broker, tick_size=0.05)
    assert params == FillParams(latency_ms=150.0, slippage_ticks=1, tick_size=0.05,
                                cap_by_top_qty=True, price_protection_pct=0.03)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tick_size": 0.0}, "tick_size"), ({"tick_size": NAN}, "tick_size"),
    ({"latency_ms": -1.0}, "latency_ms"), ({"slippage_ticks": -1}, "slippage_ticks"),
    ({"price_protection_pct": 0.0}, "price_protection_pct"),
    ({"price_protection_pct": 1.5}, "price_protection_pct"),
])
def test_fill_params_reject_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FillParams(**kwargs)


@pytest.mark.parametrize(("side", "quantity"), [("HOLD", 65), ("BUY", 0), ("SELL", -65),
                                                ("BUY", 6.5)])
def test_bad_order_is_rejected(side: str, quantity: float) -> None:
    with pytest.raises(ValueError, match=r"side|quantity"):
        fill_market(side, quantity, _quote(), FillParams())


def test_limit_price_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit price"):
        fill_limit("BUY", 65, math.nan, _quote(), FillParams())
