"""BarBuckets: the strategy's incremental confirmation bars.

Same buckets as the warm-up's ``resample_ohlc`` (real NIFTY bars), and handed out in the same
engine step as backtrader's resampler of close-stamped bars would (bars with gaps included).
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from feeds.bt_feeds import BarArrayFeed
from strategies.logic.bar_buckets import BarBuckets, Bucket
from strategies.logic.indicators import resample_ohlc
from tests.unit.strategies._nifty import nifty_1m

MINUTE = 60_000_000_000
OPEN_0915_UTC = 1_728_445_500 * 10**9  # 2024-10-09 09:15 IST


def _feed(buckets: BarBuckets, bars: dict[str, np.ndarray]) -> list[Bucket]:
    out: list[Bucket] = []
    for i in range(len(bars["ts"])):
        out += buckets.add(int(bars["ts"][i]), float(bars["open"][i]), float(bars["high"][i]),
                           float(bars["low"][i]), float(bars["close"][i]))
    return out


def _bars(minutes_after_open: list[int]) -> dict[str, np.ndarray]:
    n = len(minutes_after_open)
    close = 24_000.0 + np.cumsum(np.sin(np.arange(n)) * 7.0)
    return {"ts": OPEN_0915_UTC + np.asarray(minutes_after_open, dtype=np.int64) * MINUTE,
            "open": close - 1.5, "high": close + 4.0 + np.arange(n) % 3,
            "low": close - 3.0 - np.arange(n) % 2, "close": close}


@pytest.mark.parametrize("minutes", [3, 5, 15])
def test_buckets_equal_the_warm_up_resample_on_real_bars(minutes: int) -> None:
    bars = {k: v[:375 * 10] for k, v in nifty_1m().items()}  # ten real sessions
    got = _feed(BarBuckets(minutes), bars)
    want = resample_ohlc(bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"],
                         minutes)
    assert len(got) == len(want["ts"]) == 10 * 375 // minutes
    for field in ("ts", "open", "high", "low", "close", "count"):
        np.testing.assert_array_equal([getattr(b, field) for b in got], want[field])


def test_a_bucket_short_of_bars_is_handed_out_by_the_next_buckets_first_bar() -> None:
    buckets = BarBuckets(5)
    bars = _bars([0, 1, 2, 6, 9])  # 09:15-09:17, then 09:21, 09:24 (09:24 closes 09:20-09:25)
    handed = [buckets.add(int(bars["ts"][i]), *(float(bars[k][i]) for k in
                                                  ("open", "high", "low", "close")))
              for i in range(5)]
    assert [len(h) for h in handed] == [0, 0, 0, 1, 1]
    first, second = handed[3][0], handed[4][0]
    assert (first.ts, first.count) == (OPEN_0915_UTC, 3)
    assert (first.open, first.close) == (bars["open"][0], bars["close"][2])
    assert first.high == max(bars["high"][:3])
    assert first.low == min(bars["low"][:3])
    assert (second.ts, second.count) == (OPEN_0915_UTC + 5 * MINUTE, 2)
    assert buckets.emitted == 2


def test_buckets_never_span_two_days() -> None:
    day = 1440
    bars = _bars([372, 373, day + 0, day + 4])  # 15:27, 15:28, next day 09:15 and 09:19
    handed = _feed(BarBuckets(5), bars)
    assert [(b.ts, b.count) for b in handed] == [
        (OPEN_0915_UTC + 370 * MINUTE, 2), (OPEN_0915_UTC + day * MINUTE, 2)]


def test_bad_minutes_are_refused() -> None:
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="positive integer"):
            BarBuckets(bad)  # type: ignore[arg-type]


class _Steps(bt.Strategy):
    """Per engine step: backtrader's resample next to BarBuckets fed the same 1m bars."""

    def __init__(self) -> None:
        self.buckets = BarBuckets(5)
        self.seen = 0
        self.rows: list[tuple[tuple[float, ...], tuple[float, ...]]] = []
        self.ours: list[Bucket] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        one, five = self.datas[0], self.datas[1]
        if len(one) > self.seen:
            self.seen = len(one)
            self.ours += self.buckets.add(one.close_ts_ns() - MINUTE, one.open[0], one.high[0],
                                          one.low[0], one.close[0])
        theirs = (len(five), five.high[0], five.low[0], five.close[0]) if len(five) else (0,)
        mine = ((self.buckets.emitted, self.ours[-1].high, self.ours[-1].low,
                 self.ours[-1].close) if self.ours else (0,))
        self.rows.append((theirs, mine))


def test_buckets_arrive_in_the_same_step_as_backtraders_resample_with_gaps() -> None:
    minutes = [m for m in range(0, 60) if m not in (3, 4, 11, 12, 13, 14, 15, 27, 41)]
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=False)
    feed = BarArrayFeed(_bars(minutes), MINUTE, timeframe=bt.TimeFrame.Minutes, compression=1)
    cerebro.adddata(feed)
    cerebro.resampledata(feed, timeframe=bt.TimeFrame.Minutes, compression=5)
    cerebro.addstrategy(_Steps)
    strategy = cerebro.run()[0]
    assert strategy.buckets.emitted == 12
    for theirs, mine in strategy.rows:
        assert theirs[0] == mine[0]
        np.testing.assert_allclose(theirs[1:], mine[1:], rtol=0, atol=1e-9)
