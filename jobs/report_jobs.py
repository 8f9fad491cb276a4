"""``mode=report``: rebuild a past run's report folder, or compare runs side by side.

The run ids come from ``run.id`` (``run`` is a config group, so the key is ``run.id``)::

    python main.py mode=report run.id=r20241009-001
    python main.py mode=report "run.id='r20241009-001,r20241009-002'"   # comparison
    python main.py mode=report 'run.id="r20241009-001,r20241009-002"'   # the same

Hydra refuses a bare ``run.id=a,b`` ("Ambiguous value": it reads a comma list as a sweep):
the quotes inside the shell quotes make it one string. Add ``data.root=`` (or ``db.url=``)
when the run was journalled elsewhere than the default. The report lands in
``<report.out_dir>/<run id>/`` or ``<report.out_dir>/compare-<id1>-<id2>/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.config import AppConfig
from core.db.engine import make_engine, session_factory, sqlite_file_path
from core.db.migrate import upgrade
from core.errors import ConfigError, MissingDataError, TradingError
from feeds.catalog import Catalog
from reports.build import REPORT_FILE, build_comparison, build_report
from reports.journal import Journal

log = logging.getLogger(__name__)
RECENT_RUNS_SHOWN = 5


def parse_run_ids(text: str) -> list[str]:
    """``"a, b c"`` -> ``["a", "b", "c"]`` (order kept, repeats dropped)."""
    ids = [part for part in text.replace(",", " ").split() if part]
    return list(dict.fromkeys(ids))


@contextmanager
def open_journal(app: AppConfig) -> Iterator[Journal]:
    """The journal of ``db.url``; a SQLite file that does not exist is a MissingDataError."""
    database = sqlite_file_path(app.db.url)
    if database is not None and not database.is_file():
        raise MissingDataError(f"no database at {database} (db.url={app.db.url}): "
                               "run a backtest or replay first, or point db.url/data.root at it")
    upgrade(app.db.url, busy_timeout_ms=app.db.busy_timeout_ms)
    engine = make_engine(app.db.url, app.db.busy_timeout_ms, app.db.echo)
    try:
        yield Journal(session_factory(engine))
    finally:
        engine.dispose()


def build_for(app: AppConfig, journal: Journal, run_ids: list[str]) -> Path:
    """One id: that run's report folder; several: their comparison folder."""
    out_dir = Path(app.report.out_dir)
    if len(run_ids) == 1:
        return build_report(journal, run_ids[0], out_dir, Catalog(app.data.root),
                            max_day_charts=app.report.max_day_charts,
                            max_trade_charts=app.report.max_trade_charts)
    return build_comparison(journal, run_ids, out_dir)


def report(app: AppConfig) -> int:
    """``mode=report``: build the report(s) of ``run.id`` and print the folder."""
    run_ids = parse_run_ids(app.run.id)
    with open_journal(app) as journal:
        if not run_ids:
            recent = [run.id for run in journal.runs()[-RECENT_RUNS_SHOWN:]]
            raise ConfigError("mode=report needs run.id=<id> (or a quoted comma list to "
                              f"compare); latest runs: {', '.join(recent) or 'none'}")
        folder = build_for(app, journal, run_ids)
    print(f"report folder: {folder}")
    print(f"open {folder / REPORT_FILE}")
    return 0


def report_after_run(app: AppConfig, run_id: str) -> Path | None:
    """Build a finished run's report when ``report.enabled``; a failure is logged, not
    raised: the run itself is journalled and its report can be rebuilt."""
    if not app.report.enabled:
        return None
    try:
        with open_journal(app) as journal:
            folder = build_for(app, journal, [run_id])
    except (TradingError, OSError) as error:
        log.error("report of run %s not built: %s; rebuild with: python main.py mode=report "
                  "run.id=%s", run_id, error, run_id)
        return None
    print(f"report folder: {folder}")
    return folder
