"""A 2x2 parameter sweep: four journalled runs, one comparison table, chart and HTML page.

The first test runs the four jobs in-process (as Hydra's basic launcher would, each noting
its run in its job folder) and calls the sweep callback's end hook; the slow one runs
``python main.py -m`` for real.
"""

from __future__ import annotations

import csv
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from jobs.sweep import SweepComparison, SweepEntry, write_run_note
from jobs.trading_jobs import replay
from reports.build import load_run
from reports.journal import Journal
from reports.sweep import CHART_FILE, HTML_FOLDER, TABLE_FILE

REPO = Path(__file__).resolve().parents[2]
DAY = "2024-10-08"
GRID = list(itertools.product(("0.2", "0.3"), ("0.3", "0.6")))  # (sl_pct, tp_pct)


def base(root: Path) -> list[str]:
    return [f"data.root={root}", f"data.days={DAY}", "sim.tick_seconds=5",
            "report.enabled=false"]


def test_the_sweep_callback_compares_four_runs(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    sweep_dir = tmp_path / "multirun"
    for job, (sl, tp) in enumerate(GRID):
        swept = [f"risk.sl_pct={sl}", f"risk.tp_pct={tp}"]
        app = compose_config([*base(tmp_path), *swept])
        assert replay(app) == 0
        run_id = Journal(session_factory(make_engine(app.db.url))).runs()[-1].id
        write_run_note(sweep_dir / str(job),
                       SweepEntry(job, run_id, app.db.url, (*base(tmp_path), *swept)))
    capsys.readouterr()

    SweepComparison().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {
        "dir": str(sweep_dir)}}}))

    journal = Journal(session_factory(make_engine(app.db.url)))
    run_ids = [run.id for run in journal.runs()]
    assert len(run_ids) == 4
    with (sweep_dir / TABLE_FILE).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run_id"] for row in rows] == run_ids  # job order
    assert [row["overrides"] for row in rows] == [
        f"risk.sl_pct={sl} risk.tp_pct={tp}" for sl, tp in GRID]  # only what the sweep varied
    for row in rows:
        metrics = load_run(journal, row["run_id"]).metrics
        assert float(row["net_pnl"]) == pytest.approx(metrics.net_pnl, abs=0.005)
        assert float(row["max_drawdown"]) == pytest.approx(metrics.drawdown.rupees, abs=0.005)
        assert int(row["trades"]) == metrics.trades > 0
    assert len({row["net_pnl"] for row in rows}) > 1  # the swept values changed the outcome
    assert (sweep_dir / CHART_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (sweep_dir / HTML_FOLDER / "report.html").read_text(encoding="utf-8")
    assert all(run_id in html for run_id in run_ids)
    printed = capsys.readouterr().out
    assert "sweep of 4 run(s)" in printed
    assert sum(run_id in printed for run_id in run_ids) == 4


def test_a_sweep_without_runs_writes_nothing(tmp_path: Path) -> None:
    SweepComparison().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {
        "dir": str(tmp_path)}}}))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # four jobs in a fresh interpreter: ~12 s
def test_main_multirun_ends_with_one_comparison(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, "main.py", "-m", *base(tmp_path), "risk.sl_pct=0.2,0.3",
         "risk.tp_pct=0.3,0.6"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [table] = list((tmp_path / "hydra" / "multirun").rglob(TABLE_FILE))
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert {row["overrides"] for row in rows} == {
        f"risk.sl_pct={sl} risk.tp_pct={tp}" for sl, tp in GRID}
    assert len(Journal(session_factory(make_engine(f"sqlite:///{tmp_path}/optscalp.db")))
               .runs()) == 4
    assert "sweep of 4 run(s), metrics after charges:" in proc.stdout
    assert (table.parent / CHART_FILE).is_file()
    assert (table.parent / HTML_FOLDER / "report.html").is_file()
