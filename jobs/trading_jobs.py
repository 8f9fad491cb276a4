"""Trading jobs: replay (tick days) and backtest, ending with a summary of the run."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from core.config import AppConfig
from core.errors import MissingDataError
from jobs.data_jobs import calendar_for, days_with_warmup, ensure_simulated, run_days
from jobs.report_jobs import report_after_run
from strategies.engine import DayResult
from strategies.records import TradeRecord

log = logging.getLogger(__name__)


def replay(app: AppConfig) -> int:
    """``mode=replay`` (and the default backtest): the strategy over catalog tick days.

    ``run.workers > 1`` or ``run.cluster`` spreads the days over Dask workers
    (``jobs/multiday.py``). Returns 1 when a day failed with an error (the run is journalled
    without it and the summary names it), else 0.
    """
    from jobs.multiday import missing_lines, run_journalled_days
    from jobs.run_journal import open_run
    from jobs.sweep import note_sweep_run
    from strategies.setup import run_tag_for

    calendar = calendar_for(app)
    ensure_simulated(app, days_with_warmup(app, calendar))
    days = run_days(app, calendar)
    started = datetime.now(UTC)
    with open_run(app, days) as run:
        print(f"run {run.run_id}: {app.mode.name} {app.index.name} {days[0]}..{days[-1]}")
        note_sweep_run(app, run.run_id)
        outcome = run_journalled_days(app, days, run.journal, run.run_id,
                                      run_tag_for(run.run_id))
        if not outcome.results:
            reasons = "; ".join(f"{m.day}: {m.reason}" for m in outcome.missing[:3])
            raise MissingDataError(f"no day could be replayed ({reasons})")
        trades = run.journal.trades(run.run_id)
        print(summary_text(app, outcome.results, trades,
                           (datetime.now(UTC) - started).total_seconds()))
        for line in outcome.notes + missing_lines(outcome.missing):
            print(line)
        print(f"run {run.run_id} journalled in {app.db.url}")
    report_after_run(app, run.run_id)  # after the with: the run is marked finished
    return 1 if outcome.failed else 0


def summary_text(app: AppConfig, results: list[DayResult], trades: list[TradeRecord],
                 seconds: float) -> str:
    """The end-of-run summary a trader reads first."""
    net = sum(t.net_pnl for t in trades)
    gross = sum(t.gross_pnl for t in trades)
    charges = sum(t.charges for t in trades)
    wins = sum(1 for t in trades if t.net_pnl > 0)
    reasons = Counter(t.exit_tag for t in trades)
    lines = [
        f"optscalp {app.mode.name}: {app.index.name}, {len(results)} day(s) "
        f"{results[0].day}..{results[-1].day} in {seconds:.1f} s",
        f"  trades        {len(trades)}",
        f"  win rate      {100.0 * wins / len(trades):.1f}%" if trades else "  win rate      -",
        f"  gross P&L     {gross:,.2f}",
        f"  charges       {charges:,.2f}",
        f"  net P&L       {net:,.2f}",
        f"  balance       {results[0].start_balance:,.2f} -> {results[-1].end_balance:,.2f}",
        "  exits by reason:",
    ]
    lines += [f"    {tag:<24} {count}" for tag, count in reasons.most_common()] or ["    none"]
    tripped = [str(r.day) for r in results if r.breaker_tripped]
    if tripped:
        lines.append(f"  circuit breaker tripped on {', '.join(tripped)}")
    return "\n".join(lines)
