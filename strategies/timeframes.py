"""The scalper's two signal timeframes as incremental indicator state, and their warm-up."""

from __future__ import annotations

import math

import numpy as np

from strategies.logic.indicators import AdxState, SupertrendState, resample_ohlc
from strategies.logic.signal import TimeframeReading
from strategies.setup import StrategySetup

NS_PER_DAY = 86_400_000_000_000
IST_OFFSET_NS = 19_800_000_000_000


class Timeframe:
    """Incremental Supertrend + ADX of one timeframe and its last reading."""

    def __init__(self, setup: StrategySetup) -> None:
        self.supertrend = SupertrendState(setup.supertrend_period, setup.supertrend_multiplier)
        self.adx = AdxState(setup.adx_period)
        self.reading = TimeframeReading(math.nan, math.nan, math.nan, math.nan)
        self.seen = 0

    def update(self, high: float, low: float, close: float) -> None:
        line, direction = self.supertrend.update(high, low, close)
        adx, _, _ = self.adx.update(high, low, close)
        self.reading = TimeframeReading(close, line, direction, adx)


def warm_up(primary: Timeframe, confirm: Timeframe, closes: list[float], days: list[int],
            bars: dict[str, np.ndarray], confirm_minutes: int) -> None:
    """Prime both timeframes with earlier 1m bars (``ts`` = bar start), as if replayed.

    ``closes`` and ``days`` (IST day numbers) grow by one entry per bar, as live bars do.
    """
    if not len(bars["ts"]):
        return
    for high, low, close in zip(bars["high"], bars["low"], bars["close"], strict=True):
        primary.update(float(high), float(low), float(close))
    closes.extend(float(c) for c in bars["close"])
    days.extend(((np.asarray(bars["ts"]) + IST_OFFSET_NS) // NS_PER_DAY).tolist())
    resampled = resample_ohlc(np.asarray(bars["ts"]), bars["open"], bars["high"], bars["low"],
                              bars["close"], confirm_minutes)
    for high, low, close in zip(resampled["high"], resampled["low"], resampled["close"],
                                strict=True):
        confirm.update(float(high), float(low), float(close))


class GrowingArray:
    """An append-only numpy array (amortised doubling) whose filled part is a cheap view."""

    def __init__(self, values: list, dtype: type) -> None:
        self._n = len(values)
        self._data = np.empty(max(2 * self._n, 1024), dtype=dtype)
        self._data[:self._n] = values

    def append(self, value: float) -> None:
        if self._n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = value
        self._n += 1

    def view(self) -> np.ndarray:
        return self._data[:self._n]
