"""Walk-forward windows, grid and choice of the best set (jobs/walkforward_plan.py)."""

from __future__ import annotations

import math
from datetime import date, time, timedelta

import pytest

from core.clock import ist_to_utc
from core.errors import ConfigError
from jobs.walkforward_plan import (
    ParamSet,
    Window,
    choose_best,
    expand_grid,
    objective_value,
    walkforward_windows,
)
from reports.metrics import RunMetrics, compute_metrics
from strategies.records import TradeRecord

DAYS = [date(2024, 10, 1) + timedelta(days=i) for i in range(10)]  # stand-ins for sessions


def spans(windows: list[Window]) -> list[tuple[list[int], list[int]]]:
    """Windows as day indices into DAYS."""
    return [([DAYS.index(d) for d in w.train], [DAYS.index(d) for d in w.test])
            for w in windows]


@pytest.mark.parametrize(("n", "train", "test", "anchored", "expected"), [
    (6, 3, 1, False, [([0, 1, 2], [3]), ([1, 2, 3], [4]), ([2, 3, 4], [5])]),
    (7, 3, 2, False, [([0, 1, 2], [3, 4]), ([2, 3, 4], [5, 6])]),
    (8, 3, 2, False, [([0, 1, 2], [3, 4]), ([2, 3, 4], [5, 6]), ([4, 5, 6], [7])]),  # short tail
    (7, 3, 2, True, [([0, 1, 2], [3, 4]), ([0, 1, 2, 3, 4], [5, 6])]),
    (4, 3, 5, False, [([0, 1, 2], [3])]),
])
def test_windows_roll_by_the_test_length(n: int, train: int, test: int, anchored: bool,
                                         expected: list) -> None:
    windows = walkforward_windows(DAYS[:n], train, test, anchored)
    assert spans(windows) == expected
    assert [w.number for w in windows] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("train", "test"), [(1, 1), (2, 3), (3, 2), (5, 1), (4, 4), (9, 1)])
def test_out_of_sample_never_overlaps_its_optimisation_window(train: int, test: int,
                                                               anchored: bool) -> None:
    windows = walkforward_windows(DAYS, train, test, anchored)
    for k, w in enumerate(windows):
        assert not set(w.train) & set(w.test)
        assert max(w.train) < min(w.test)  # tested strictly after it was optimised
        assert len(w.train) == (train + k * test if anchored else train)
        assert w.train[-1] == DAYS[train + k * test - 1]  # optimised right up to its test
        assert 1 <= len(w.test) <= test
    tested = [d for w in windows for d in w.test]
    assert tested == DAYS[train:]  # test windows tile the rest, no day twice


@pytest.mark.parametrize(("days", "train", "test", "message"), [
    (DAYS[:3], 3, 1, "leave nothing to test"),
    (DAYS, 0, 1, "must be >= 1"),
    (DAYS, 2, 0, "must be >= 1"),
    ([DAYS[1], DAYS[0], DAYS[2]], 1, 1, "distinct and in order"),
])
def test_bad_windows_are_config_errors(days: list[date], train: int, test: int,
                                       message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        walkforward_windows(days, train, test)


def test_grid_expands_in_order_with_labels() -> None:
    sets = expand_grid({"risk.sl_pct": [0.2, 0.3], "risk.tp_pct": [0.5, 0.6, 0.7]})
    assert [s.label for s in sets] == ["p01", "p02", "p03", "p04", "p05", "p06"]
    assert sets[0] == ParamSet("p01", (("risk.sl_pct", "0.2"), ("risk.tp_pct", "0.5")))
    assert sets[5].text == "risk.sl_pct=0.3 risk.tp_pct=0.7"
    assert sets[1].dotlist == ["risk.sl_pct=0.2", "risk.tp_pct=0.6"]


@pytest.mark.parametrize(("grid", "message"), [
    ({}, "grid is empty"),
    ({"risk.sl_pct": []}, "risk.sl_pct has no values"),
])
def test_bad_grids_are_config_errors(grid: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        expand_grid(grid)


def metrics_with(*net: float) -> RunMetrics:
    """Metrics of one session whose trades closed with these net P&Ls (10 rupees charges)."""
    day = date(2024, 10, 7)
    trades = [TradeRecord(
        day=day, security_id=1, symbol="NIFTY 24500 CE", option_type="CE", strike=24500.0,
        expiry=date(2024, 10, 10), lots=1, quantity=25,
        entry_at=ist_to_utc(day, time(10, i)), entry_price=100.0,
        exit_at=ist_to_utc(day, time(11, i)), exit_price=100.0, exit_reason="stop_loss",
        exit_tag="sl", entry_tag="en", gross_pnl=value + 10.0, charges=10.0, net_pnl=value,
        hwm=100.0, breakeven_locked=False) for i, value in enumerate(net)]
    return compute_metrics(trades, [day], 100_000.0)


@pytest.mark.parametrize(("objective", "net", "expected"), [
    ("net_pnl", (500.0, -200.0), 300.0),
    ("profit_factor", (500.0, -250.0), 2.0),
    ("profit_factor", (), -math.inf),  # undefined without trades: ranks last
    ("sharpe", (100.0,), -math.inf),  # one session: undefined
    ("net_over_drawdown", (-100.0, 400.0), 3.0),
    ("net_over_drawdown", (300.0,), 300.0),  # no drawdown: per one rupee
])
def test_objective_values(objective: str, net: tuple[float, ...], expected: float) -> None:
    assert objective_value(metrics_with(*net), objective) == pytest.approx(expected)


def test_unknown_objective_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="walkforward.objective='calmar'"):
        objective_value(metrics_with(1.0), "calmar")


@pytest.mark.parametrize(("objective", "expected"), [
    ("net_pnl", "p02"),  # nets 300, 900, 900, 99: p02 and p03 tie, the earlier wins
    ("profit_factor", "p04"),  # profit factors 2.5, 10, 19, 100
])
def test_choose_best_takes_the_highest_and_the_earliest_on_a_tie(objective: str,
                                                                   expected: str) -> None:
    in_sample = {"p01": metrics_with(500.0, -200.0), "p02": metrics_with(1000.0, -100.0),
                 "p03": metrics_with(950.0, -50.0), "p04": metrics_with(100.0, -1.0)}
    assert choose_best(in_sample, ["p01", "p02", "p03", "p04"], objective) == expected


def test_choose_best_prefers_a_defined_objective() -> None:
    in_sample = {"p01": metrics_with(), "p02": metrics_with(-100.0, 50.0)}
    assert choose_best(in_sample, ["p01", "p02"], "profit_factor") == "p02"
    assert choose_best(in_sample, ["p01", "p02"], "net_pnl") == "p01"  # no trades: 0 > -50
