"""backtrader indicators over the pure math in :mod:`strategies.logic.indicators`.

``once`` (runonce mode) computes the whole series with the array functions; ``next`` (event
mode, live) feeds the O(1) incremental state one bar at a time. Both give the same values.

:class:`Adx` exists beside backtrader's built-in ``AverageDirectionalMovementIndex`` (whose
values it equals) because the built-in divides by zero when a feed stays flat for a whole
ADX period (a frozen feed, junk bars after the close); ours reads such a window as ADX 0.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt
import numpy as np

from strategies.logic.indicators import AdxState, SupertrendState, adx, supertrend


def _prices(indicator: bt.Indicator, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = indicator.data
    return tuple(  # type: ignore[return-value]
        np.frombuffer(line.array, dtype=np.float64, count=end)
        for line in (data.high, data.low, data.close))


def _write(dst: object, values: np.ndarray, end: int) -> None:
    # From bar 0, not ``start``: values such as +DI exist before the indicator's minperiod and
    # next mode fills them too.
    for i, value in enumerate(values[:end].tolist()):
        dst[i] = value  # type: ignore[index]


class Supertrend(bt.Indicator):
    """Classic Supertrend: ``line`` (the stop line) and ``direction`` (+1 up, -1 down)."""

    lines: Any = ("line", "direction")  # backtrader's metaclass turns the names into lines
    params = (("period", 10), ("multiplier", 3.0))
    plotinfo = {"subplot": False}
    plotlines = {"direction": {"_plotskip": True}}

    def __init__(self) -> None:
        self.addminperiod(self.p.period)
        self._state = SupertrendState(self.p.period, self.p.multiplier)

    def prenext(self) -> None:
        # The state must see every bar, including the warm-up ones.
        self.next()

    def next(self) -> None:
        data = self.data
        line, direction = self._state.update(data.high[0], data.low[0], data.close[0])
        self.lines.line[0] = line
        self.lines.direction[0] = direction

    def once(self, start: int, end: int) -> None:
        result = supertrend(*_prices(self, end), period=self.p.period,
                            multiplier=self.p.multiplier)
        _write(self.lines.line.array, result.line, end)
        _write(self.lines.direction.array, result.direction, end)


class Adx(bt.Indicator):
    """Wilder's ADX with ``plus_di`` and ``minus_di``."""

    lines: Any = ("adx", "plus_di", "minus_di")
    params = (("period", 14),)
    plotlines = {"plus_di": {"_name": "+DI"}, "minus_di": {"_name": "-DI"}}

    def __init__(self) -> None:
        self.addminperiod(2 * self.p.period)
        self._state = AdxState(self.p.period)

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        data = self.data
        value, plus_di, minus_di = self._state.update(data.high[0], data.low[0], data.close[0])
        self.lines.adx[0] = value
        self.lines.plus_di[0] = plus_di
        self.lines.minus_di[0] = minus_di

    def once(self, start: int, end: int) -> None:
        result = adx(*_prices(self, end), period=self.p.period)
        _write(self.lines.adx.array, result.adx, end)
        _write(self.lines.plus_di.array, result.plus_di, end)
        _write(self.lines.minus_di.array, result.minus_di, end)
