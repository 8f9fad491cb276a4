"""Per-day charts: the index with its Supertrend and the trades, and each traded option's
premium with its stop, target and trailing stop. Times are IST on an HH:MM axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from core.clock import ns_from_utc
from reports.daydata import ExitLevels, IndexDay, PricePath
from reports.plots import (
    CE_COLOR,
    LOSS,
    NEUTRAL,
    PE_COLOR,
    STOP,
    TARGET,
    TRAIL,
    WIN,
    figure_with_axes,
    money,
    no_data,
    rupees,
    save,
)
from strategies.records import TradeRecord

PRICE = "#24292f"
LABEL_GAP_MINUTES = 12  # trade numbers closer than this on the index chart are stacked
PREMIUM_PAD_NS = 10 * 60 * 10**9  # premium shown from 10 min before entry to after exit
# IST has been UTC+05:30 all year round since 1945 (no daylight saving).
_IST_OFFSET_NS = int(timedelta(hours=5, minutes=30).total_seconds()) * 10**9


def ist64(ts_ns: np.ndarray | int) -> np.ndarray:
    """UTC nanoseconds as naive IST datetime64 (what the HH:MM axes display)."""
    return (np.asarray(ts_ns, dtype=np.int64) + _IST_OFFSET_NS).astype("datetime64[ns]")


def _time_axis(ax: Axes, label: str) -> None:
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=10))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel(label)


def _at(ts: np.ndarray, values: np.ndarray, when: datetime) -> float:
    """The value of the bar containing ``when`` (bars labelled by their start)."""
    i = int(np.searchsorted(ts, ns_from_utc(when), side="right")) - 1
    return float(values[min(max(i, 0), len(values) - 1)])


def plot_index_day(day: date, underlying: str, index: IndexDay | None,
                   trades: Sequence[tuple[int, TradeRecord]], path: Path,
                   supertrend_label: str = "Supertrend") -> Path:
    """The index on the primary timeframe with its Supertrend, entries and exits."""
    figure, (ax,) = figure_with_axes(11, 4.8)
    ax.set_title(f"{underlying} {day:%a %d %b %Y}: {supertrend_label}, {len(trades)} trade(s)")
    if index is None or index.ts.size == 0:
        no_data(ax, f"no {underlying} index bars in the catalog for {day}")
        return save(figure, path)
    t = ist64(index.ts)
    ax.plot(t, index.close, color="#24292f", linewidth=1, label=f"{underlying} close")
    ax.plot(t, np.where(index.direction > 0, index.line, np.nan), color=WIN, linewidth=1.5,
            label="Supertrend, up")
    ax.plot(t, np.where(index.direction < 0, index.line, np.nan), color=LOSS, linewidth=1.5,
            label="Supertrend, down")
    placed: list[tuple[int, bool]] = []  # (entry minute, call) of labels already drawn
    for number, trade in trades:
        minute = ns_from_utc(trade.entry_at) // 60_000_000_000
        call = trade.option_type == "CE"
        level = sum(1 for m, c in placed if c == call and abs(m - minute) < LABEL_GAP_MINUTES)
        placed.append((minute, call))
        _mark_trade(ax, index, number, trade, level)
    _trade_legend(ax)
    ax.margins(y=0.14)  # headroom for stacked trade numbers
    ax.set_ylabel(f"{underlying} (points)")
    ax.yaxis.set_major_formatter(FuncFormatter(rupees))
    _time_axis(ax, "time (IST)")
    return save(figure, path)


def _mark_trade(ax: Axes, index: IndexDay, number: int, trade: TradeRecord,
                level: int) -> None:
    """Entry triangle, exit cross, a dotted line between them, and the trade number
    (raised by ``level`` rows so neighbouring numbers do not overlap)."""
    call = trade.option_type == "CE"
    x0, x1 = ist64(ns_from_utc(trade.entry_at)), ist64(ns_from_utc(trade.exit_at))
    y0 = _at(index.ts, index.close, trade.entry_at)
    y1 = _at(index.ts, index.close, trade.exit_at)
    ax.plot([x0, x1], [y0, y1], color=WIN if trade.net_pnl > 0 else LOSS, linestyle=":",
            linewidth=1.4, zorder=4)
    ax.scatter([x0], [y0], marker="^" if call else "v", s=80, zorder=5, edgecolors="white",
               color=CE_COLOR if call else PE_COLOR)
    ax.scatter([x1], [y1], marker="X", s=55, zorder=5, color="black", edgecolors="white")
    rise = 9 + 10 * level
    ax.annotate(f"#{number}", (x0, y0), xytext=(0, rise if call else -6 - rise),
                textcoords="offset points", ha="center", fontsize=8, zorder=6)


def _trade_legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    proxies = [
        ax.scatter([], [], marker="^", s=60, color=CE_COLOR, label="CE entry"),
        ax.scatter([], [], marker="v", s=60, color=PE_COLOR, label="PE entry"),
        ax.scatter([], [], marker="X", s=45, color="black", label="exit"),
        ax.plot([], [], color=WIN, linestyle=":", linewidth=1.4, label="winning trade")[0],
        ax.plot([], [], color=LOSS, linestyle=":", linewidth=1.4, label="losing trade")[0],
    ]
    ax.legend(handles + proxies, labels + [p.get_label() for p in proxies], fontsize=8,
              ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)


def plot_trade_premium(number: int, trade: TradeRecord, prices: PricePath | None,
                       levels: ExitLevels | None, path: Path) -> Path:
    """The traded option's premium around the trade, with its stop, target and trail."""
    figure, (ax,) = figure_with_axes(7.5, 3.8)
    ax.set_title(f"#{number} {trade.symbol}: {trade.exit_tag}, net {money(trade.net_pnl, 2)}",
                 fontsize=10)
    if prices is None or levels is None:
        no_data(ax, "no premium data in the catalog")
        return save(figure, path)
    start, end = ns_from_utc(trade.entry_at), ns_from_utc(trade.exit_at)
    pad = max((end - start) // 4, PREMIUM_PAD_NS)
    shown = (prices.ts >= start - pad) & (prices.ts <= end + pad)
    _draw_premium(ax, prices, shown)
    ax.axvspan(float(mdates.date2num(ist64(start))), float(mdates.date2num(ist64(end))),
               color="#afb8c1", alpha=0.25, label="held")
    _draw_levels(ax, trade, levels, end)
    ax.scatter([ist64(start)], [trade.entry_price], marker="^", s=110, color=CE_COLOR,
               zorder=6, edgecolors="white", label="entry / exit fill")
    ax.scatter([ist64(end)], [trade.exit_price], marker="X", s=90, zorder=6, edgecolors="white",
               color=WIN if trade.net_pnl > 0 else LOSS)
    note = _premium_limits(ax, _shown_prices(prices, shown), trade, levels)
    ax.set_ylabel("premium (₹)")
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
              frameon=False)
    _time_axis(ax, f"time (IST) · {note}")
    return save(figure, path)


def _draw_premium(ax: Axes, prices: PricePath, shown: np.ndarray) -> None:
    x = ist64(prices.ts[shown])
    if prices.low is None or prices.high is None:  # ticks: the price holds until the next
        ax.plot(x, prices.price[shown], drawstyle="steps-post", color=PRICE, linewidth=1.1,
                label=f"premium ({prices.source})")
        return
    ax.fill_between(x, prices.low[shown], prices.high[shown], step="pre", color=PRICE,
                    alpha=0.15, linewidth=0, label="1m bar low-high")
    ax.plot(x, prices.price[shown], color=PRICE, linewidth=1.1, marker=".", markersize=3,
            label=f"premium ({prices.source})")


def _shown_prices(prices: PricePath, shown: np.ndarray) -> np.ndarray:
    """Every price drawn in the window (bar ranges included), for the y-limits."""
    arrays = (prices.price, prices.low, prices.high)
    return np.concatenate([a[shown] for a in arrays if a is not None])


def _draw_levels(ax: Axes, trade: TradeRecord, levels: ExitLevels, end: int) -> None:
    """Entry, stop (until the breakeven lock), target and trailing stop over the holding."""
    x = ist64(np.append(levels.ts, end))
    stop = np.append(levels.stop, levels.stop[-1])
    trail = np.append(levels.trail, levels.trail[-1])
    ax.axhline(trade.entry_price, color=NEUTRAL, linestyle=":", linewidth=1,
               label=f"entry {trade.entry_price:,.2f}")
    if np.isfinite(stop).any():
        ax.plot(x, stop, drawstyle="steps-post", color=STOP, linestyle="--", linewidth=1.2,
                label=f"stop {levels.stop_level:,.2f}")
    ax.hlines(levels.target, x[0], x[-1], color=TARGET, linestyle="--", linewidth=1.2,
              label=f"target {levels.target:,.2f}")
    if np.isfinite(trail).any():
        # The trail can live for seconds of a long holding: mark where it starts.
        lock = int(np.flatnonzero(np.isfinite(trail))[0])
        ax.plot(x, trail, drawstyle="steps-post", color=TRAIL, linewidth=1.8,
                label=f"trailing stop (last {np.nanmax(trail):,.2f})")
        ax.scatter([x[lock]], [trail[lock]], marker="D", s=40, color=TRAIL, zorder=6,
                   edgecolors="white", label=f"breakeven lock {_hhmm(x[lock])}")


def _premium_limits(ax: Axes, shown: np.ndarray, trade: TradeRecord,
                    levels: ExitLevels) -> str:
    """Fit the y-axis to the premium; a stop or target far outside is named in the returned
    note, not drawn, so a 60% target does not squash a 5% move into a flat line."""
    values = np.concatenate([shown, [trade.entry_price, trade.exit_price],
                             levels.trail[np.isfinite(levels.trail)]])
    low, high = float(values.min()), float(values.max())
    reach = max(high - low, 0.02 * trade.entry_price) * 0.6
    notes = []
    for name, level in (("stop", levels.stop_level), ("target", levels.target)):
        if low - reach <= level <= high + reach:
            low, high = min(low, level), max(high, level)
        else:
            notes.append(f"{name} {level:,.2f} {'above' if level > high else 'below'}")
    margin = max(high - low, 0.02 * trade.entry_price) * 0.08
    ax.set_ylim(low - margin, high + margin)
    notes = [f"off chart: {', '.join(notes)}"] if notes else []
    return " · ".join([*notes, f"journal HWM {trade.hwm:,.2f}"])


def _hhmm(when: np.datetime64) -> str:
    return str(when)[11:19]

