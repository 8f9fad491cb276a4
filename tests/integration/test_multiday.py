"""Days mapped over Dask workers give the run the in-process run gives, field for field.

Three simulated tick sessions (5 s ticks) with fixed daily capital, replayed by the replay job
once in-process (run.workers=1) and once over a 2-process LocalCluster (run.workers=2), each
into its own database so both runs get the same id and so the same correlation ids. Then the
days a run lacks: a session absent from the catalog, and a config that fails on the worker,
sent to an existing scheduler by address (run.cluster).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from distributed import LocalCluster

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from feeds.catalog import Catalog
from jobs.data_jobs import days_with_warmup, run_days
from jobs.multiday import run_journalled_days
from jobs.run_journal import open_run
from jobs.trading_jobs import replay
from reports.build import load_run
from reports.journal import Journal
from sim.market import write_days
from strategies.engine import run_days as engine_run_days
from strategies.records import MemoryJournal
from strategies.setup import build_setup

DAYS = "2024-10-07:2024-10-09"


def overrides(root: Path, db: str, *extra: str) -> list[str]:
    return ["mode=replay", f"data.root={root}", f"data.days={DAYS}", "sim.tick_seconds=5",
            "risk.capital_mode=fixed", "report.enabled=false", f"db.url=sqlite:///{root}/{db}",
            *extra]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("multiday")
    app = compose_config(overrides(root, "unused.db"))
    calendar = TradingCalendar(app.data.extra_sessions)
    write_days(Catalog(root), app.index, app.sim, calendar, days_with_warmup(app, calendar))
    return root


def journal_of(app: AppConfig) -> Journal:
    return Journal(session_factory(make_engine(app.db.url)))


def replayed(root: Path, db: str, capsys: pytest.CaptureFixture[str], *extra: str
             ) -> tuple[Journal, str, str]:
    """Run the replay job; (journal, run id, printed summary)."""
    app = compose_config(overrides(root, db, *extra))
    assert replay(app) == 0
    journal = journal_of(app)
    [run] = journal.runs()
    return journal, run.id, capsys.readouterr().out


@pytest.mark.slow  # three replays of three sessions and a cluster start: ~10 s
def test_two_workers_give_the_sequential_run(market: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    seq, seq_id, seq_out = replayed(market, "sequential.db", capsys)
    par, par_id, par_out = replayed(market, "parallel.db", capsys, "run.workers=2")
    assert "days ran on 2 Dask worker(s)" in par_out
    assert "INCOMPLETE" not in par_out + seq_out
    assert par_id == seq_id  # separate databases: same id, same correlation ids
    trades = seq.trades(seq_id)
    assert len(trades) >= 10
    assert len({t.day for t in trades}) >= 3
    assert par.trades(par_id) == trades
    assert par.orders(par_id) == seq.orders(seq_id)
    assert par.order_events(par_id) == seq.order_events(seq_id)
    assert par.fills(par_id) == seq.fills(seq_id)
    assert par.positions(par_id) == seq.positions(seq_id)
    assert par.decisions(par_id) == seq.decisions(seq_id)
    assert par.days(par_id) == seq.days(seq_id)
    assert load_run(par, par_id).metrics == load_run(seq, seq_id).metrics  # report numbers
    assert len({t.entry_correlation_id for t in trades}) == len(trades)

    # the engine's own day loop (numbering orders on from day to day) trades the same
    app = compose_config(overrides(market, "unused.db"))
    calendar = TradingCalendar(app.data.extra_sessions)
    memory = MemoryJournal()
    engine_run_days(app, build_setup(app, "x"), Catalog(market), calendar,
                    run_days(app, calendar), memory)

    def without_ids(records: list) -> list:
        return sorted((replace(t, entry_correlation_id="", exit_correlation_id="")
                       for t in records), key=lambda t: (t.entry_at, t.exit_at))

    assert without_ids(memory.trades) == without_ids(trades)


@pytest.fixture(scope="module")
def scheduler() -> str:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def run_on_cluster(app: AppConfig, days: list[date]):  # noqa: ANN201 - (MultiDayRun, journal)
    with open_run(app, days) as run:
        outcome = run_journalled_days(app, days, run.journal, run.run_id, "c1")
    return outcome, run.journal, run.run_id


def test_a_day_without_data_is_reported_missing(market: Path, scheduler: str) -> None:
    app = compose_config(overrides(market, "missing.db", f"run.cluster={scheduler}"))
    absent = date(2024, 10, 14)  # a session never simulated into this catalog
    outcome, journal, run_id = run_on_cluster(app, [date(2024, 10, 7), absent])
    assert [r.day for r in outcome.results] == [date(2024, 10, 7)]
    [missing] = outcome.missing
    assert missing.day == absent
    assert missing.skipped
    assert missing.reason.startswith("skipped: ")
    assert "2024-10-14" in missing.reason
    assert not outcome.failed
    assert [d.day for d in journal.days(run_id)] == [date(2024, 10, 7)]
    [skip] = [d for d in journal.decisions(run_id) if d.kind == "skip"]
    assert skip.reason == f"day {missing.reason}"


def test_a_day_failing_on_a_worker_is_reported_with_its_error(market: Path,
                                                             scheduler: str) -> None:
    app = compose_config(overrides(market, "failing.db", f"run.cluster={scheduler}"))
    broken = replace(app, strategy=replace(app.strategy, validation="no_such_preset"))
    days = [date(2024, 10, 7), date(2024, 10, 8)]
    outcome, journal, run_id = run_on_cluster(broken, days)
    assert outcome.results == []
    assert [m.day for m in outcome.failed] == days
    for missing in outcome.failed:
        assert missing.reason.startswith("failed: KeyError: 'no_such_preset' (at setup.py:")
    assert journal.trades(run_id) == []
    assert len([d for d in journal.decisions(run_id) if d.kind == "skip"]) == 2
