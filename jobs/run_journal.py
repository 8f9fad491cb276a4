"""Open the database journal for a run: migrate, allocate a run id, record the config."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from omegaconf import OmegaConf

from core.config import AppConfig
from core.db.engine import make_engine, session_factory
from core.db.migrate import upgrade
from reports.journal import DbJournalSink, Journal, describe_code_version

ROOT = Path(__file__).resolve().parent.parent
RUN_ID_ATTEMPTS = 20


@dataclass
class OpenRun:
    journal: Journal
    run_id: str
    sink: DbJournalSink


def config_yaml(app: AppConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(app))


def command_line_overrides() -> str:
    """The Hydra overrides this process was started with (sweep jobs: their own)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return " ".join(HydraConfig.get().overrides.task)
    return " ".join(arg for arg in sys.argv[1:] if not arg.startswith("-"))


@contextmanager
def open_run(app: AppConfig, days: list[date]) -> Iterator[OpenRun]:
    """A started run whose status is set to finished or failed on the way out."""
    upgrade(app.db.url, busy_timeout_ms=app.db.busy_timeout_ms)
    engine = make_engine(app.db.url, app.db.busy_timeout_ms, app.db.echo)
    journal = Journal(session_factory(engine))
    started = datetime.now(UTC)
    run_id = _start_run(journal, app, days, started)
    sink = journal.sink(run_id)
    status = "failed"
    try:
        yield OpenRun(journal, run_id, sink)
        status = "finished"
    finally:
        sink.close()
        journal.finish_run(run_id, datetime.now(UTC), status)
        engine.dispose()


def _start_run(journal: Journal, app: AppConfig, days: list[date], started: datetime) -> str:
    """Journal a new run under the next free id; jobs of a parallel sweep may race for an
    id, and the loser simply takes the next one."""
    overrides, version = command_line_overrides(), describe_code_version(ROOT)
    for _ in range(RUN_ID_ATTEMPTS - 1):
        run_id = journal.next_run_id(started.date())
        try:
            journal.start_run(run_id, app.mode.name, app.index.name, config_yaml(app),
                              overrides, version, days, started)
            return run_id
        except ValueError:  # taken since next_run_id looked
            continue
    run_id = journal.next_run_id(started.date())
    journal.start_run(run_id, app.mode.name, app.index.name, config_yaml(app), overrides,
                      version, days, started)
    return run_id
