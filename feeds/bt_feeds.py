"""backtrader feeds over numpy arrays: the index bar feed and the contract slots.

Both read straight from arrays the store already holds (no pandas, no per-bar conversion
beyond writing the lines). Bars are stamped at their *close* so they interleave correctly
with option ticks: the 09:15 one-minute bar reaches the strategy at 09:16:00.
"""

from __future__ import annotations

from collections.abc import Callable

import backtrader as bt
import numpy as np

from core.instruments import OptionContract
from feeds.daybook import QuoteSeries

_NONE_PRESENTED = np.iinfo(np.int64).max
BarTaker = Callable[[int, float, float, float, float], bool]
_EPOCH_ORDINAL = 719_163.0  # backtrader's date2num of 1970-01-01 00:00 UTC
_NS_PER_DAY = 86_400e9


def earliest_presented(slots: list[SlotFeed]) -> int:
    """The earliest quote time any slot offers in the current engine step.

    backtrader steps feeds in (timeframe, compression) order, so tick-timeframe slots have
    made their offer before the minute-bar clock feed asks.
    """
    return min((s.presenting_ns for s in slots), default=_NONE_PRESENTED)


def bt_num(ts_ns: np.ndarray | int) -> np.ndarray:
    """backtrader float day numbers of UTC epoch nanoseconds."""
    return _EPOCH_ORDINAL + np.asarray(ts_ns, dtype=np.float64) / _NS_PER_DAY


class BarArrayFeed(bt.feed.DataBase):
    """OHLC bars from arrays (``ts`` = bar start), delivered at bar close."""

    def __init__(self, bars: dict[str, np.ndarray], bar_ns: int,
                 hold: Callable[[], int] | None = None) -> None:
        super().__init__()
        self._hold = hold
        self._close_ts = np.asarray(bars["ts"], dtype=np.int64) + bar_ns
        self._num = bt_num(self._close_ts)
        self._open = np.asarray(bars["open"], dtype=np.float64)
        self._high = np.asarray(bars["high"], dtype=np.float64)
        self._low = np.asarray(bars["low"], dtype=np.float64)
        self._close = np.asarray(bars["close"], dtype=np.float64)
        self._i = -1
        self._take: BarTaker | None = None
        self._dt_line = self.lines.datetime

    def take_bars_with(self, taker: BarTaker) -> None:
        """Offer each bar to ``taker`` before delivering it; bars it takes are not delivered.

        ``taker(close_ns, open, high, low, close)`` returns True when it has handled the bar
        itself (the strategy, for idle bars that need no engine step).
        """
        self._take = taker

    def start(self) -> None:
        super().start()
        self._i = -1

    @property
    def exhausted(self) -> bool:
        """True once the last bar has been loaded: nothing later will come from this feed.

        Slots end with it; saying so in the step the last bar loads (not a step later, when a
        load fails) lets backtrader end through its normal "last bar" path, where the
        resample clone flushes a partial bar.
        """
        return self._i + 1 >= len(self._close_ts)

    def close_ts_ns(self) -> int:
        """Close time of the bar the feed is on, exact to the nanosecond."""
        return int(self._close_ts[self._i])

    def next(self, datamaster: object = None, ticks: bool = True) -> bool | None:
        # backtrader loads every feed's next bar each step and rolls back those that are not
        # due; the resample clone of this feed would still consume a rolled-back bar, which
        # drops confirmation bars. So while a slot offers an earlier quote, do not load.
        line = self._dt_line  # len(self) >= self.buflen(): nothing loaded ahead
        if self._hold is not None and line.lencount >= len(line.array) - line.extension:
            upcoming = self._i + 1
            if upcoming < len(self._close_ts) and self._close_ts[upcoming] > self._hold():
                return None
        return super().next(datamaster, ticks)

    def _load(self) -> bool:
        i = self._i + 1
        n = len(self._num)
        take = self._take
        if take is not None:
            while i < n and take(int(self._close_ts[i]), float(self._open[i]),
                                 float(self._high[i]), float(self._low[i]),
                                 float(self._close[i])):
                self._i = i
                i += 1
        if i >= n:
            return False
        self._i = i
        lines = self.lines
        lines.datetime[0] = self._num[i]
        lines.open[0] = self._open[i]
        lines.high[0] = self._high[i]
        lines.low[0] = self._low[i]
        lines.close[0] = self._close[i]
        lines.volume[0] = 0.0
        lines.openinterest[0] = 0.0
        return True


class SlotFeed(bt.feed.DataBase):
    """A contract slot: streams one bound contract's quotes, silent while unbound.

    ``bind`` starts the stream strictly after the bind time (the strategy decided on what
    it had seen; the next quote is the first one it can trade on). ``release`` silences the
    slot. Once the clock feed is exhausted the slot reports the end of data.

    backtrader loads a feed's next bar before it knows whether the bar is due, and rolls the
    lines back (keeping the bar buffered) when another feed is earlier. ``quote_index`` and
    ``ts_ns`` therefore name the last *delivered* quote, never one loaded ahead of the clock,
    and ``release`` drops a buffered bar so it cannot reach the next bound contract.

    Batched (bar mode, ``batch_ns`` = one minute): a step delivers a whole minute of a bar's
    path quotes at the minute's end, the step the index bar closes in, instead of one step
    per path point. The strategy walks the path itself, calling ``reveal`` before each
    instant so the broker fills on exactly the quotes a step-per-quote replay would have
    shown it: same trades, a third of the engine steps.

    Driven (a batched slot after ``drive()``): the engine never steps this slot; the
    strategy, which then takes every clock bar itself, delivers each minute's quotes with
    ``deliver_until`` before walking them. Its lines hold the last delivered quote (what a
    backtrader Trade and the broker's marks read).
    """

    # Only what the strategy reads per tick: every extra line costs each step (the broker
    # reads book sizes from the series arrays).
    lines = ("bid", "ask")

    def __init__(self, slot: int, clock_done: Callable[[], bool], batch_ns: int = 0) -> None:
        super().__init__()
        # Time of the quote this slot offers in the current engine step (see BarArrayFeed).
        self.presenting_ns = _NONE_PRESENTED
        self.slot = slot
        self._clock_done = clock_done
        # batch_ns > 0 (bar mode): one step delivers every quote of a batch_ns window, stamped
        # at the window's end; the strategy reveals them one instant at a time (see reveal).
        self._batch_ns = batch_ns
        self.contract: OptionContract | None = None
        self._series: QuoteSeries | None = None
        self._num = np.empty(0)
        self._last_of = np.empty(0, dtype=np.int64)  # per quote: last quote of its window
        self._i = -1  # last quote loaded
        self._before = -1  # last quote before the loaded step
        self._shown = -1  # last quote revealed (batched slots)
        self._driven = False
        self._dt_line = self.lines.datetime

    @property
    def bound(self) -> bool:
        return self.contract is not None

    def bind(self, contract: OptionContract, series: QuoteSeries, after_ns: int) -> None:
        if self.contract is not None:
            raise RuntimeError(f"slot {self.slot} is bound to {self.contract.symbol}")
        self.contract = contract
        self._series = series
        self._num = bt_num(series.ts)
        self._i = int(np.searchsorted(series.ts, after_ns, side="right")) - 1
        self._before = self._shown = self._i
        if self._batch_ns:
            window = np.asarray(series.ts, dtype=np.int64) // self._batch_ns
            ends = np.flatnonzero(np.r_[window[1:] != window[:-1], True])
            self._last_of = np.repeat(ends, np.diff(np.r_[-1, ends]))
            self._num = bt_num((window + 1) * self._batch_ns)

    def release(self) -> None:
        self.contract = None
        self._series = None
        if self._loaded_ahead():
            for line in self.lines:
                line.array.pop()

    def _loaded_ahead(self) -> bool:
        line = self._dt_line  # len(self) < self.buflen(), without backtrader's indirections
        return line.lencount < len(line.array) - line.extension

    def ts_ns(self) -> int:
        """Time of the last delivered quote (or of the last one before the bind time)."""
        assert self._series is not None
        return int(self._series.ts[self.quote_index()])

    def quote_index(self) -> int:
        """Index in the series of the last delivered (and revealed) quote; -1 if none."""
        if self._batch_ns:
            return min(self._shown, self.delivered_index())
        return self._i - 1 if self._loaded_ahead() else self._i

    def delivered_index(self) -> int:
        """Index of the last quote delivered to the engine (batched: maybe not revealed)."""
        if self._batch_ns:
            return self._before if self._loaded_ahead() else self._i
        return self.quote_index()

    @property
    def batched(self) -> bool:
        return self._batch_ns > 0

    def drive(self) -> None:
        """Hand this (batched) slot's delivery to the strategy: see the class docstring."""
        if not self._batch_ns:
            raise RuntimeError(f"slot {self.slot}: only a batched slot can be driven")
        self._driven = True

    def deliver_until(self, end_ns: int) -> None:
        """Driven slots: every quote of the bound contract before ``end_ns`` is delivered."""
        series = self._series
        if series is None:
            return
        last = int(np.searchsorted(series.ts, end_ns, side="left")) - 1
        if last <= self._i:
            return
        self._i = last
        if not len(self._dt_line):
            self.forward()
        lines = self.lines
        lines.datetime[0] = self._stamp(last)
        lines.close[0] = series.ltp[last]
        lines.bid[0] = series.bid[last]
        lines.ask[0] = series.ask[last]

    def reveal(self, row: int) -> None:
        """Batched slots: quotes up to ``row`` are now visible (to the broker's fills)."""
        self._shown = max(self._shown, min(row, self.delivered_index()))

    @property
    def series(self) -> QuoteSeries | None:
        return self._series

    def next(self, datamaster: object = None, ticks: bool = True) -> bool | None:
        # An idle slot answers without touching its lines: backtrader would otherwise
        # forward and roll back every line of every idle slot on every bar of the day.
        self.presenting_ns = _NONE_PRESENTED
        series = self._series
        idle = self._driven or series is None or self._i + 1 >= len(series)
        if idle and not self._loaded_ahead():
            return False if self._clock_done() else None
        ret = super().next(datamaster, ticks)
        if ret and self._series is not None:
            ts = int(self._series.ts[self._i])
            self.presenting_ns = ts - ts % self._batch_ns + self._batch_ns if self._batch_ns else ts
        return ret

    def _stamp(self, i: int) -> float:
        """backtrader time of quote ``i``'s step (converted once per bind here)."""
        return self._num[i]

    def _load(self) -> bool | None:
        series = self._series
        if series is None or self._i + 1 >= len(series):
            return False if self._clock_done() else None
        i = self._i + 1
        if self._batch_ns:
            self._before, i = self._i, int(self._last_of[i])
        self._i = i
        lines = self.lines
        ltp = series.ltp[i]
        lines.datetime[0] = self._stamp(i)
        lines.open[0] = lines.high[0] = lines.low[0] = lines.close[0] = ltp
        lines.bid[0] = series.bid[i]
        lines.ask[0] = series.ask[i]
        lines.volume[0] = 0.0
        lines.openinterest[0] = series.oi[i]
        return True
