"""LiveBook: quotes appended one by one read exactly like the finished day's DayBook."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from core.instruments import OptionContract, OptionType
from feeds.daybook import QuoteSeries, minute_bars
from feeds.live_book import MINUTE_NS, GrowingSeries, LiveBook, MinuteBars

OPEN_NS = 1_728_359_100 * 1_000_000_000  # 2024-10-08 09:15 IST


def _ticks(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gaps = rng.integers(200_000_000, 9_000_000_000, n)  # 0.2 s to 9 s, some empty minutes
    gaps[n // 2] = 5 * MINUTE_NS  # a silent stretch of whole minutes
    ts = OPEN_NS + np.cumsum(gaps)
    px = np.round(25_000 + np.cumsum(rng.normal(0, 2, n)), 2)
    return ts, px


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_minute_bars_as_they_complete_equal_the_day_s_bars(seed: int) -> None:
    ts, px = _ticks(seed, 3_000)
    bars = MinuteBars(OPEN_NS)
    seen_complete = []
    for t, p in zip(ts.tolist(), px.tolist(), strict=True):
        bars.advance(t)
        seen_complete.append(len(bars))
        bars.on_tick(t, p)
    bars.advance(int(ts[-1]) + MINUTE_NS)
    nan = np.full(len(ts), np.nan)
    expected = minute_bars(QuoteSeries(ts, px, nan, nan, nan, nan, nan), OPEN_NS)
    for key in ("ts", "open", "high", "low", "close"):
        assert np.array_equal(np.asarray(getattr(bars, key)), expected[key]), key
    # a bar is visible only once event time reached its close: never ahead of the ticks
    closes = np.asarray(bars.ts) + MINUTE_NS
    for t, complete in zip(ts.tolist(), seen_complete, strict=True):
        assert complete == int(np.sum(closes <= t))


def test_a_late_start_skips_the_partial_minute() -> None:
    bars = MinuteBars(OPEN_NS, first_bar_ns=OPEN_NS + 90 * 1_000_000_000)
    for second, price in [(95, 1.0), (110, 2.0), (125, 3.0), (170, 4.0), (185, 5.0)]:
        bars.on_tick(OPEN_NS + second * 1_000_000_000, price)
    bars.advance(OPEN_NS + 3 * MINUTE_NS)
    assert bars.ts == [OPEN_NS + 2 * MINUTE_NS]
    assert (bars.open, bars.close) == ([3.0], [4.0])


def test_growing_series_reads_like_a_quote_series_across_reallocations() -> None:
    series = GrowingSeries(capacity=2)
    views = []
    for i in range(9):
        series.append(100 + i, 10.0 + i, 9.95 + i, 10.05 + i, 50, 75, 1000 + i)
        views.append(series.ts)
    assert len(series) == 9
    assert series.ts.tolist() == list(range(100, 109))
    assert series.ask[-1] == pytest.approx(18.05)
    assert series.index_at(104) == 4
    assert series.index_at(99) == -1
    assert views[2].tolist() == [100, 101, 102]  # an old view keeps its rows


def test_live_book_chain_and_rounding_to_paise() -> None:
    contract = OptionContract(security_id=501, segment="NSE_FNO", underlying="NIFTY",
                              expiry=date(2024, 10, 10), strike=25_000.0,
                              option_type=OptionType("CE"), lot_size=25)
    book = LiveBook("NIFTY", date(2024, 10, 8), 13, [contract], 50, OPEN_NS)
    float32 = float(np.float32(123.45))  # what the wire carries
    book.add_quote(13, OPEN_NS + 1_000, float(np.float32(25_010.05)), np.nan, np.nan, 0, 0, 0)
    book.add_quote(501, OPEN_NS + 2_000, float32, float(np.float32(123.4)), float32 + 0.1, 75, 50,
                   9_000)
    chain = book.chain(contract.expiry, _utc(OPEN_NS + 3_000), 2)
    [quote] = chain.quotes
    assert (chain.spot, quote.ltp, quote.bid, quote.ask) == (25_010.05, 123.45, 123.4, 123.55)
    assert (quote.bid_qty, quote.ask_qty, quote.oi) == (75, 50, 9_000)
    # an older quote is stamped at the latest event time
    book.add_quote(501, OPEN_NS + 1_000, 124.0, 123.9, 124.1, 1, 1, 1)
    assert book.series(501).ts.tolist() == [OPEN_NS + 2_000, OPEN_NS + 2_000]


def _utc(ns: int):  # noqa: ANN202
    from core.clock import utc_from_ns

    return utc_from_ns(ns)
