"""Parameter sweeps (Hydra multirun) ending with one comparison of their runs.

``python main.py -m risk.sl_pct=0.2,0.25,0.3 risk.tp_pct=0.5,0.6`` runs one normal, journalled
run per combination (add ``hydra/launcher=joblib hydra.launcher.n_jobs=2`` to run them in
parallel processes). Each job notes its run id in its Hydra job folder
(:func:`note_sweep_run`); :class:`SweepComparison`, registered under ``hydra.callbacks`` in
``conf/config.yaml``, migrates the database and prepares the market data once before the
jobs start (so parallel jobs never create the schema or simulate a day at once) and, when
the last job is done, writes into the sweep folder ``comparison.csv``, ``comparison.png``
and ``comparison/report.html`` and prints the table: net P&L after charges, drawdown,
profit factor, trades, per run.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from core.config import AppConfig
from core.errors import TradingError

log = logging.getLogger(__name__)

SWEEP_RUN_FILE = "optscalp_run.json"
DATA_MODES = ("backtest", "replay", "walkforward")


@dataclass(frozen=True)
class SweepEntry:
    """A job of the sweep: its number, run id, database and overrides."""

    job: int
    run_id: str
    db_url: str
    overrides: tuple[str, ...]


def note_sweep_run(app: AppConfig, run_id: str) -> Path | None:
    """In a multirun job, write ``<job folder>/optscalp_run.json`` naming the run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None
    entry = SweepEntry(int(hydra.job.num), run_id, app.db.url, tuple(hydra.overrides.task))
    return write_run_note(Path(hydra.runtime.output_dir), entry)


def write_run_note(folder: Path, entry: SweepEntry) -> Path:
    """``folder/optscalp_run.json`` describing ``entry`` (what :func:`sweep_entries` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SWEEP_RUN_FILE
    note = {"job": entry.job, "run_id": entry.run_id, "db_url": entry.db_url,
            "overrides": list(entry.overrides)}
    path.write_text(json.dumps(note, indent=1), encoding="utf-8")
    return path


def sweep_entries(sweep_dir: Path) -> list[SweepEntry]:
    """The runs noted under ``sweep_dir``, in job order (unreadable notes are logged)."""
    entries = []
    for path in sorted(sweep_dir.rglob(SWEEP_RUN_FILE)):
        try:
            note = json.loads(path.read_text(encoding="utf-8"))
            entries.append(SweepEntry(int(note["job"]), str(note["run_id"]),
                                      str(note["db_url"]), tuple(note["overrides"])))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("%s: not a sweep run note (%s); that run is left out", path, error)
    return sorted(entries, key=lambda e: e.job)


def varying_overrides(entries: Sequence[SweepEntry]) -> list[str]:
    """Each run's overrides without those every run shares: what the sweep varied."""
    shared = set.intersection(*(set(e.overrides) for e in entries)) if entries else set()
    return [" ".join(o for o in e.overrides if o not in shared) for e in entries]


def compare_sweep(sweep_dir: Path, busy_timeout_ms: int = 5000) -> str | None:
    """Write the comparison of the runs noted under ``sweep_dir``; returns the printed text."""
    from core.db.engine import make_engine, session_factory
    from reports.journal import Journal
    from reports.sweep import format_table, write_sweep_comparison

    entries = sweep_entries(sweep_dir)
    if not entries:
        log.warning("sweep %s: no journalled run to compare", sweep_dir)
        return None
    db_url = entries[0].db_url
    others = [e.run_id for e in entries if e.db_url != db_url]
    if others:
        log.error("sweep %s: runs %s are in another database than %s; compared without them",
                  sweep_dir, ", ".join(others), db_url)
        entries = [e for e in entries if e.db_url == db_url]
    engine = make_engine(db_url, busy_timeout_ms)
    try:
        result = write_sweep_comparison(Journal(session_factory(engine)),
                                        [e.run_id for e in entries], sweep_dir,
                                        varying_overrides(entries))
    finally:
        engine.dispose()
    lines = [f"sweep of {len(entries)} run(s), metrics after charges:",
             format_table(result.rows), f"table: {result.table}", f"chart: {result.chart}"]
    if result.html is not None:
        lines.append(f"comparison: {result.html}")
    return "\n".join(lines)


class SweepComparison(Callback):
    """Hydra callback: data prepared before a multirun, one comparison after it."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        app = _app_config(config)
        if app is None or app.mode.name not in DATA_MODES:
            return
        from sqlalchemy.exc import SQLAlchemyError

        from core.db.migrate import upgrade
        from jobs.data_jobs import calendar_for, days_with_warmup, ensure_simulated

        try:
            upgrade(app.db.url, busy_timeout_ms=app.db.busy_timeout_ms)
            ensure_simulated(app, days_with_warmup(app, calendar_for(app)))
        except (TradingError, OSError, SQLAlchemyError) as error:
            log.warning("sweep: database or market data not prepared up front (%s); each job "
                        "will try", error)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            text = compare_sweep(sweep_dir)
        except (TradingError, OSError) as error:
            log.error("sweep %s: comparison not written: %s", sweep_dir, error)
            return
        if text:
            print(text)


def _app_config(config: DictConfig) -> AppConfig | None:
    """The sweep's base config (no swept values) as AppConfig, or None if it does not convert."""
    from core.config_check import to_app_config

    base = copy.deepcopy(config)  # as Hydra hands a job its config: without the hydra node
    with read_write(base), open_dict(base):
        base.pop("hydra", None)
    try:
        return to_app_config(base)
    except TradingError as error:
        log.warning("sweep: base config not usable before the jobs (%s)", error)
        return None
