"""Render the report HTML from Jinja2 templates (``reports/templates``), and the number
formats the report uses: Indian digit grouping for rupees, "-" for anything undefined.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.clock import to_ist
from reports.metrics import RunMetrics

TEMPLATES = Path(__file__).resolve().parent / "templates"
MISSING = "-"


def _undefined(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def group_indian(digits: str) -> str:
    """``"1234567"`` -> ``"12,34,567"`` (thousands, then lakhs and crores)."""
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    pairs = [head[max(i - 2, 0):i] for i in range(len(head), 0, -2)][::-1]
    return ",".join(pairs) + "," + tail


def inr(value: float | None, decimals: int = 2) -> str:
    """Rupees with Indian grouping, ``-1,23,456.70``; "-" when undefined."""
    if value is None or not math.isfinite(value):
        return MISSING
    text = f"{abs(value):.{decimals}f}"
    whole, _, fraction = text.partition(".")
    sign = "-" if value < 0 and float(text) != 0 else ""
    return sign + group_indian(whole) + (f".{fraction}" if fraction else "")


def rupee(value: float | None, decimals: int = 2) -> str:
    """``-₹1,23,456.70``: the sign before the symbol; "-" when undefined."""
    text = inr(value, decimals)
    if text == MISSING:
        return text
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


def number(value: float | None, decimals: int = 2) -> str:
    return MISSING if _undefined(value) else f"{value:,.{decimals}f}"


def percent(value: float | None, decimals: int = 1) -> str:
    return MISSING if _undefined(value) else f"{value:.{decimals}f}%"


def ist(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A UTC instant as IST wall time."""
    return MISSING if when is None else to_ist(when).strftime(fmt)


def png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the HTML needs no other file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def metric_rows(m: RunMetrics) -> list[tuple[str, str]]:
    """(label, value) rows of the metrics table, in reading order."""
    dd = m.drawdown
    dd_span = MISSING if not dd.rupees else (
        f"{dd.sessions} session(s), {ist(dd.peak_at, '%d %b %H:%M') if dd.peak_at else 'run start'}"
        f" → {ist(dd.trough_at, '%d %b %H:%M')}, " + ("recovered" if dd.recovered
                                                     else "not recovered"))
    return [
        ("Sessions", str(m.sessions)),
        ("Starting capital (₹)", inr(m.start_capital)),
        ("Ending equity (₹)", inr(m.end_equity)),
        ("Return on starting capital", percent(m.return_pct, 2)),
        ("Net P&L after charges (₹)", inr(m.net_pnl)),
        ("Gross P&L (₹)", inr(m.gross_pnl)),
        ("Charges paid (₹)", inr(m.charges)),
        ("Trades (wins / losses)", f"{m.trades} ({m.wins} / {m.losses})"),
        ("Win rate", percent(m.win_rate)),
        ("Average win (₹)", inr(m.avg_win)),
        ("Average loss (₹)", inr(m.avg_loss)),
        ("Payoff ratio (avg win / avg loss)", number(m.payoff_ratio)),
        ("Profit factor (gross wins / gross losses)", number(m.profit_factor)),
        ("Expectancy per trade (₹)", inr(m.expectancy)),
        ("Max drawdown (₹)", inr(dd.rupees)),
        ("Max drawdown (% of starting capital)", percent(dd.pct_of_capital, 2)),
        ("Max drawdown duration", dd_span),
        ("Sharpe (daily net P&L, ×√252, rf 0)", number(m.sharpe)),
        ("Sortino (daily net P&L, ×√252, target 0)", number(m.sortino)),
        ("Exposure (time in market / session time)", percent(m.exposure_pct)),
        ("Position time (sum of holdings / session time)", percent(m.position_time_pct)),
        ("Average holding time", MISSING if m.avg_holding_minutes is None
         else f"{m.avg_holding_minutes:.1f} min"),
        ("Best day (₹)", _day(m.best_day)),
        ("Worst day (₹)", _day(m.worst_day)),
        ("Longest losing streak (trades)", str(m.longest_losing_streak)),
    ]


def _day(day: tuple[Any, float] | None) -> str:
    return MISSING if day is None else f"{inr(day[1])} on {day[0]:%a %d %b %Y}"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
        enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(inr=inr, rupee=rupee, number=number, percent=percent, ist=ist)
    return env


def render(template: str, **context: Any) -> str:
    """Render ``reports/templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)
