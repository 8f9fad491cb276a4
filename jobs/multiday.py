"""Multi-day runs: days mapped over Dask workers (or run in order in-process), one journal.

Positions are flat by the close and warm-up bars are read per day, so with fixed daily capital
(``risk.capital_mode=fixed``) the days are independent: ``run.workers > 1`` starts a
LocalCluster of that many single-threaded worker processes, ``run.cluster=tcp://host:8786``
uses an existing scheduler instead (its workers must reach ``data.root`` and import optscalp).
Outcomes arrive in completion order (progress is logged as they do) and are merged into the
run's journal in day order, each day in one transaction, so the journal is the one the
in-process run writes, field for field.

Compounding capital makes each day start from the previous day's close: such a run is
sequential. It says so (log and summary line) and runs in-process rather than differ silently.
A day that fails is not merged; the run lists it with its error (:attr:`MultiDayRun.missing`)
and the journal holds a "skip" decision saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from core.config import AppConfig, RunConfig
from core.errors import ConfigError
from jobs.daytasks import (
    DayOutcome,
    DayTask,
    calendar_of,
    describe_error,
    failed_outcome,
    order_numbers_per_day,
    run_day_task,
    with_absolute_root,
)
from strategies.engine import DayResult

if TYPE_CHECKING:
    from distributed import Client

    from reports.journal import Journal

log = logging.getLogger(__name__)

CLUSTER_CONNECT_TIMEOUT = "20s"
SEQUENTIAL_NOTE = ("compounding capital (risk.capital_mode=compounding): each day starts from "
                   "the previous close, so the days ran in order in-process and "
                   "run.workers/run.cluster were not used; risk.capital_mode=fixed spreads "
                   "days over workers")


@dataclass(frozen=True)
class MissingDay:
    day: date
    reason: str
    skipped: bool = False  # True: no usable data (a skip); False: the day failed with an error


@dataclass
class MultiDayRun:
    """What a multi-day run produced: results in day order, the days it lacks, and notes."""

    results: list[DayResult] = field(default_factory=list)
    missing: list[MissingDay] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workers: int = 1

    @property
    def failed(self) -> list[MissingDay]:
        """Missing days that failed with an error (not merely lacking data)."""
        return [m for m in self.missing if not m.skipped]


def wants_workers(run: RunConfig) -> bool:
    return run.workers > 1 or bool(run.cluster)


@contextmanager
def dask_client(run: RunConfig) -> Iterator[Client]:
    """A client of ``run.cluster``, else of a LocalCluster of ``run.workers`` processes."""
    from distributed import Client, LocalCluster

    with _quiet_dask():
        if run.cluster:
            try:
                client = Client(run.cluster, timeout=CLUSTER_CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as error:
                raise ConfigError(f"run.cluster={run.cluster}: no Dask scheduler answered "
                                  f"({describe_error(error)})") from error
            with client:
                yield client
            return
        with LocalCluster(n_workers=run.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's INFO lines (workers starting and stopping) would drown the run's progress."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def maybe_client(run: RunConfig) -> Iterator[Client | None]:
    """:func:`dask_client` when ``run`` asks for workers, else None (run in-process)."""
    if not wants_workers(run):
        yield None
        return
    with dask_client(run) as client:
        yield client


def run_tasks(tasks: Sequence[DayTask], client: Client | None,
              on_outcome: Callable[[DayOutcome], None]) -> None:
    """``tasks`` on the cluster (completion order), or in order in this process."""
    if client is not None:
        map_days(client, tasks, on_outcome)
        return
    for task in tasks:
        on_outcome(run_day_task(task))


def map_days(client: Client, tasks: Sequence[DayTask],
             on_outcome: Callable[[DayOutcome], None]) -> None:
    """Run ``tasks`` on the cluster; ``on_outcome`` gets each outcome as it completes.

    A task whose worker died (or that could not be run at all) becomes a failed outcome.
    """
    from distributed import as_completed

    if not tasks:
        return
    keys = [f"optscalp-{task.label or 'day'}-{task.day_index}-{task.day}" for task in tasks]
    by_key = dict(zip(keys, tasks, strict=True))
    futures = client.map(run_day_task, list(tasks), key=keys, pure=False)
    for future in as_completed(futures):
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - a lost worker or task is one missing day
            task = by_key[future.key]
            log.error("day %s lost on the cluster: %s", task.day, describe_error(error))
            outcome = failed_outcome(task, f"failed on the cluster: {describe_error(error)}",
                                     calendar_of(task.app))
        future.release()  # the worker may drop the day's records now
        on_outcome(outcome)


class DayOrderMerger:
    """Merges outcomes into a run's journal in day order, whatever order they arrive in."""

    def __init__(self, journal: Journal, run_id: str, total: int) -> None:
        self._journal, self._run_id, self._total = journal, run_id, total
        self._waiting: dict[int, DayOutcome] = {}
        self._next = 0
        self._done = self._trades = self._missing = 0
        self._net = 0.0
        self.run = MultiDayRun()

    def add(self, outcome: DayOutcome) -> None:
        """Log progress, then merge every outcome that is next in day order."""
        self._done += 1
        if outcome.result is None:
            self._missing += 1
        else:
            self._trades += len(outcome.journal.trades)
            self._net += outcome.net_pnl
        log.info("day %d/%d %s %s: trades so far %d, net P&L so far %.2f, missing %d",
                 self._done, self._total, outcome.day, outcome.error or "done", self._trades,
                 self._net, self._missing)
        self._waiting[outcome.day_index] = outcome
        while self._next in self._waiting:
            self._merge(self._waiting.pop(self._next))
            self._next += 1

    def _merge(self, outcome: DayOutcome) -> None:
        self._journal.merge(self._run_id, outcome.journal)
        if outcome.result is None:
            self.run.missing.append(MissingDay(outcome.day, outcome.error, outcome.skipped))
        else:
            self.run.results.append(outcome.result)


def run_journalled_days(app: AppConfig, days: Sequence[date], journal: Journal, run_id: str,
                        run_tag: str) -> MultiDayRun:
    """The replay/backtest job's days: on workers when asked and the capital allows it."""
    per_day = order_numbers_per_day(len(days))
    merger = DayOrderMerger(journal, run_id, len(days))
    if wants_workers(app.run) and app.risk.capital_mode == "fixed":
        tasks = [DayTask(with_absolute_root(app), day, index, app.risk.capital, per_day, run_tag)
                 for index, day in enumerate(days)]
        with dask_client(app.run) as client:
            merger.run.workers = len(client.scheduler_info().get("workers", {}))
            where = f"{merger.run.workers} Dask worker(s) at {client.scheduler.address}"
            log.info("%d day(s) over %s", len(days), where)
            map_days(client, tasks, merger.add)
        merger.run.notes.append(f"days ran on {where}")
        return merger.run
    if wants_workers(app.run):
        log.warning(SEQUENTIAL_NOTE)
        merger.run.notes.append(SEQUENTIAL_NOTE)
    run_in_process(app, days, per_day, run_tag, merger.add)
    return merger.run


def run_in_process(app: AppConfig, days: Sequence[date], per_day: int, run_tag: str,
                   on_outcome: Callable[[DayOutcome], None]) -> None:
    """Days in order in this process, carrying the balance when capital compounds.

    Each outcome goes to ``on_outcome`` and is not kept here: a long run holds one day's
    journal at a time.
    """
    balance = app.risk.capital
    for index, day in enumerate(days):
        outcome = run_day_task(DayTask(app, day, index, balance, per_day, run_tag))
        if outcome.result is not None and app.risk.capital_mode == "compounding":
            balance = outcome.result.end_balance
        on_outcome(outcome)


def missing_lines(missing: Iterable[MissingDay]) -> list[str]:
    """Summary lines naming the days a run lacks (empty when it is complete)."""
    missing = list(missing)
    if not missing:
        return []
    lines = [f"  INCOMPLETE: {len(missing)} day(s) missing from this run:"]
    return lines + [f"    {m.day}: {m.reason}" for m in missing]
