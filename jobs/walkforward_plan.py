"""Walk-forward plan: rolling windows, the parameter grid, and the choice of the best set.

Pure functions over dates and metrics, so the rules are tested directly:

- :func:`walkforward_windows`: window k optimises on ``train`` sessions and tests on the next
  ``test`` sessions; the next window starts ``test`` sessions later (rolling; ``anchored``
  keeps the first session and grows the optimisation window). Every test session comes after
  every session of its own optimisation window, test windows never overlap each other, and
  together they cover the run's sessions after the first optimisation window (the last test
  window may be shorter).
- :func:`expand_grid`: the cartesian product of ``{dotted.key: [values]}``, in grid order.
- :func:`choose_best`: the set with the highest objective on the optimisation window; a set
  whose objective is undefined there (e.g. profit factor without trades) ranks last, and
  ties go to the earlier set in grid order, so the choice is deterministic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from core.errors import ConfigError
from reports.metrics import RunMetrics

OBJECTIVES: dict[str, Callable[[RunMetrics], float | None]] = {
    "net_pnl": lambda m: m.net_pnl,  # net P&L after charges
    "profit_factor": lambda m: m.profit_factor,
    "sharpe": lambda m: m.sharpe,
    # net P&L per rupee of max drawdown; a window without drawdown divides by one rupee
    "net_over_drawdown": lambda m: m.net_pnl / max(m.drawdown.rupees, 1.0),
}


@dataclass(frozen=True)
class Window:
    """Walk-forward window ``number`` (1-based): optimise on ``train``, test on ``test``."""

    number: int
    train: tuple[date, ...]
    test: tuple[date, ...]


@dataclass(frozen=True)
class ParamSet:
    """One point of the grid: ``label`` (p01, p02, ...) and its ``key=value`` overrides."""

    label: str
    overrides: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.overrides)

    @property
    def dotlist(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.overrides]


def walkforward_windows(days: Sequence[date], train: int, test: int,
                        anchored: bool = False) -> list[Window]:
    """Rolling (or anchored) optimisation/test windows over ``days`` (sorted sessions)."""
    if train < 1 or test < 1:
        raise ConfigError(f"walkforward: train ({train}) and test ({test}) sessions must be >= 1")
    if list(days) != sorted(set(days)):
        raise ConfigError("walkforward: the sessions must be distinct and in order")
    if len(days) <= train:
        raise ConfigError(f"walkforward: {len(days)} session(s) in data.days leave nothing to "
                          f"test after a {train}-session optimisation window")
    windows: list[Window] = []
    start = 0
    while start + train < len(days):
        first = 0 if anchored else start
        windows.append(Window(len(windows) + 1, tuple(days[first:start + train]),
                              tuple(days[start + train:start + train + test])))
        start += test
    return windows


def expand_grid(grid: Mapping[str, Sequence[object]]) -> list[ParamSet]:
    """Every combination of the grid's values, the first key varying slowest."""
    if not grid:
        raise ConfigError("walkforward.grid is empty: give at least one key and its values")
    empty = [key for key, values in grid.items() if not values]
    if empty:
        raise ConfigError(f"walkforward.grid.{empty[0]} has no values")
    keys = list(grid)
    combos = list(itertools.product(*(grid[key] for key in keys)))
    width = len(str(len(combos)))
    return [ParamSet(f"p{i:0{max(width, 2)}d}", tuple(zip(keys, map(str, combo), strict=True)))
            for i, combo in enumerate(combos, start=1)]


def objective_value(metrics: RunMetrics, objective: str) -> float:
    """The objective of ``metrics``; undefined (None/NaN) is -inf, so it ranks last."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"walkforward.objective={objective!r}: expected one of "
                          f"{', '.join(OBJECTIVES)}")
    value = OBJECTIVES[objective](metrics)
    return -math.inf if value is None or math.isnan(value) else float(value)


def choose_best(in_sample: Mapping[str, RunMetrics], order: Sequence[str],
                objective: str) -> str:
    """The label in ``order`` with the highest objective (the earliest one on a tie)."""
    if not order:
        raise ConfigError("walkforward: no parameter set to choose from")
    best = order[0]
    best_value = objective_value(in_sample[best], objective)
    for label in order[1:]:
        value = objective_value(in_sample[label], objective)
        if value > best_value:
            best, best_value = label, value
    return best
