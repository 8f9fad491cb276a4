"""Rolling realised volatility of 1m log returns, extended bar by bar.

The strategy ranks the latest realised-vol sample among all samples of its close history on
every signal bar, and that history only grows by appending. :class:`RealisedVolSeries` keeps
the running sums so appending a bar costs O(1), with values bit for bit those of the
from-scratch computation in :func:`strategies.logic.signal.realised_vol_series`: numpy's
``cumsum`` adds sequentially, so continuing it from the last partial sum repeats exactly the
same additions, and every other step is one IEEE operation per element, which Python floats
round exactly as numpy does (only the logarithm stays numpy's).
"""

from __future__ import annotations

import math

import numpy as np

from core.errors import MalformedDataError


class RealisedVolSeries:
    """Samples ``std(returns[i:i+window], ddof=1)`` of the closes fed so far, oldest first.

    Returns across two days (``days`` differ) are dropped, as in ``realised_vol_series``.
    The strategy owns one and extends it with the bars it has seen since its last signal.
    """

    def __init__(self, window: int, with_days: bool) -> None:
        self.window = window
        self.with_days = with_days
        self._last_close = math.nan
        self._last_day: object = None
        self._sums: list[float] = [0.0]  # [0, r0, r0+r1, ...]
        self._squares: list[float] = [0.0]
        self._values = np.zeros(16)
        self._count = 0
        self.bars = 0

    @property
    def values(self) -> np.ndarray:
        """The samples so far (a view: copy before keeping it past the next extend)."""
        return self._values[: self._count]

    def extend(self, closes: np.ndarray, days: np.ndarray | None) -> None:
        """Append float64 bars (``days`` given exactly when the series is ``with_days``).

        Raises MalformedDataError naming the first close that is not a price (its row in
        everything fed so far); nothing is appended then.
        """
        if (days is None) is self.with_days or (days is not None and days.shape != closes.shape):
            raise MalformedDataError(f"realised vol: {0 if days is None else days.size} day "
                                     f"numbers for {closes.size} closes")
        check_prices(closes, self.bars)
        if not closes.size:
            return
        if self.bars:
            self._continue(closes, days)
        else:
            self._start(closes, days)
        self._last_close = closes[-1]
        if days is not None:
            self._last_day = days[-1]
        self.bars += int(closes.size)

    def _start(self, closes: np.ndarray, days: np.ndarray | None) -> None:
        """The first bars: the from-scratch formulas, vectorised."""
        returns = np.diff(np.log(closes))
        if days is not None:
            returns = returns[days[1:] == days[:-1]]
        self._sums = [0.0, *np.cumsum(returns).tolist()]
        self._squares = [0.0, *np.cumsum(returns * returns).tolist()]
        window, total = self.window, returns.size
        if total < window:
            return
        sums, squares = np.array(self._sums), np.array(self._squares)
        s1 = sums[window:] - sums[:-window]
        s2 = squares[window:] - squares[:-window]
        self._append_values(np.sqrt(np.maximum((s2 - s1 * s1 / window) / (window - 1), 0.0)))

    def _continue(self, closes: np.ndarray, days: np.ndarray | None) -> None:
        logs = np.log(np.concatenate(([self._last_close], closes))).tolist()
        day_list = None if days is None else [self._last_day, *days.tolist()]
        sums, squares, window = self._sums, self._squares, self.window
        fresh: list[float] = []
        for i in range(1, len(logs)):
            if day_list is not None and day_list[i] != day_list[i - 1]:
                continue
            value = logs[i] - logs[i - 1]
            # cumsum's first element is the value itself, not 0.0 + value.
            sums.append(sums[-1] + value if len(sums) > 1 else value)
            square = value * value
            squares.append(squares[-1] + square if len(squares) > 1 else square)
            end = len(sums) - 1
            if end >= window:
                s1 = sums[end] - sums[end - window]
                s2 = squares[end] - squares[end - window]
                fresh.append(_std((s2 - s1 * s1 / window) / (window - 1)))
        if fresh:
            self._append_values(np.array(fresh))

    def _append_values(self, new: np.ndarray) -> None:
        needed = self._count + new.size
        if needed > self._values.size:
            grown = np.zeros(max(needed, 2 * self._values.size))
            grown[: self._count] = self.values
            self._values = grown
        self._values[self._count: needed] = new
        self._count = needed


def _std(variance: float) -> float:
    """``np.sqrt(np.maximum(variance, 0.0))`` of one value (-0.0 and negatives give 0.0)."""
    return math.sqrt(variance) if variance > 0.0 or variance != variance else 0.0


def check_prices(prices: np.ndarray, offset: int = 0) -> None:
    """Every close finite and > 0, else the first bad row (``offset`` + index) named."""
    if prices.size <= 16:  # the usual one new bar: plain floats beat numpy's call overhead
        row = next((i for i, v in enumerate(prices.tolist()) if not 0 < v < math.inf), None)
    else:
        good = np.isfinite(prices) & (prices > 0)
        row = None if good.all() else int(np.flatnonzero(~good)[0])
    if row is not None:
        raise MalformedDataError(f"realised vol: closes[{row + offset}] = {prices[row]} "
                                 "is not a price")
