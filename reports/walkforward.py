"""The walk-forward window table: in-sample figures next to out-of-sample ones, per window.

Windows differ in length (optimisation windows are longer than test windows), so besides
totals the table and chart show net P&L per session, the figure that compares across them.
Out-of-sample totals are the journalled run's (its report has the full metrics).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.ticker import FuncFormatter

from reports.metrics import RunMetrics
from reports.plots import LINE, NEUTRAL, TRAIL, figure_with_axes, money, rupees, save

if TYPE_CHECKING:
    from jobs.walkforward_jobs import WalkForwardResult, WindowResult

TABLE_FILE = "windows.csv"
CHART_FILE = "windows.png"


def window_record(w: WindowResult) -> dict[str, Any]:
    """One CSV row: the window's dates, chosen set, and both samples' headline figures."""
    row: dict[str, Any] = {
        "window": w.window.number,
        "in_sample_from": w.window.train[0], "in_sample_to": w.window.train[-1],
        "out_of_sample_from": w.window.test[0], "out_of_sample_to": w.window.test[-1],
        "params": w.params.text, "objective": round(w.objective, 4),
        "all_sets_objective": "; ".join(f"{text}: {value:.4f}" for text, value in w.scores),
    }
    for prefix, m in (("in_sample", w.in_sample), ("out_of_sample", w.out_of_sample)):
        row |= {f"{prefix}_{key}": value for key, value in _figures(m).items()}
    return row


def write_windows(result: WalkForwardResult, folder: Path) -> Path:
    """``folder/windows.csv`` and ``folder/windows.png``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [window_record(w) for w in result.windows]
    staging = folder / f".{TABLE_FILE}.tmp"
    with staging.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
    staging.replace(folder / TABLE_FILE)
    plot_windows(result.windows, folder / CHART_FILE)
    return folder


def format_windows(result: WalkForwardResult, objective: str) -> str:
    """The printed table, then the out-of-sample total and the run's notes."""
    header = (f"{'win':>3} {'in-sample':<23} {'out-of-sample':<23} {'IS net/day':>11} "
              f"{'IS PF':>6} {'IS tr':>5} {'OOS net/day':>11} {'OOS PF':>6} {'OOS tr':>6}  "
              f"params (best {objective} in-sample)")
    lines = [f"walk-forward {result.run_id}: {len(result.windows)} window(s)", header,
             "-" * len(header)]
    for w in result.windows:
        lines.append(
            f"{w.window.number:>3} {_span(w.window.train):<23} {_span(w.window.test):<23} "
            f"{_per_session(w.in_sample):>11,.2f} {_text(w.in_sample.profit_factor):>6} "
            f"{w.in_sample.trades:>5} {_per_session(w.out_of_sample):>11,.2f} "
            f"{_text(w.out_of_sample.profit_factor):>6} {w.out_of_sample.trades:>6}  "
            f"{w.params.text}")
    oos = result.out_of_sample
    lines.append(f"out-of-sample total: {oos.sessions} session(s), {oos.trades} trade(s), net "
                 f"{money(oos.net_pnl, 2)} after charges {money(oos.charges, 2)}, max drawdown "
                 f"{money(oos.drawdown.rupees, 2)}, profit factor {_text(oos.profit_factor)}")
    lines += result.notes
    if result.missing:
        lines.append(f"  INCOMPLETE: {len(result.missing)} out-of-sample session(s) missing:")
        lines += [f"    {m.day}: {m.reason}" for m in result.missing]
    return "\n".join(lines)


def plot_windows(windows: Sequence[WindowResult], path: Path) -> Path:
    """Net P&L per session, in-sample and out-of-sample bars side by side, per window."""
    figure, (ax,) = figure_with_axes(max(6.0, 0.9 * len(windows) + 3), 4.5)
    x = [w.window.number for w in windows]
    ax.bar([i - 0.2 for i in x], [_per_session(w.in_sample) for w in windows], width=0.4,
           color=NEUTRAL, label="in-sample (best set on its optimisation window)")
    ax.bar([i + 0.2 for i in x], [_per_session(w.out_of_sample) for w in windows], width=0.4,
           color=LINE, label="out-of-sample (that set on the next window)")
    ax.axhline(0, color=TRAIL, linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xlabel("window")
    ax.set_ylabel("net P&L after charges per session (₹)")
    ax.yaxis.set_major_formatter(FuncFormatter(rupees))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8)
    ax.set_title("Walk-forward: in-sample vs out-of-sample")
    return save(figure, path)


def _figures(m: RunMetrics) -> dict[str, Any]:
    return {"sessions": m.sessions, "trades": m.trades, "net_pnl": round(m.net_pnl, 2),
            "net_per_session": round(_per_session(m), 2), "charges": round(m.charges, 2),
            "max_drawdown": round(m.drawdown.rupees, 2),
            "profit_factor": None if m.profit_factor is None else round(m.profit_factor, 3),
            "win_rate": None if m.win_rate is None else round(m.win_rate, 2)}


def _per_session(m: RunMetrics) -> float:
    return m.net_pnl / m.sessions if m.sessions else 0.0


def _span(days: Sequence[object]) -> str:
    return f"{days[0]}..{days[-1]}"


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
