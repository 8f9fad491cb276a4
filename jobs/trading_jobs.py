"""Trading jobs: replay (tick days) and backtest, ending with a summary of the run."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime

from core.config import AppConfig
from core.errors import MissingDataError
from jobs.data_jobs import calendar_for, days_with_warmup, ensure_simulated, run_days
from jobs.report_jobs import report_after_run
from strategies.engine import DayResult
from strategies.records import TradeRecord

log = logging.getLogger(__name__)


def replay(app: AppConfig) -> int:
    """``mode=replay`` (and the default backtest): the strategy over catalog tick days."""
    from feeds.catalog import Catalog
    from jobs.run_journal import open_run
    from strategies.engine import run_days as run_strategy_days
    from strategies.setup import build_setup, run_tag_for

    calendar = calendar_for(app)
    ensure_simulated(app, days_with_warmup(app, calendar))
    days = run_days(app, calendar)
    started = datetime.now(UTC)
    with open_run(app, days) as run:
        print(f"run {run.run_id}: {app.mode.name} {app.index.name} {days[0]}..{days[-1]}")
        setup = build_setup(app, run_tag=run_tag_for(run.run_id))
        results = run_strategy_days(app, setup, Catalog(app.data.root), calendar, days,
                                    run.sink, progress=_progress_printer(len(days)))
        run.sink.flush()
        if not results:
            raise MissingDataError("no day could be replayed (see the log for why)")
        trades = run.journal.trades(run.run_id)
        print(summary_text(app, results, trades, (datetime.now(UTC) - started).total_seconds()))
        print(f"run {run.run_id} journalled in {app.db.url}")
    report_after_run(app, run.run_id)  # after the with: the run is marked finished
    return 0


def _progress_printer(total: int):  # noqa: ANN202 - a closure, typed by its use
    done: list[date] = []
    pnl = [0.0]
    trades = [0]

    def report(result: DayResult | None, day: date) -> None:
        done.append(day)
        if result is not None:
            pnl[0] += result.realised_pnl
            trades[0] += result.trades
        log.info("day %d/%d %s: trades so far %d, net P&L so far %.2f", len(done), total, day,
                 trades[0], pnl[0])

    return report


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


JOBS = {"replay": replay, "backtest": replay}
