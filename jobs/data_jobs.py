"""Data jobs: simulate the sample market, import files, migrate the database."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from core.calendar import TradingCalendar, parse_days
from core.config import AppConfig
from core.errors import ConfigError, MissingDataError

log = logging.getLogger(__name__)

CONF_INDEX_DIR = Path(__file__).resolve().parent.parent / "conf" / "index"


def known_index_ids() -> dict[str, int]:
    """Index name -> IDX_I security id, from every ``conf/index/*.yaml``."""
    from omegaconf import OmegaConf

    ids = {}
    for path in sorted(CONF_INDEX_DIR.glob("*.yaml")):
        node = OmegaConf.load(path)
        ids[str(node.name)] = int(node.security_id)
    return ids


def calendar_for(app: AppConfig) -> TradingCalendar:
    return TradingCalendar(app.data.extra_sessions)


def run_days(app: AppConfig, calendar: TradingCalendar) -> list[date]:
    return parse_days(app.data.days, calendar)


def days_with_warmup(app: AppConfig, calendar: TradingCalendar) -> list[date]:
    """The run's days plus the prior sessions its indicators warm up on."""
    days = run_days(app, calendar)
    warmup = calendar.sessions_before(days[0], app.strategy.warmup_sessions)
    return sorted(set(warmup) | set(days))


def ensure_simulated(app: AppConfig, days: list[date]) -> list[date]:
    """Simulate into the catalog whichever of ``days`` it lacks (synthetic/model data)."""
    from feeds.catalog import Catalog
    from sim.market import write_days

    catalog = Catalog(app.data.root)
    if app.data.options == "recorded":
        missing = [d for d in days if not catalog.has_ticks(app.index.name, d)]
        if missing:
            raise MissingDataError(
                f"no recorded ticks for {app.index.name} on {', '.join(map(str, missing))} "
                f"under {app.data.root}/ticks")
        return []
    present = {d for _, d in catalog.bar_days(app.index.name)}
    written = write_days(catalog, app.index, app.sim, calendar_for(app), days,
                         options=app.data.options, overwrite=False)
    if app.data.options == "synthetic" and written and present:
        # Filling gaps next to existing days: if those are real bars, the synthetic days
        # (warm-up days included) would quietly mix into a real-data backtest.
        log.warning("%s: wrote %d synthetic day(s) (%s) into %s, which already held %d day(s) "
                    "of bars; if those are real, use data.options=model (real days only) or a "
                    "separate data.root", app.index.name, len(written),
                    ", ".join(map(str, written)), app.data.root, len(present))
    return written


def simulate(app: AppConfig) -> int:
    """``mode=simulate``: write synthetic (or modelled) tick days, then list the catalog."""
    from feeds.catalog import Catalog, format_summary

    calendar = calendar_for(app)
    days = days_with_warmup(app, calendar)
    written = ensure_simulated(app, days)
    log.info("simulated %d day(s) of %s into %s (%d already present)", len(written),
             app.index.name, app.data.root, len(days) - len(written))
    print(format_summary(Catalog(app.data.root).summary()))
    return 0


def migrate(app: AppConfig) -> int:
    """``mode=db``: create or upgrade the database schema to the latest migration."""
    from core.db.migrate import current_revision, upgrade

    upgrade(app.db.url)
    print(f"database {app.db.url} at revision {current_revision(app.db.url)}")
    return 0


def import_file(app: AppConfig) -> int:
    """``mode=import ingest.path=FILE``: a scrip master (to the DB) or 1m bars (to the catalog)."""
    from feeds.ingest import detect_csv_kind

    if not app.ingest.path:
        raise ConfigError("ingest.path is empty: mode=import ingest.path=FILE.csv")
    paths = _csv_files(Path(app.ingest.path))
    for path in paths:
        if detect_csv_kind(path) == "scrip_master":
            _import_scrip_master(app, path)
        else:
            _import_bars(app, path)
    return 0


def _csv_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise MissingDataError(f"no .csv files in {path}")
        return files
    if not path.is_file():
        raise MissingDataError(f"ingest.path {path} does not exist")
    return [path]


def _import_scrip_master(app: AppConfig, path: Path) -> None:
    from core.db.engine import make_engine, session_factory
    from core.db.migrate import upgrade
    from feeds.ingest import import_scrip_master

    upgrade(app.db.url)
    engine = make_engine(app.db.url, app.db.busy_timeout_ms)
    try:
        summary = import_scrip_master(session_factory(engine), path)
    finally:
        engine.dispose()
    print(f"{path.name}: {summary}")


def _import_bars(app: AppConfig, path: Path) -> None:
    from feeds.bars_csv import import_bars_csv
    from feeds.catalog import Catalog

    underlying = app.ingest.underlying or None
    report = import_bars_csv(path, Catalog(app.data.root), known_index_ids(),
                             underlying=underlying)
    print(f"{path.name}: {report.rows_written} bars on {report.days_written} day(s) "
          f"{report.first_day}..{report.last_day}; dropped {report.dropped_outside_session} "
          f"outside the session and {report.dropped_duplicates} duplicates")
    for day, count in sorted(report.dropped_by_day.items()):
        log.info("%s: dropped %d bar(s) outside 09:15-15:30 IST", day, count)
