"""One comparison of a parameter sweep's runs: a table (CSV and text), a chart, an HTML page.

Each row is a journalled run with the overrides that made it and its headline metrics after
charges (``reports.metrics``): net P&L, charges, max drawdown, profit factor, trades, win
rate, Sharpe. The chart puts net P&L and max drawdown of every run side by side; the HTML is
:func:`reports.build.build_comparison` (metrics table, config differences, equity overlay).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from matplotlib.ticker import FuncFormatter

from reports.build import REPORT_FILE, build_comparison, load_run
from reports.journal import Journal
from reports.plots import LOSS, NEUTRAL, WIN, figure_with_axes, money, rupees, save

log = logging.getLogger(__name__)

TABLE_FILE = "comparison.csv"
CHART_FILE = "comparison.png"
HTML_FOLDER = "comparison"
MAX_LABEL_WIDTH = 22


@dataclass(frozen=True)
class SweepRow:
    """One run of the sweep and its headline numbers (None = not defined, e.g. no trades)."""

    run_id: str
    overrides: str
    net_pnl: float
    charges: float
    max_drawdown: float
    max_drawdown_pct: float
    profit_factor: float | None
    trades: int
    win_rate: float | None
    sharpe: float | None


@dataclass(frozen=True)
class SweepComparison:
    rows: list[SweepRow]
    table: Path
    chart: Path
    html: Path | None  # None with a single run: nothing to compare it with


def sweep_rows(journal: Journal, run_ids: Sequence[str],
               overrides: Sequence[str] | None = None) -> list[SweepRow]:
    """Rows for ``run_ids`` in that order; ``overrides`` default to the journalled ones."""
    rows = []
    for i, run_id in enumerate(run_ids):
        data = load_run(journal, run_id)
        m = data.metrics
        rows.append(SweepRow(
            run_id=run_id, overrides=overrides[i] if overrides else data.run.overrides,
            net_pnl=round(m.net_pnl, 2), charges=round(m.charges, 2),
            max_drawdown=round(m.drawdown.rupees, 2),
            max_drawdown_pct=round(m.drawdown.pct_of_capital, 3),
            profit_factor=_rounded(m.profit_factor), trades=m.trades,
            win_rate=_rounded(m.win_rate), sharpe=_rounded(m.sharpe)))
    return rows


def write_sweep_comparison(journal: Journal, run_ids: Sequence[str], folder: Path,
                           overrides: Sequence[str] | None = None) -> SweepComparison:
    """Write ``comparison.csv``, ``comparison.png`` and ``comparison/report.html``."""
    if not run_ids:
        raise ValueError("a sweep comparison needs at least one run id")
    rows = sweep_rows(journal, run_ids, overrides)
    folder.mkdir(parents=True, exist_ok=True)
    table = write_table(rows, folder / TABLE_FILE)
    chart = plot_sweep(rows, folder / CHART_FILE)
    html = None
    if len(run_ids) > 1:
        html = build_comparison(journal, run_ids, folder, name=HTML_FOLDER) / REPORT_FILE
    return SweepComparison(rows, table, chart, html)


def write_table(rows: Sequence[SweepRow], path: Path) -> Path:
    """The rows as CSV (empty cell = not defined), written whole or not at all."""
    staging = path.with_name(f".{path.name}.tmp")
    with staging.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(SweepRow)])
        for row in rows:
            writer.writerow(["" if value is None else value for value in astuple(row)])
    staging.replace(path)
    return path


def format_table(rows: Sequence[SweepRow]) -> str:
    """A fixed-width text table, best net P&L first (what the sweep prints at the end)."""
    header = (f"{'run':<15} {'net P&L':>12} {'charges':>10} {'max DD':>10} {'DD %':>6} "
              f"{'PF':>6} {'trades':>6} {'win %':>6} {'Sharpe':>7}  overrides")
    lines = [header, "-" * len(header)]
    for r in sorted(rows, key=lambda row: -row.net_pnl):
        lines.append(f"{r.run_id:<15} {r.net_pnl:>12,.2f} {r.charges:>10,.2f} "
                     f"{r.max_drawdown:>10,.2f} {r.max_drawdown_pct:>6.2f} "
                     f"{_text(r.profit_factor):>6} {r.trades:>6} {_text(r.win_rate, 1):>6} "
                     f"{_text(r.sharpe):>7}  {r.overrides or '(none)'}")
    return "\n".join(lines)


def plot_sweep(rows: Sequence[SweepRow], path: Path) -> Path:
    """Net P&L after charges (top) and max drawdown (bottom) of every run, one bar each."""
    figure, (top, bottom) = figure_with_axes(max(6.0, 1.1 * len(rows) + 3), 6, rows=2)
    x = list(range(len(rows)))
    top.bar(x, [r.net_pnl for r in rows],
            color=[WIN if r.net_pnl > 0 else LOSS if r.net_pnl < 0 else NEUTRAL for r in rows])
    for i, r in enumerate(rows):
        top.annotate(f"{r.trades} tr, PF {_text(r.profit_factor)}", (i, r.net_pnl),
                     ha="center", va="bottom" if r.net_pnl >= 0 else "top", fontsize=8)
    top.axhline(0, color=NEUTRAL, linewidth=0.8)
    top.set_ylabel("net P&L after charges (₹)")
    best = max(rows, key=lambda r: r.net_pnl)
    top.set_title(f"Sweep of {len(rows)} run(s): best {best.run_id} net {money(best.net_pnl)}")
    bottom.bar(x, [-r.max_drawdown for r in rows], color=LOSS)
    bottom.set_ylabel("max drawdown (₹)")
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(FuncFormatter(rupees))
    bottom.set_xticks(x)
    bottom.set_xticklabels([_label(r) for r in rows], fontsize=8)
    return save(figure, path)


def _label(row: SweepRow) -> str:
    """One override per line (cut to fit), or the run id when there are none."""
    parts = row.overrides.split() or [row.run_id]
    return "\n".join(part if len(part) <= MAX_LABEL_WIDTH else part[:MAX_LABEL_WIDTH - 1] + "~"
                     for part in parts)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _text(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
