"""Walk-forward over simulated sessions: out-of-sample windows never overlap their
optimisation windows, and only out-of-sample sessions are journalled.

Four sessions (1m-bar search, 5 s simulated ticks), two-session optimisation windows rolled
by one test session, two stop-loss settings: two windows.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from jobs.walkforward_jobs import WalkForwardSettings, walkforward
from reports.build import load_run
from reports.journal import Journal
from reports.walkforward import CHART_FILE, TABLE_FILE

SESSIONS = [date(2024, 10, 7), date(2024, 10, 8), date(2024, 10, 9), date(2024, 10, 10)]
SETTINGS = WalkForwardSettings(train_sessions=2, test_sessions=1,
                               grid={"risk.sl_pct": [0.2, 0.3]})


def test_walkforward_reports_out_of_sample_windows_after_their_optimisation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = compose_config(["mode=walkforward", f"data.root={tmp_path}",
                          "data.days=2024-10-07:2024-10-10", "sim.tick_seconds=5",
                          "report.enabled=false"])
    assert walkforward(app, SETTINGS) == 0
    printed = capsys.readouterr().out

    [run] = Journal(session_factory(make_engine(app.db.url))).runs()
    [table] = list((tmp_path / "reports").glob(f"walkforward-{run.id}/{TABLE_FILE}"))
    assert (table.parent / CHART_FILE).is_file()
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["window"]) for r in rows] == [1, 2]
    spans = [(date.fromisoformat(r["in_sample_from"]), date.fromisoformat(r["in_sample_to"]),
              date.fromisoformat(r["out_of_sample_from"]),
              date.fromisoformat(r["out_of_sample_to"])) for r in rows]
    assert spans == [(SESSIONS[0], SESSIONS[1], SESSIONS[2], SESSIONS[2]),
                     (SESSIONS[1], SESSIONS[2], SESSIONS[3], SESSIONS[3])]
    for in_from, in_to, out_from, out_to in spans:
        assert in_from <= in_to < out_from <= out_to  # tested only after it was optimised
    assert spans[0][3] < spans[1][2]  # test windows do not overlap each other

    journal = Journal(session_factory(make_engine(app.db.url)))
    assert run.mode == "walkforward"
    assert run.days == (SESSIONS[2], SESSIONS[3])
    assert [d.day for d in journal.days(run.id)] == [SESSIONS[2], SESSIONS[3]]
    trades = journal.trades(run.id)
    assert trades
    assert {t.day for t in trades} <= {SESSIONS[2], SESSIONS[3]}  # out-of-sample only
    metrics = load_run(journal, run.id).metrics
    out_net = [float(r["out_of_sample_net_pnl"]) for r in rows]
    assert sum(out_net) == pytest.approx(metrics.net_pnl, abs=0.01)
    for row in rows:  # the chosen set has the best in-sample objective (net P&L)
        scores = [float(part.rsplit(": ", 1)[1]) for part in row["all_sets_objective"].split("; ")]
        assert len(scores) == 2
        assert float(row["objective"]) == pytest.approx(max(scores), abs=1e-4)
        assert float(row["objective"]) == pytest.approx(float(row["in_sample_net_pnl"]),
                                                        abs=0.01)
        assert row["params"] in ("risk.sl_pct=0.2", "risk.sl_pct=0.3")
        assert int(row["in_sample_sessions"]) == 2
        assert int(row["out_of_sample_sessions"]) == 1
    assert f"walk-forward {run.id}: 2 window(s)" in printed
    assert "out-of-sample total: 2 session(s)" in printed
    assert "fixed daily capital" in printed  # the default config compounds: said, not hidden
