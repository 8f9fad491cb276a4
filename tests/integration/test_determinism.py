"""The same synthetic days replayed twice give the same trades, to the last field.

Two sessions (plus the warm-up session) of the seeded synthetic market at 2 s ticks, replayed
in-process twice with fresh journals, and once more through ``main.py mode=replay`` in a
fresh interpreter with a different hash seed, whose printed summary must match.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.config_check import compose_config
from feeds.catalog import Catalog
from jobs.data_jobs import days_with_warmup, run_days
from jobs.trading_jobs import summary_text
from sim.market import write_days
from strategies.engine import DayResult
from strategies.engine import run_days as run_strategy_days
from strategies.records import MemoryJournal
from strategies.setup import build_setup
from tests.integration.scenario import check_journal

REPO = Path(__file__).resolve().parents[2]
DAYS = "2024-10-08:2024-10-09"


def overrides(root: Path) -> list[str]:
    return ["mode=replay", f"data.root={root}", f"data.days={DAYS}", "sim.tick_seconds=2"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AppConfig]:
    root = tmp_path_factory.mktemp("determinism")
    app = compose_config(overrides(root))
    calendar = TradingCalendar(app.data.extra_sessions)
    written = write_days(Catalog(root), app.index, app.sim, calendar,
                         days_with_warmup(app, calendar))
    assert written == [date(2024, 10, 7), date(2024, 10, 8), date(2024, 10, 9)]
    return root, app


def replay_once(root: Path, app: AppConfig) -> tuple[list[DayResult], MemoryJournal]:
    calendar = TradingCalendar(app.data.extra_sessions)
    journal = MemoryJournal()
    results = run_strategy_days(app, build_setup(app, run_tag="d1"), Catalog(root), calendar,
                                run_days(app, calendar), journal)
    return results, journal


@pytest.fixture(scope="module")
def first_run(simulated: tuple[Path, AppConfig]) -> tuple[list[DayResult], MemoryJournal]:
    return replay_once(*simulated)


def test_two_replays_record_identical_runs(simulated: tuple, first_run: tuple) -> None:
    results, journal = first_run
    again, journal2 = replay_once(*simulated)
    assert [r.day for r in results] == [date(2024, 10, 8), date(2024, 10, 9)]
    assert len(journal.trades) >= 3  # a run that trades, so the comparison means something
    check_journal(journal)
    assert again == results
    assert journal2.trades == journal.trades
    assert journal2.orders == journal.orders
    assert journal2.fills == journal.fills
    assert journal2.positions == journal.positions
    assert journal2.decisions == journal.decisions
    assert journal2.days == journal.days


@pytest.mark.slow  # a fresh interpreter: ~5 s
def test_main_replay_in_a_fresh_process_prints_the_same_summary(simulated: tuple,
                                                                first_run: tuple) -> None:
    root, app = simulated
    results, journal = first_run
    expected = summary_text(app, results, journal.trades, 0.0).splitlines()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "main.py", *overrides(root)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = done.stdout.splitlines()
    start = next(i for i, line in enumerate(printed) if line.startswith("optscalp replay:"))
    # The first line ends with the wall time of the run; everything after it is numbers.
    assert printed[start].split(" in ")[0] == expected[0].split(" in ")[0]
    assert printed[start + 1: start + len(expected)] == expected[1:]


@pytest.mark.parametrize("mode", ["compounding", "fixed"])
def test_capital_mode_sets_each_days_starting_balance(
        simulated: tuple[Path, AppConfig], mode: str) -> None:
    root, _ = simulated
    app = compose_config([*overrides(root), f"risk.capital_mode={mode}"])
    results, _ = replay_once(root, app)
    assert len(results) == 2
    assert results[0].start_balance == app.risk.capital
    assert results[0].end_balance != app.risk.capital  # day 1 traded: the modes differ
    expected = results[0].end_balance if mode == "compounding" else app.risk.capital
    assert results[1].start_balance == expected
    for result in results:  # the breaker is a per-session latch and the day ends flat
        assert result.end_balance == pytest.approx(result.start_balance + result.realised_pnl)
