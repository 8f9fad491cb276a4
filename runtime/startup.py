"""Startup of a paper session: checks with one-line errors, then the run to (re)open.

Checks, in dependency order: the config is valid (already, or Hydra would have stopped), the
day is a session, the database is reachable and at the latest migration, the catalog holds
the day (and, as a warning, its warm-up sessions). Credentials belong to live mode.

A run is resumed rather than started when ``run.id`` names one, or (``paper.resume``) when
the latest paper run of the same index and day never reached the end of its session; a run
that did reach it is complete and a new run replays the day afresh.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import SQLAlchemyError

from core.calendar import TradingCalendar, parse_days
from core.config import AppConfig
from core.db.migrate import is_up_to_date, upgrade
from core.errors import ConfigError, MissingDataError
from feeds.catalog import Catalog
from jobs.run_journal import command_line_overrides, config_yaml
from reports.journal import Journal, describe_code_version

log = logging.getLogger(__name__)

SESSION_END = "session_end"


@dataclass(frozen=True)
class PaperRun:
    run_id: str
    resumed: bool


def paper_day(app: AppConfig, calendar: TradingCalendar) -> date:
    """``paper.day``, else the last session of ``data.days``; must be a session."""
    if app.paper.day:
        day = date.fromisoformat(app.paper.day)
        if not calendar.is_session(day):
            raise ConfigError(f"paper.day={day} is not a trading session")
        return day
    return parse_days(app.data.days, calendar)[-1]


def check_database(app: AppConfig) -> None:
    """Reachable and migrated (migrating it if needed), or a one-line ConfigError."""
    url = app.db.url
    try:
        upgrade(url, busy_timeout_ms=app.db.busy_timeout_ms)
        current = is_up_to_date(url)
    except (SQLAlchemyError, OSError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"db.url={url}: database unreachable: {detail}") from e
    if not current:
        raise ConfigError(f"db.url={url}: schema is not at the latest migration "
                          "(python main.py mode=db)")


def check_session_data(app: AppConfig, catalog: Catalog, calendar: TradingCalendar,
                       day: date) -> None:
    """The day's ticks and contracts are in the catalog; missing warm-up is only a warning."""
    name = app.index.name
    if not catalog.has_ticks(name, day):
        raise MissingDataError(f"no ticks for {name} on {day} under {catalog.root}/ticks: "
                               "mode=paper replays a catalog day (simulate or record it)")
    for before in calendar.sessions_before(day, app.strategy.warmup_sessions):
        if not (catalog.has_bars(name, before) or catalog.has_ticks(name, before)):
            log.warning("%s %s: no warm-up data for %s; indicators start colder", name, day,
                        before)


def open_paper_run(app: AppConfig, journal: Journal, day: date,
                   started: datetime, mode: str = "paper", notes: dict | None = None
                   ) -> PaperRun:
    """Resume the ``mode`` run to continue (see the module docstring) or start a new one."""
    name = app.index.name
    if app.run.id:
        row = journal.run(app.run.id)
        if row.mode != mode or row.underlying != name or day not in row.days:
            raise ConfigError(f"run.id={row.id} is a {row.mode} run of {row.underlying} on "
                              f"{', '.join(map(str, row.days))}, not {mode} {name} {day}")
        if _completed(journal, row.id):
            raise ConfigError(f"run.id={row.id} already completed its session {day}")
        journal.reopen_run(row.id)
        return PaperRun(row.id, True)
    if app.paper.resume:
        runs = [r for r in journal.runs()
                if r.mode == mode and r.underlying == name and day in r.days]
        if runs and not _completed(journal, runs[-1].id):
            journal.reopen_run(runs[-1].id)
            log.info("resuming %s run %s of %s", mode, runs[-1].id, day)
            return PaperRun(runs[-1].id, True)
    run_id = journal.next_run_id(started.date())
    journal.start_run(run_id, mode, name, config_yaml(app), command_line_overrides(),
                      describe_code_version(), [day], started,
                      notes=json.dumps(notes if notes is not None else {"speed": app.data.speed}))
    return PaperRun(run_id, False)


def _completed(journal: Journal, run_id: str) -> bool:
    return any(d.kind == SESSION_END for d in journal.decisions(run_id))
