"""Classic Supertrend and Wilder's ADX over numpy arrays, O(1)-per-bar states, bar resampling.

Conventions (identical in the array functions and the incremental states, which agree to
floating-point rounding because they run the same arithmetic in the same order):

- **True range** of bar i is ``max(h-l, |h-c[i-1]|, |l-c[i-1]|)``; bar 0 has no previous
  close, so the Supertrend uses ``h-l`` there (TradingView's ``ta.atr``).
- **Supertrend ATR**: Wilder's smoothing ``atr = (atr_prev*(p-1) + tr) / p`` seeded with the
  simple mean of the first ``p`` true ranges (bars 0..p-1): the first value is at index p-1.
- **Supertrend bands**: basic ``hl2 +/- multiplier*atr``; the final lower band only rises
  (unless the previous close fell below it) and the final upper band only falls (unless the
  previous close rose above it). In a downtrend the trend turns up when the close is above
  the final upper band; in an uptrend it turns down when the close is below the final lower
  band. The line is the final lower band in an uptrend, the upper band in a downtrend. The
  first bar with an ATR starts in a downtrend (as TradingView's ``ta.supertrend`` does); the
  seed only matters for the first bars of a warm-up. Direction is +1.0 (up) / -1.0 (down).
- **ADX** (Wilder, 1978): +DM/-DM and TR start at bar 1 (they need the previous bar); Wilder
  running sums ``s = s - s/p + x`` seeded with the plain sum of bars 1..p; +DI, -DI and DX
  from bar p; ADX seeded with the mean DX of bars p..2p-1 (first value at index 2p-1), then
  ``adx = (adx_prev*(p-1) + dx) / p``. This equals backtrader's built-in ADX. A window
  without any range gives DI = 0 and DX = 0 instead of a division by zero.
- Values not yet defined (warm-up) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time

import numpy as np

from core.calendar import SESSION_OPEN
from core.clock import IST, NS_PER_SECOND
from core.errors import MalformedDataError

NAN = math.nan
_NS_PER_MINUTE = 60 * NS_PER_SECOND
_MINUTES_PER_DAY = 1440
# India has had one fixed UTC offset (+05:30) since 1945, so IST minutes are plain arithmetic.
_IST_OFFSET_NS = int(
    (datetime(2000, 1, 1, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=IST)).total_seconds()
) * NS_PER_SECOND


@dataclass(frozen=True)
class SupertrendResult:
    line: np.ndarray  # float64, NaN during warm-up
    direction: np.ndarray  # float64: +1.0 up, -1.0 down, NaN during warm-up


@dataclass(frozen=True)
class AdxResult:
    adx: np.ndarray
    plus_di: np.ndarray
    minus_di: np.ndarray


def _bars(high: np.ndarray, low: np.ndarray, close: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in (high, low, close))
    if not (arrays[0].ndim == 1 and arrays[0].shape == arrays[1].shape == arrays[2].shape):
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise MalformedDataError(f"high/low/close must be 1-d arrays of one length, got {shapes}")
    for name, values in zip(("high", "low", "close"), arrays, strict=True):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MalformedDataError(f"{name}[{bad[0]}] = {values[bad[0]]} is not a finite price")
    return arrays[0], arrays[1], arrays[2]


def _check_period(period: int, multiplier: float = 1.0) -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"indicator period must be a positive integer, got {period!r}")
    if not multiplier > 0:
        raise ValueError(f"supertrend multiplier must be > 0, got {multiplier!r}")


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range per bar; bar 0 (no previous close) gets high - low."""
    tr = high - low
    prev_close = close[:-1]
    tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(high[1:] - prev_close),
                                           np.abs(low[1:] - prev_close)))
    return tr


def supertrend(high: np.ndarray, low: np.ndarray, close: np.ndarray,
               period: int = 10, multiplier: float = 3.0) -> SupertrendResult:
    """Classic Supertrend of a bar series (conventions in the module docstring)."""
    h, lo, c = _bars(high, low, close)
    _check_period(period, multiplier)
    n = c.size
    line = np.full(n, NAN)
    direction = np.full(n, NAN)
    if n < period:
        return SupertrendResult(line, direction)
    tr = _true_range(h, lo, c).tolist()
    hl2 = ((h + lo) / 2.0).tolist()
    closes = c.tolist()
    first = period - 1
    acc = 0.0
    for value in tr[:period]:
        acc += value
    atr = acc / period
    upper = hl2[first] + multiplier * atr
    lower = hl2[first] - multiplier * atr
    up = False
    line[first], direction[first] = upper, -1.0
    for i in range(period, n):
        atr = (atr * (period - 1) + tr[i]) / period
        upper, lower = _final_bands(hl2[i], multiplier * atr, upper, lower, closes[i - 1])
        up = closes[i] >= lower if up else closes[i] > upper
        line[i], direction[i] = (lower, 1.0) if up else (upper, -1.0)
    return SupertrendResult(line, direction)


def _final_bands(hl2: float, width: float, prev_upper: float, prev_lower: float,
                 prev_close: float) -> tuple[float, float]:
    basic_upper = hl2 + width
    basic_lower = hl2 - width
    upper = basic_upper if basic_upper < prev_upper or prev_close > prev_upper else prev_upper
    lower = basic_lower if basic_lower > prev_lower or prev_close < prev_lower else prev_lower
    return upper, lower


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> AdxResult:
    """Wilder's ADX, +DI and -DI of a bar series (conventions in the module docstring)."""
    h, lo, c = _bars(high, low, close)
    _check_period(period)
    n = c.size
    out = AdxResult(np.full(n, NAN), np.full(n, NAN), np.full(n, NAN))
    if n <= period:
        return out
    tr = _true_range(h, lo, c).tolist()
    up_move = np.diff(h)
    down_move = -np.diff(lo)
    plus_dm = np.where((up_move > down_move) & (up_move > 0), up_move, 0.0).tolist()
    minus_dm = np.where((down_move > up_move) & (down_move > 0), down_move, 0.0).tolist()
    s_tr = s_plus = s_minus = 0.0
    for i in range(1, period + 1):
        s_tr += tr[i]
        s_plus += plus_dm[i - 1]
        s_minus += minus_dm[i - 1]
    dx_sum = 0.0
    adx_value = NAN
    for i in range(period, n):
        if i > period:
            s_tr = s_tr - s_tr / period + tr[i]
            s_plus = s_plus - s_plus / period + plus_dm[i - 1]
            s_minus = s_minus - s_minus / period + minus_dm[i - 1]
        plus_di, minus_di, dx = _directional(s_tr, s_plus, s_minus)
        out.plus_di[i], out.minus_di[i] = plus_di, minus_di
        if i < 2 * period - 1:
            dx_sum += dx
            continue
        if i == 2 * period - 1:
            adx_value = (dx_sum + dx) / period
        else:
            adx_value = (adx_value * (period - 1) + dx) / period
        out.adx[i] = adx_value
    return out


def _directional(s_tr: float, s_plus: float, s_minus: float) -> tuple[float, float, float]:
    """+DI, -DI and DX from Wilder sums; no range or no movement reads as 0, not 0/0."""
    plus_di = 100.0 * s_plus / s_tr if s_tr > 0 else 0.0
    minus_di = 100.0 * s_minus / s_tr if s_tr > 0 else 0.0
    total = s_plus + s_minus
    dx = 100.0 * abs(s_plus - s_minus) / total if total > 0 else 0.0
    return plus_di, minus_di, dx


_finite = math.isfinite


def _checked_bar(high: float, low: float, close: float) -> None:
    if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
        raise MalformedDataError(f"bar high={high} low={low} close={close} is not finite")


class SupertrendState:
    """Supertrend updated one closed bar at a time; same values as :func:`supertrend`."""

    __slots__ = ("period", "multiplier", "bars", "line", "direction",
                 "_acc", "_atr", "_upper", "_lower", "_up", "_prev_close")

    def __init__(self, period: int = 10, multiplier: float = 3.0) -> None:
        _check_period(period, multiplier)
        self.period = period
        self.multiplier = multiplier
        self.bars = 0
        self.line = NAN
        self.direction = NAN
        self._acc = 0.0
        self._atr = NAN
        self._upper = NAN
        self._lower = NAN
        self._up = False
        self._prev_close = NAN

    @property
    def ready(self) -> bool:
        return self.bars >= self.period

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        """Feed one closed bar; return ``(line, direction)`` (NaN during warm-up)."""
        if not (_finite(high) and _finite(low) and _finite(close)):
            _checked_bar(high, low, close)
        prev_close = self._prev_close
        tr = high - low
        bars = self.bars
        if bars:
            tr = max(tr, abs(high - prev_close), abs(low - prev_close))
        bars += 1
        self.bars = bars
        self._prev_close = close
        period = self.period
        hl2 = (high + low) / 2.0
        if bars < period:
            self._acc += tr
        elif bars == period:
            self._acc += tr
            self._atr = self._acc / period
            width = self.multiplier * self._atr
            self._upper, self._lower = hl2 + width, hl2 - width
            self.line, self.direction = self._upper, -1.0
        else:
            atr = (self._atr * (period - 1) + tr) / period
            self._atr = atr
            upper, lower = _final_bands(hl2, self.multiplier * atr, self._upper, self._lower,
                                        prev_close)
            self._upper, self._lower = upper, lower
            up = close >= lower if self._up else close > upper
            self._up = up
            self.line, self.direction = (lower, 1.0) if up else (upper, -1.0)
        return self.line, self.direction


class AdxState:
    """Wilder's ADX updated one closed bar at a time; same values as :func:`adx`."""

    __slots__ = ("period", "bars", "adx", "plus_di", "minus_di",
                 "_s_tr", "_s_plus", "_s_minus", "_dx_sum", "_prev_high", "_prev_low",
                 "_prev_close")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self.bars = 0
        self.adx = NAN
        self.plus_di = NAN
        self.minus_di = NAN
        self._s_tr = self._s_plus = self._s_minus = self._dx_sum = 0.0
        self._prev_high = self._prev_low = self._prev_close = NAN

    @property
    def ready(self) -> bool:
        return self.bars >= 2 * self.period

    def update(self, high: float, low: float, close: float) -> tuple[float, float, float]:
        """Feed one closed bar; return ``(adx, plus_di, minus_di)`` (NaN during warm-up)."""
        if not (_finite(high) and _finite(low) and _finite(close)):
            _checked_bar(high, low, close)
        prev_high, prev_low, prev_close = self._prev_high, self._prev_low, self._prev_close
        self._prev_high, self._prev_low, self._prev_close = high, low, close
        bars = self.bars + 1
        self.bars = bars
        if bars == 1:
            return self.adx, self.plus_di, self.minus_di
        tr = max(high - low, abs(high - prev_close), abs(low - prev_close))
        up_move, down_move = high - prev_high, prev_low - low
        plus_dm = up_move if up_move > down_move and up_move > 0 else 0.0
        minus_dm = down_move if down_move > up_move and down_move > 0 else 0.0
        period, index = self.period, bars - 1
        if index <= period:
            self._s_tr += tr
            self._s_plus += plus_dm
            self._s_minus += minus_dm
            if index < period:
                return self.adx, self.plus_di, self.minus_di
        else:
            self._s_tr = self._s_tr - self._s_tr / period + tr
            self._s_plus = self._s_plus - self._s_plus / period + plus_dm
            self._s_minus = self._s_minus - self._s_minus / period + minus_dm
        self.plus_di, self.minus_di, dx = _directional(self._s_tr, self._s_plus, self._s_minus)
        if index < 2 * period - 1:
            self._dx_sum += dx
        elif index == 2 * period - 1:
            self.adx = (self._dx_sum + dx) / period
        else:
            self.adx = (self.adx * (period - 1) + dx) / period
        return self.adx, self.plus_di, self.minus_di


def ist_day_numbers(ts_ns: np.ndarray) -> np.ndarray:
    """IST calendar day of each UTC nanosecond timestamp, as days since 1970-01-01."""
    ist_minutes = (np.asarray(ts_ns, dtype=np.int64) + _IST_OFFSET_NS) // _NS_PER_MINUTE
    return ist_minutes // _MINUTES_PER_DAY


def resample_ohlc(ts_ns: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                  close: np.ndarray, minutes: int, session_open: time = SESSION_OPEN,
                  ) -> dict[str, np.ndarray]:
    """Bars of ``minutes`` aligned to the IST session open, from finer bars labelled by start.

    ``ts_ns`` are UTC nanoseconds, strictly increasing. A bucket starts at
    ``session_open + k*minutes`` IST (09:15, 09:20, ... for 5m) and never spans two IST days;
    a partial last bucket is kept. Returns ``ts`` (bucket start, UTC ns), ``open``, ``high``,
    ``low``, ``close`` and ``count`` (input bars in the bucket).
    """
    if int(minutes) != minutes or minutes < 1:
        raise ValueError(f"resample minutes must be a positive integer, got {minutes!r}")
    ts = np.asarray(ts_ns, dtype=np.int64)
    columns = [np.asarray(a, dtype=np.float64) for a in (open_, high, low, close)]
    if ts.ndim != 1 or any(col.shape != ts.shape for col in columns):
        raise MalformedDataError("resample_ohlc: ts/open/high/low/close differ in shape")
    if ts.size and np.any(np.diff(ts) <= 0):
        row = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise MalformedDataError(f"resample_ohlc: ts[{row}] is not after ts[{row - 1}]")
    if ts.size == 0:
        empty = {"ts": ts.copy(), "count": np.zeros(0, dtype=np.int64)}
        return empty | {k: np.zeros(0) for k in ("open", "high", "low", "close")}
    ist_minutes = (ts + _IST_OFFSET_NS) // _NS_PER_MINUTE
    day = ist_minutes // _MINUTES_PER_DAY
    open_minute = session_open.hour * 60 + session_open.minute
    bucket = (ist_minutes - day * _MINUTES_PER_DAY - open_minute) // minutes
    key = day * _MINUTES_PER_DAY + bucket  # buckets per day < 1440: keys never collide
    starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
    ends = np.append(starts[1:], ts.size)
    start_minute = day[starts] * _MINUTES_PER_DAY + open_minute + bucket[starts] * minutes
    o, h, lo, c = columns
    return {
        "ts": start_minute * _NS_PER_MINUTE - _IST_OFFSET_NS,
        "open": o[starts],
        "high": np.maximum.reduceat(h, starts),
        "low": np.minimum.reduceat(lo, starts),
        "close": c[ends - 1],
        "count": ends - starts,
    }
