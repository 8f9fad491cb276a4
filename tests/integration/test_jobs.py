"""The mode jobs end to end: db, import, simulate, and a replay through main.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config_check import compose_config
from feeds.catalog import Catalog
from jobs import dispatch

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "realdata"


def run_mode(tmp_path: Path, *overrides: str) -> int:
    return dispatch.run(compose_config([f"data.root={tmp_path}", *overrides]))


def table_count(db: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
    engine.dispose()
    return int(count)


def test_mode_db_creates_the_schema(tmp_path: Path) -> None:
    assert run_mode(tmp_path, "mode=db") == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'optscalp.db'}")
    tables = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {"instruments", "derivatives", "watchlist", "runs", "orders", "fills", "positions",
            "trades", "decisions", "daily_risk"} <= tables


def test_mode_import_scrip_master_into_the_db(tmp_path: Path) -> None:
    source = REAL / "dhan_scrip_master" / "compact_NIFTY.csv"
    if not source.exists():
        pytest.skip(f"{source} absent (needs ../shared/realdata)")
    rows = sum(1 for _ in source.open()) - 1
    assert run_mode(tmp_path, "mode=import", f"ingest.path={source}") == 0
    assert table_count(tmp_path / "optscalp.db", "derivatives") == rows
    assert run_mode(tmp_path, "mode=import", f"ingest.path={source}") == 0  # idempotent
    assert table_count(tmp_path / "optscalp.db", "derivatives") == rows


def test_mode_import_bars_csv_into_the_catalog(tmp_path: Path) -> None:
    source = REAL / "index_1m" / "NIFTY_2024_1m.csv"
    if not source.exists():
        pytest.skip(f"{source} absent (needs ../shared/realdata)")
    assert run_mode(tmp_path, "mode=import", f"ingest.path={source}") == 0
    days = Catalog(tmp_path).bar_days("NIFTY")
    assert len(days) == 156
    assert days[0] == ("NIFTY", date(2024, 1, 1))


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_mode_simulate_writes_the_days_and_their_warm_up_identically(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        assert run_mode(root, "mode=simulate", "data.days=2024-10-09") == 0
    catalog = Catalog(first)
    assert [d for _, d in catalog.tick_days("NIFTY")] == [date(2024, 10, 8), date(2024, 10, 9)]
    assert _digest(first / "ticks") == _digest(second / "ticks")


def test_main_replays_a_day_and_journals_the_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "main.py", "mode=replay", "data.days=2024-10-09",
         f"data.root={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "optscalp replay: NIFTY, 1 day(s) 2024-10-09..2024-10-09" in proc.stdout
    run_line = next(line for line in proc.stdout.splitlines() if line.startswith("run r"))
    run_id = run_line.split()[1].rstrip(":")
    trades_line = next(line for line in proc.stdout.splitlines()
                       if line.strip().startswith("trades "))
    printed_trades = int(trades_line.split()[-1])
    db = tmp_path / "optscalp.db"
    assert table_count(db, "trades") == printed_trades
    assert table_count(db, "decisions") >= 375  # one signal decision per session bar at least
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        status = conn.execute(sa.text("select status from runs where id = :id"),
                              {"id": run_id}).scalar_one()
    engine.dispose()
    assert status == "finished"


def test_every_mode_in_the_config_has_a_job_that_imports() -> None:
    from dataclasses import fields

    from core.config import ModeConfig
    from jobs.dispatch import _JOB_PATHS, _load

    mode_field = next(f for f in fields(ModeConfig) if f.name == "name")
    assert set(mode_field.metadata["choices"]) == set(_JOB_PATHS)
    for path in _JOB_PATHS.values():
        assert callable(_load(path))
