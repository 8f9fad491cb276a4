"""Report charts as PNG files: matplotlib's object API on the Agg canvas (no pyplot state).

Times are shown in IST. Multi-day charts use a trading-time axis (one unit per session,
09:15-15:30 IST) so nights and weekends do not stretch the curve; its ticks are dates.
Every function writes one file and returns its path; a chart without data still renders,
saying so, so a report of a run without trades has every file.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from core.calendar import SESSION_OPEN
from core.clock import to_ist
from reports.metrics import SESSION_MINUTES, GroupStats, RunMetrics
from strategies.records import TradeRecord

DPI = 100
WIN, LOSS, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"
LINE, STOP, TARGET, TRAIL = "#0550ae", "#cf222e", "#1a7f37", "#bc4c00"
CE_COLOR, PE_COLOR = "#0969da", "#8250df"
MAX_DATE_LABELS = 12
_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute


@dataclass(frozen=True)
class EquitySeries:
    """One run's closed-trade equity for the overlay chart."""

    label: str
    curve: Sequence[tuple[datetime | None, float]]


def rupees(value: float, _pos: object = None) -> str:
    """Axis label text: whole rupees with thousands separators (never "-0")."""
    text = f"{value:,.0f}"
    return "0" if text == "-0" else text


def money(value: float, decimals: int = 0) -> str:
    """Title text: ``-₹16,232`` (the sign before the rupee symbol)."""
    return f"{'-' if value < 0 and round(value, decimals) else ''}₹{abs(value):,.{decimals}f}"


def figure_with_axes(width: float, height: float, rows: int = 1,
                     ratios: Sequence[int] | None = None) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure on an Agg canvas with ``rows`` gridded axes (shared x)."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False,
                           gridspec_kw={"height_ratios": ratios} if ratios else None)
    for ax in axes[:, 0]:
        ax.grid(True, alpha=0.3)
    return figure, list(axes[:, 0])


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG (no version metadata, so a rebuild gives the same bytes)."""
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def no_data(ax: Axes, text: str) -> None:
    """Say plainly on the chart that there is nothing to draw."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=14,
            color=NEUTRAL)
    ax.set_xticks([])
    ax.set_yticks([])


def session_position(when: datetime | None, sessions: Sequence[date]) -> float:
    """Trading-time x of an instant: session index + fraction of the session elapsed."""
    if when is None or not sessions:
        return 0.0
    wall = to_ist(when)
    index = bisect.bisect_left(sessions, wall.date())
    minutes = wall.hour * 60 + wall.minute + wall.second / 60 - _OPEN_MINUTE
    return index + min(max(minutes / SESSION_MINUTES, 0.0), 1.0)


def _session_axis(ax: Axes, sessions: Sequence[date]) -> None:
    """Date ticks at session starts (at most MAX_DATE_LABELS), or hours for a single day."""
    if len(sessions) <= 1:
        hours = range(10, 16)
        ax.set_xticks([(h * 60 - _OPEN_MINUTE) / SESSION_MINUTES for h in hours])
        ax.set_xticklabels([f"{h:02d}:00" for h in hours])
        ax.set_xlabel(f"time (IST) on {sessions[0]:%d %b %Y}" if sessions else "time (IST)")
        ax.set_xlim(0, 1)
        return
    step = max(1, math.ceil(len(sessions) / MAX_DATE_LABELS))
    ticks = list(range(0, len(sessions), step))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{sessions[i]:%d %b}" for i in ticks])
    ax.set_xlabel(f"session (trading time, {sessions[0]:%Y}"
                  + (f"-{sessions[-1]:%Y})" if sessions[-1].year != sessions[0].year else ")"))
    ax.set_xlim(0, len(sessions))


def plot_equity(curve: Sequence[tuple[datetime | None, float]], sessions: Sequence[date],
                metrics: RunMetrics, path: Path) -> Path:
    """Equity (closed trades, after charges) with the drawdown underneath."""
    figure, (top, bottom) = figure_with_axes(11, 5.5, rows=2, ratios=[3, 1])
    x = [session_position(when, sessions) for when, _ in curve]
    equity = np.array([value for _, value in curve])
    x.append(len(sessions) if len(sessions) > 1 else 1.0)
    equity = np.append(equity, equity[-1])
    drawdown = equity - np.maximum.accumulate(equity)
    top.step(x, equity, where="post", color=LINE, linewidth=1.6)
    top.axhline(metrics.start_capital, color=NEUTRAL, linestyle=":", linewidth=1)
    top.set_ylabel("equity (₹)")
    top.yaxis.set_major_formatter(FuncFormatter(rupees))
    top.set_title(f"Equity after charges: net {money(metrics.net_pnl)} "
                  f"({metrics.return_pct:+.2f}%), {metrics.trades} trades")
    bottom.fill_between(x, drawdown, 0, step="post", color=LOSS, alpha=0.35)
    bottom.step(x, drawdown, where="post", color=LOSS, linewidth=1)
    bottom.set_ylabel("drawdown (₹)")
    bottom.yaxis.set_major_formatter(FuncFormatter(rupees))
    bottom.set_ylim(top=max(1.0, abs(drawdown.min()) * 0.05))
    dd = metrics.drawdown
    bottom.set_title(f"max drawdown {money(dd.rupees)} ({dd.pct_of_capital:.2f}% of capital)",
                     fontsize=10, loc="left")
    _session_axis(bottom, sessions)
    return save(figure, path)


def plot_daily_pnl(daily: Sequence[tuple[date, float]], path: Path) -> Path:
    """Net P&L per session, green up / red down, values printed when few bars."""
    figure, (ax,) = figure_with_axes(11, 4)
    if not daily:
        no_data(ax, "no sessions")
        return save(figure, path)
    values = np.array([pnl for _, pnl in daily])
    x = np.arange(len(daily))
    bars = ax.bar(x, values, color=[WIN if v > 0 else LOSS for v in values], width=0.7)
    ax.axhline(0, color="black", linewidth=0.8)
    if not values.any():  # all flat: a readable scale instead of 0, 0, -0 ticks
        ax.set_ylim(-1000, 1000)
    if len(daily) <= 25:
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8, padding=2)
        ax.margins(y=0.15)
    step = max(1, math.ceil(len(daily) / MAX_DATE_LABELS))
    ax.set_xticks(x[::step], [f"{d:%a %d %b}" for d, _ in daily][::step])
    ax.set_xlabel("session (IST date)")
    ax.set_ylabel("net P&L (₹)")
    ax.yaxis.set_major_formatter(FuncFormatter(rupees))
    ax.set_title(f"Daily net P&L: {sum(values > 0)} up, {sum(values < 0)} down, "
                 f"{sum(values == 0)} flat")
    return save(figure, path)


def bin_edges(values: np.ndarray) -> np.ndarray:
    """About 30 equal bins of a round width with an edge at 0, so no bin mixes wins and
    losses."""
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    raw = (high - low) / 30 or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    width = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / width)
    last = max(math.ceil(high / width), first + 1)  # all-zero P&L still gets one bin
    return np.arange(first, last + 1) * width


def plot_trade_histogram(trades: Sequence[TradeRecord], path: Path) -> Path:
    """Distribution of net P&L per trade."""
    figure, (ax,) = figure_with_axes(8, 4)
    ax.set_title(f"Trade P&L distribution ({len(trades)} trades)")
    if not trades:
        no_data(ax, "no trades")
        return save(figure, path)
    values = np.array([t.net_pnl for t in trades])
    edges = bin_edges(values)
    counts, _ = np.histogram(values, bins=edges)
    centres = edges[:-1]
    colors = [WIN if left >= 0 else LOSS for left in centres]
    ax.bar(centres, counts, width=np.diff(edges), align="edge", color=colors,
           edgecolor="white", linewidth=0.5)
    mean = float(values.mean())
    ax.axvline(mean, color="black", linestyle="--", linewidth=1,
               label=f"mean {money(mean)} per trade")
    ax.legend(loc="best", fontsize=9)
    ax.set_xlabel("net P&L per trade (₹)")
    ax.set_ylabel("trades")
    ax.xaxis.set_major_formatter(FuncFormatter(rupees))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return save(figure, path)


def plot_exit_reasons(groups: Sequence[GroupStats], path: Path) -> Path:
    """Trades and net P&L per exit reason, side by side."""
    figure = Figure(figsize=(11, 1.6 + 0.45 * max(len(groups), 2)), dpi=DPI,
                    layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, sharey=True)
    left.set_title("Exits by reason: trades")
    right.set_title("Exits by reason: net P&L")
    if not groups:
        no_data(left, "no trades")
        no_data(right, "no trades")
        return save(figure, path)
    names = [g.key for g in groups][::-1]
    counts = [g.trades for g in groups][::-1]
    pnl = [g.net_pnl for g in groups][::-1]
    bars = left.barh(names, counts, color=NEUTRAL)
    left.bar_label(bars, labels=[str(c) for c in counts], padding=3, fontsize=9)
    left.set_xlabel("trades")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.margins(x=0.15)
    bars = right.barh(names, pnl, color=[WIN if v > 0 else LOSS for v in pnl])
    right.bar_label(bars, labels=[f"{v:,.0f}" for v in pnl], padding=3, fontsize=9)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_xlabel("net P&L (₹)")
    right.xaxis.set_major_formatter(FuncFormatter(rupees))
    right.margins(x=0.2)
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
    return save(figure, path)


def plot_equity_overlay(series: Sequence[EquitySeries], sessions: Sequence[date],
                        path: Path) -> Path:
    """Several runs' equity curves on one trading-time axis (parameter comparison)."""
    figure, (ax,) = figure_with_axes(11, 5)
    for one in series:
        x = [session_position(when, sessions) for when, _ in one.curve]
        equity = [value for _, value in one.curve]
        x.append(len(sessions) if len(sessions) > 1 else 1.0)
        equity.append(equity[-1])
        ax.step(x, equity, where="post", linewidth=1.6,
                label=f"{one.label}: net {money(equity[-1] - equity[0])}")
    ax.set_ylabel("equity after charges (₹)")
    ax.yaxis.set_major_formatter(FuncFormatter(rupees))
    ax.legend(loc="best", fontsize=9)
    ax.set_title("Equity of the compared runs (closed trades)")
    _session_axis(ax, sessions)
    return save(figure, path)
