"""The live day as it arrives: growing quote series per instrument and the index 1m bars.

:class:`LiveBook` is a :class:`~feeds.daybook.DayBook` whose series grow while the session
runs, so chain snapshots, ``index_last`` and the slot feeds work exactly as on a recorded day.
One writer (the market-feed thread) appends; the engine thread reads. An append writes the
row before it bumps the length, and a reallocation swaps in a copy, so a reader always sees a
consistent prefix without taking the lock.

Every row is stamped with an *event time*: the receive time live (monotone, so everything up
to the latest stamp has arrived), or the emulator's replay instant in a lockstep rehearsal.
Feed prices are float32 on the wire; exchange prices are whole paise, so they are rounded to
two decimals, which recovers the exchange's number exactly.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from datetime import date

import numpy as np

from core.instruments import OptionContract
from feeds.daybook import DayBook

log = logging.getLogger(__name__)

MINUTE_NS = 60 * 1_000_000_000
_INITIAL_ROWS = 1024
_FLOAT_COLUMNS = ("ltp", "bid", "ask", "bid_qty", "ask_qty", "oi")


class GrowingSeries:
    """One instrument's quotes so far, read like a :class:`~feeds.daybook.QuoteSeries`."""

    def __init__(self, capacity: int = _INITIAL_ROWS) -> None:
        self._ts = np.empty(capacity, dtype=np.int64)
        self._cols = {name: np.empty(capacity, dtype=np.float64) for name in _FLOAT_COLUMNS}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def ts(self) -> np.ndarray:
        return self._ts[:self._n]

    @property
    def ltp(self) -> np.ndarray:
        return self._cols["ltp"][:self._n]

    @property
    def bid(self) -> np.ndarray:
        return self._cols["bid"][:self._n]

    @property
    def ask(self) -> np.ndarray:
        return self._cols["ask"][:self._n]

    @property
    def bid_qty(self) -> np.ndarray:
        return self._cols["bid_qty"][:self._n]

    @property
    def ask_qty(self) -> np.ndarray:
        return self._cols["ask_qty"][:self._n]

    @property
    def oi(self) -> np.ndarray:
        return self._cols["oi"][:self._n]

    def index_at(self, at_ns: int) -> int:
        """Index of the last quote at or before ``at_ns``; -1 if none yet."""
        return int(np.searchsorted(self.ts, at_ns, side="right")) - 1

    def append(self, ts_ns: int, ltp: float, bid: float, ask: float, bid_qty: float,
               ask_qty: float, oi: float) -> None:
        n = self._n
        if n == len(self._ts):
            self._grow()
        self._ts[n] = ts_ns
        for name, value in zip(_FLOAT_COLUMNS, (ltp, bid, ask, bid_qty, ask_qty, oi),
                               strict=True):
            self._cols[name][n] = value
        self._n = n + 1  # last: readers never see a half-written row

    def _grow(self) -> None:
        size = 2 * len(self._ts)
        ts = np.empty(size, dtype=np.int64)
        ts[:self._n] = self._ts[:self._n]
        cols = {}
        for name, col in self._cols.items():
            cols[name] = np.empty(size, dtype=np.float64)
            cols[name][:self._n] = col[:self._n]
        self._ts, self._cols = ts, cols


class MinuteBars:
    """1m OHLC of the index as it ticks, aligned to the session open, ``ts`` = bar start.

    A bar is complete once event time reaches its close (a later tick of any instrument, or
    the clock); only complete bars are visible. Same bars as
    :func:`feeds.daybook.minute_bars` on the finished day: minutes without a tick have none.
    """

    def __init__(self, session_open_ns: int, first_bar_ns: int | None = None) -> None:
        self.session_open_ns = session_open_ns
        # Started mid-session: the minute in progress would be a partial bar, so bars begin
        # with the next whole minute (the charts API gave the completed ones as warm-up).
        self.first_bucket = 0 if first_bar_ns is None else -(
            -(first_bar_ns - session_open_ns) // MINUTE_NS)
        self.ts: list[int] = []
        self.open: list[float] = []
        self.high: list[float] = []
        self.low: list[float] = []
        self.close: list[float] = []
        self._bucket: int | None = None
        self._ohlc = [math.nan] * 4

    def __len__(self) -> int:
        return len(self.ts)

    def on_tick(self, ts_ns: int, ltp: float) -> None:
        if math.isnan(ltp):
            return
        bucket = (ts_ns - self.session_open_ns) // MINUTE_NS
        if bucket < self.first_bucket:
            return
        if self._bucket is not None and bucket != self._bucket:
            self._complete()
        if self._bucket is None:
            self._bucket, self._ohlc = bucket, [ltp, ltp, ltp, ltp]
            return
        o, h, lo, _ = self._ohlc
        self._ohlc = [o, max(h, ltp), min(lo, ltp), ltp]

    def advance(self, event_ns: int) -> None:
        """Complete the open bar if event time has reached its close."""
        if self._bucket is not None and event_ns >= self._bar_close(self._bucket):
            self._complete()

    def _bar_close(self, bucket: int) -> int:
        return self.session_open_ns + (bucket + 1) * MINUTE_NS

    def _complete(self) -> None:
        assert self._bucket is not None
        o, h, lo, c = self._ohlc
        self.open.append(o)
        self.high.append(h)
        self.low.append(lo)
        self.close.append(c)
        self.ts.append(self.session_open_ns + self._bucket * MINUTE_NS)  # last: length
        self._bucket = None


class LiveBook(DayBook):
    """A :class:`~feeds.daybook.DayBook` filled while the session runs (module docstring)."""

    def __init__(self, underlying: str, day: date, index_id: int,
                 contracts: Sequence[OptionContract], strike_step: int,
                 session_open_ns: int, first_bar_ns: int | None = None) -> None:
        self.underlying = underlying
        self.day = day
        self.index_id = index_id
        self.strike_step = strike_step
        self.contracts = {c.security_id: c for c in contracts}
        self.expiries = sorted({c.expiry for c in contracts})
        self._series: dict[int, GrowingSeries] = {index_id: GrowingSeries()}  # type: ignore[dict-item]
        self.bars = MinuteBars(session_open_ns, first_bar_ns)
        self.lock = threading.Lock()
        self.event_ns = 0  # every row stamped at or before this has been appended
        self.rows = 0

    def add_quote(self, security_id: int, ts_ns: int, ltp: float, bid: float, ask: float,
                  bid_qty: float, ask_qty: float, oi: float) -> None:
        """Append one quote (prices rounded to paise; NaN where unknown)."""
        with self.lock:
            ts_ns = max(ts_ns, self.event_ns)  # a frame decoded while the clock moved on
            series = self._series.get(security_id)
            if series is None:
                series = self._series[security_id] = GrowingSeries()  # type: ignore[assignment]
            series.append(ts_ns, _paise(ltp), _paise(bid), _paise(ask), bid_qty, ask_qty, oi)
            self.rows += 1
            if security_id == self.index_id:
                self.bars.on_tick(ts_ns, _paise(ltp))
            else:
                self.bars.advance(ts_ns)  # any later event completes the open index bar
            self.event_ns = ts_ns

    def advance(self, event_ns: int) -> None:
        """Event time reached ``event_ns`` with nothing more to append up to it."""
        with self.lock:
            if event_ns > self.event_ns:
                self.event_ns = event_ns
            self.bars.advance(event_ns)


def _paise(price: float) -> float:
    value = float(price)
    return value if math.isnan(value) else round(value, 2)
