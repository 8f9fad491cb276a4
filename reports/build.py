"""Build a run's report folder from the journal (and the catalog, for the day charts).

``<out_dir>/<run_id>/`` holds ``report.html`` (self-contained: charts embedded), the PNG
charts, and the trade log as ``trades.csv`` and ``trades.parquet``. The folder is built
next to its final place and swapped in whole, so a failed build never leaves half a report
and a rebuild replaces the old one. Everything comes from the database and the run's own
stored config, so rebuilding an old run's report gives the same numbers.

``<out_dir>/compare-<a>-<b>/report.html`` puts several runs side by side.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from core.calendar import SESSION_OPEN
from core.clock import ist_to_utc
from core.errors import ConfigError
from feeds.catalog import Catalog
from reports import dayplots, plots
from reports.daydata import RunSettings, exit_levels, index_day, premium_paths, run_settings
from reports.html import metric_rows, png_data_uri, render
from reports.journal import Journal, RunRow
from reports.metrics import (
    RunMetrics,
    compute_metrics,
    daily_pnl,
    decision_summary,
    equity_curve,
)
from reports.tradelog import write_trade_log
from strategies.records import DayRecord, TradeRecord

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
# Each drawn day adds an index chart and one chart per trade (size and build time): past
# this many days with trades, only the best and worst are drawn.
DEFAULT_MAX_DAY_CHARTS = 10
DEFAULT_MAX_TRADE_CHARTS = 40
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ChartLimits:
    """Which days get charts: ``days`` if given, else up to ``max_days`` days with trades;
    at most ``max_trades`` premium charts in all."""

    max_days: int
    max_trades: int
    days: tuple[date, ...] = ()


@dataclass(frozen=True)
class RunData:
    """A run as the report sees it: journal rows plus what is derived from them."""

    run: RunRow
    trades: list[TradeRecord]  # in entry order: a trade's number is its index + 1
    sessions: list[date]
    settings: RunSettings
    metrics: RunMetrics


def load_run(journal: Journal, run_id: str) -> RunData:
    """Read a run from the journal and compute its metrics."""
    run = journal.run(run_id)
    trades = sorted(journal.trades(run_id), key=lambda t: (t.entry_at, t.exit_at))
    day_records = journal.days(run_id)
    sessions = sessions_of(run, day_records, trades)
    settings = run_settings(run.config_yaml, run.id)
    capital = day_records[0].start_balance if day_records else settings.capital
    return RunData(run, trades, sessions, settings, compute_metrics(trades, sessions, capital))


def sessions_of(run: RunRow, days: Sequence[DayRecord], trades: Sequence[TradeRecord]
                ) -> list[date]:
    """Sessions the run traded: its day records (else its planned days), plus trade days."""
    planned = [d.day for d in days] or list(run.days)
    return sorted(set(planned) | {t.day for t in trades})


def build_report(journal: Journal, run_id: str, out_dir: str | Path,
                 catalog: Catalog | None = None, *,
                 max_day_charts: int = DEFAULT_MAX_DAY_CHARTS,
                 max_trade_charts: int = DEFAULT_MAX_TRADE_CHARTS,
                 chart_days: Sequence[date] | None = None) -> Path:
    """Write ``<out_dir>/<run_id>/`` and return that folder.

    ``catalog`` supplies the index bars and option prices of the day charts (without it
    they say "no data"). ``chart_days`` picks the days to draw; by default every day with
    a trade, or the worst and best ``max_day_charts`` of them; at most
    ``max_trade_charts`` premium charts are drawn in all (charts cost build time).
    """
    limits = ChartLimits(max_day_charts, max_trade_charts, tuple(chart_days or ()))
    data = load_run(journal, _folder_name(run_id))
    decisions = decision_summary(journal.decisions(run_id))
    with _staging(Path(out_dir), run_id) as folder:
        write_trade_log(data.trades, folder)
        charts = _summary_charts(data, folder)
        days, note = _day_sections(data, catalog, folder, limits)
        html = render("report.html.j2", run=data.run, metrics=data.metrics,
                      metric_rows=metric_rows(data.metrics), charts=charts, days=days,
                      day_note=note, trades=_trade_rows(data.trades), decisions=decisions,
                      data_range=data_range(data.sessions),
                      rebuild_command=rebuild_command(data.run))
        (folder / REPORT_FILE).write_text(html, encoding="utf-8")
    return Path(out_dir) / run_id


def run_start(sessions: Sequence[date]) -> datetime | None:
    """The open of the run's first session (where its equity curve starts)."""
    return ist_to_utc(sessions[0], SESSION_OPEN) if sessions else None


def data_range(sessions: Sequence[date]) -> str:
    if not sessions:
        return "no sessions"
    return f"{sessions[0]} to {sessions[-1]} ({len(sessions)} session(s))"


def rebuild_command(run: RunRow) -> str:
    """The command line that rebuilds this report (keeps the run's data.root / db.url)."""
    try:
        kept = [arg for arg in shlex.split(run.overrides)
                if arg.startswith(("data.root=", "db.url=", "report.out_dir="))]
    except ValueError:
        kept = []
    return " ".join(["python main.py mode=report", f"run.id={run.id}",
                     *(shlex.quote(arg) for arg in kept)])


def _summary_charts(data: RunData, folder: Path) -> list[dict[str, str]]:
    curve = equity_curve(data.trades, data.metrics.start_capital, run_start(data.sessions))
    daily = daily_pnl(data.trades, data.sessions)
    made = [
        ("Equity and drawdown", plots.plot_equity(curve, data.sessions, data.metrics,
                                                  folder / "equity.png")),
        ("Daily net P&L", plots.plot_daily_pnl(daily, folder / "daily_pnl.png")),
        ("Trade P&L distribution", plots.plot_trade_histogram(
            data.trades, folder / "pnl_histogram.png")),
        ("Exits by reason", plots.plot_exit_reasons(data.metrics.by_exit_reason,
                                                    folder / "exit_reasons.png")),
    ]
    return [{"title": title, "uri": png_data_uri(path)} for title, path in made]


def choose_chart_days(daily: Sequence[tuple[date, float]], traded: set[date],
                      limit: int) -> list[date]:
    """Days with trades; past ``limit``, the worst and best half each, in date order."""
    candidates = [(day, pnl) for day, pnl in daily if day in traded]
    if len(candidates) <= limit:
        return [day for day, _ in candidates]
    ranked = sorted(candidates, key=lambda d: (d[1], d[0]))
    worst = ranked[:limit // 2]
    best = ranked[len(ranked) - (limit - len(worst)):]
    return sorted(day for day, _ in worst + best)


def _day_sections(data: RunData, catalog: Catalog | None, folder: Path, limits: ChartLimits
                  ) -> tuple[list[dict[str, Any]], str]:
    daily = dict(daily_pnl(data.trades, data.sessions))
    traded = {t.day for t in data.trades}
    days = sorted(limits.days) if limits.days else choose_chart_days(
        sorted(daily.items()), traded, limits.max_days)
    notes = []
    if not limits.days and len(days) < len(traded):
        notes.append(f"{len(traded)} days had trades; the {len(days)} with the lowest and "
                     "highest net P&L are drawn (build_report(chart_days=...) draws others).")
    numbered = list(enumerate(data.trades, start=1))
    budget = limits.max_trades
    sections = []
    for day in days:
        on_day = [(n, t) for n, t in numbered if t.day == day]
        drawn = on_day[:max(budget, 0)]
        budget -= len(drawn)
        sections.append(_day_section(data, catalog, folder, day, on_day, drawn,
                                     daily.get(day, 0.0)))
    on_drawn_days = sum(section["trades"] for section in sections)
    if budget <= 0 and on_drawn_days > limits.max_trades:
        notes.append(f"Premium charts are drawn for the first {limits.max_trades} of the "
                     f"{on_drawn_days} trades on these days.")
    return sections, " ".join(notes)


def _day_section(data: RunData, catalog: Catalog | None, folder: Path, day: date,
                 trades: list[tuple[int, TradeRecord]], drawn: list[tuple[int, TradeRecord]],
                 net_pnl: float) -> dict[str, Any]:
    """The index chart of ``day`` with all its ``trades``; premium charts of ``drawn``."""
    underlying = data.run.underlying
    index = index_day(catalog, underlying, day, data.settings) if catalog else None
    prices = premium_paths(catalog, underlying, day, [t.security_id for _, t in drawn],
                           prefer_bars=data.run.mode == "backtest") if catalog and drawn else {}
    st = data.settings
    index_png = dayplots.plot_index_day(
        day, underlying, index, trades, folder / f"day-{day.isoformat()}.png",
        f"Supertrend({st.supertrend_period}, {st.supertrend_multiplier:g}) "
        f"on {st.primary_minutes}m bars")
    premium_uris = []
    for number, trade in drawn:
        path = prices.get(trade.security_id)
        levels = exit_levels(path, trade, data.settings) if path else None
        png = dayplots.plot_trade_premium(number, trade, path, levels,
                                          folder / f"trade-{number:04d}.png")
        premium_uris.append(png_data_uri(png))
    return {"day": day, "trades": len(trades), "net_pnl": net_pnl,
            "index_uri": png_data_uri(index_png), "premium_uris": premium_uris}


def _trade_rows(trades: Sequence[TradeRecord]) -> list[dict[str, Any]]:
    return [{"number": n, **{name: getattr(t, name) for name in (
        "symbol", "option_type", "entry_at", "entry_price", "exit_at", "exit_price",
        "quantity", "lots", "gross_pnl", "charges", "net_pnl", "exit_tag")}}
            for n, t in enumerate(trades, start=1)]


def build_comparison(journal: Journal, run_ids: Sequence[str], out_dir: str | Path,
                     name: str | None = None) -> Path:
    """Write ``<out_dir>/compare-<a>-<b>.../`` (or ``<out_dir>/<name>/``): metrics side by
    side, overlaid equity. A sweep of many runs names its folder, the ids would not fit."""
    if len(run_ids) < 2:
        raise ConfigError(f"a comparison needs two or more run ids, got {list(run_ids)}")
    runs = [load_run(journal, _folder_name(run_id)) for run_id in run_ids]
    name = _folder_name(name) if name else "compare-" + "-".join(run_ids)
    sessions = sorted({day for r in runs for day in r.sessions})
    labels = [label for label, _ in metric_rows(runs[0].metrics)]
    values = [[value for _, value in metric_rows(r.metrics)] for r in runs]
    with _staging(Path(out_dir), name) as folder:
        series = [plots.EquitySeries(r.run.id, equity_curve(
            r.trades, r.metrics.start_capital, run_start(r.sessions))) for r in runs]
        chart = plots.plot_equity_overlay(series, sessions, folder / "equity.png")
        html = render("compare.html.j2", runs=[r.run for r in runs],
                      ranges=[data_range(r.sessions) for r in runs],
                      trade_counts=[len(r.trades) for r in runs],
                      differences=config_differences([r.run.config_yaml for r in runs]),
                      rows=[(label, [v[i] for v in values]) for i, label in enumerate(labels)],
                      equity_uri=png_data_uri(chart))
        (folder / REPORT_FILE).write_text(html, encoding="utf-8")
    return Path(out_dir) / name


def config_differences(config_yamls: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Dotted keys whose values differ between the configs (a missing key shows "-")."""
    flat = [_flatten(yaml.safe_load(text) or {}) for text in config_yamls]
    keys = sorted(set().union(*flat))
    rows = []
    for key in keys:
        values = [str(f[key]) if key in f else "-" for f in flat]
        if len(set(values)) > 1:
            rows.append((key, values))
    return rows


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat |= _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {
            f"{prefix}{key}": value}
    return flat


def _folder_name(run_id: str) -> str:
    if not _FOLDER_NAME.match(run_id):
        raise ConfigError(f"run.id={run_id!r}: a run id is letters, digits, '_', '.', '-'")
    return run_id


@contextmanager
def _staging(out_dir: Path, name: str) -> Iterator[Path]:
    """A hidden folder in ``out_dir`` that becomes ``out_dir/name`` when the block succeeds."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    staging.chmod(0o755)  # mkdtemp makes it owner-only; a report is for reading
    try:
        yield staging
        final = out_dir / name
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=out_dir))
            final.rename(old / name)
            staging.rename(final)
            shutil.rmtree(old)
        else:
            staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
