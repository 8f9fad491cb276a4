"""Run metrics after charges, computed from the journalled trades and days.

Written by hand: backtrader's analyzers only see a Cerebro run (a replay has none, and a
report is rebuilt from the database long after), and no maintained performance library
is a dependency here. Conventions, stated once:

- A trade is a win when its net P&L (after charges) is > 0, a loss when < 0; a scratch
  (exactly 0) is neither, but counts in the trade total and so lowers the win rate.
- Daily P&L covers every session of the run, zero on sessions without trades.
- Sharpe = mean(daily net P&L) / stdev(daily net P&L, ddof=1) * sqrt(252); Sortino = mean /
  downside deviation * sqrt(252), the downside deviation being sqrt(mean(min(pnl, 0)^2)) over
  all sessions; risk-free rate 0. Both are None with fewer than two sessions or a zero
  denominator: a ratio that does not exist is shown as "-", never as inf or NaN.
- Equity is the starting capital plus the cumulative net P&L of trades in exit order; the
  drawdown is measured on that closed-trade curve, in rupees and in % of the starting
  capital. Its duration counts sessions from the peak's session to the session equity got
  back to the peak (or the last session when it never did), both included.
- Exposure (time in market) is the time at least one position was open over the session
  time (sessions x 09:15-15:30); position time is the plain sum of holding times over the
  same, so it exceeds exposure when positions overlap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.calendar import SESSION_CLOSE, SESSION_OPEN
from core.clock import to_ist
from strategies.records import DecisionRecord, TradeRecord

TRADING_DAYS_PER_YEAR = 252
ANNUALISATION = math.sqrt(TRADING_DAYS_PER_YEAR)
SESSION_MINUTES = ((SESSION_CLOSE.hour * 60 + SESSION_CLOSE.minute)
                   - (SESSION_OPEN.hour * 60 + SESSION_OPEN.minute))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class GroupStats:
    """Trades sharing one key (an exit reason, a side, an entry hour, a weekday)."""

    key: str
    trades: int
    wins: int
    net_pnl: float
    win_rate: float  # percent
    avg_pnl: float


@dataclass(frozen=True)
class Drawdown:
    """The deepest fall of the equity curve below a previous peak."""

    rupees: float
    pct_of_capital: float
    peak_at: datetime | None
    trough_at: datetime | None
    sessions: int
    recovered: bool


@dataclass(frozen=True)
class RunMetrics:
    """Everything the report's metrics table shows; None = not defined for this run."""

    sessions: int
    start_capital: float
    end_equity: float
    return_pct: float
    trades: int
    wins: int
    losses: int
    gross_pnl: float
    charges: float
    net_pnl: float
    win_rate: float | None
    avg_win: float | None
    avg_loss: float | None
    payoff_ratio: float | None
    profit_factor: float | None
    expectancy: float | None
    drawdown: Drawdown
    sharpe: float | None
    sortino: float | None
    exposure_pct: float | None
    position_time_pct: float | None
    avg_holding_minutes: float | None
    best_day: tuple[date, float] | None
    worst_day: tuple[date, float] | None
    longest_losing_streak: int
    by_exit_reason: tuple[GroupStats, ...]
    by_side: tuple[GroupStats, ...]
    by_entry_hour: tuple[GroupStats, ...]
    by_weekday: tuple[GroupStats, ...]


def by_exit_time(trades: Iterable[TradeRecord]) -> list[TradeRecord]:
    """Trades in the order they closed (ties by entry time)."""
    return sorted(trades, key=lambda t: (t.exit_at, t.entry_at))


def daily_pnl(trades: Iterable[TradeRecord], sessions: Iterable[date]) -> list[tuple[date, float]]:
    """Net P&L per session, zero on sessions without trades, sorted by day.

    A trade on a day missing from ``sessions`` still counts (its day is added).
    """
    totals = dict.fromkeys(sessions, 0.0)
    for trade in trades:
        totals[trade.day] = totals.get(trade.day, 0.0) + trade.net_pnl
    return sorted(totals.items())


def equity_curve(trades: Sequence[TradeRecord], capital: float,
                 start: datetime | None = None) -> list[tuple[datetime | None, float]]:
    """(time, equity) from ``capital`` at ``start``, then after each trade in exit order."""
    points: list[tuple[datetime | None, float]] = [(start, capital)]
    equity = capital
    for trade in by_exit_time(trades):
        equity += trade.net_pnl
        points.append((trade.exit_at, equity))
    return points


def max_drawdown(curve: Sequence[tuple[datetime | None, float]], capital: float,
                 sessions: Sequence[date]) -> Drawdown:
    """The deepest drawdown of ``curve`` (a point without a time is the run's start)."""
    peak_i = best_peak = best_trough = 0
    depth = 0.0
    for i, (_, equity) in enumerate(curve):
        if equity >= curve[peak_i][1]:
            peak_i = i
        elif curve[peak_i][1] - equity > depth:
            depth, best_peak, best_trough = curve[peak_i][1] - equity, peak_i, i
    if depth <= 0:
        return Drawdown(0.0, 0.0, None, None, 0, True)
    peak_value = curve[best_peak][1]
    recovery = next((i for i in range(best_trough, len(curve)) if curve[i][1] >= peak_value),
                    None)
    index = {day: i for i, day in enumerate(sessions)}
    last = max(len(sessions) - 1, 0)

    def session_of(when: datetime | None) -> int:
        return 0 if when is None else index.get(to_ist(when).date(), last)

    end = last if recovery is None else session_of(curve[recovery][0])
    return Drawdown(rupees=depth, pct_of_capital=100.0 * depth / capital,
                    peak_at=curve[best_peak][0], trough_at=curve[best_trough][0],
                    sessions=end - session_of(curve[best_peak][0]) + 1,
                    recovered=recovery is not None)


def sharpe_ratio(daily: Sequence[float]) -> float | None:
    """Annualised Sharpe of daily P&L (risk-free 0, sample stdev); None when undefined."""
    if len(daily) < 2:
        return None
    mean = sum(daily) / len(daily)
    variance = sum((x - mean) ** 2 for x in daily) / (len(daily) - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * ANNUALISATION


def sortino_ratio(daily: Sequence[float]) -> float | None:
    """Annualised Sortino of daily P&L (target 0); None without a losing session."""
    if len(daily) < 2:
        return None
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in daily) / len(daily))
    if downside <= 0:
        return None
    return sum(daily) / len(daily) / downside * ANNUALISATION


def time_in_market(trades: Iterable[TradeRecord]) -> timedelta:
    """Time at least one position was open (overlapping holdings counted once)."""
    total = timedelta(0)
    end: datetime | None = None
    for trade in sorted(trades, key=lambda t: t.entry_at):
        start = trade.entry_at if end is None else max(trade.entry_at, end)
        if trade.exit_at > start:
            total += trade.exit_at - start
        end = trade.exit_at if end is None else max(end, trade.exit_at)
    return total


def longest_losing_streak(trades: Iterable[TradeRecord]) -> int:
    """Most consecutive losing trades in exit order (a scratch ends a streak)."""
    longest = current = 0
    for trade in by_exit_time(trades):
        current = current + 1 if trade.net_pnl < 0 else 0
        longest = max(longest, current)
    return longest


def group_stats(trades: Iterable[TradeRecord], key: Callable[[TradeRecord], str],
                order: Sequence[str] | None = None) -> tuple[GroupStats, ...]:
    """Stats per key, in ``order`` (keys absent from it last, sorted), else most trades first."""
    groups: dict[str, list[TradeRecord]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    stats = [_stats(name, members) for name, members in groups.items()]
    if order is None:
        return tuple(sorted(stats, key=lambda s: (-s.trades, s.key)))
    rank = {name: i for i, name in enumerate(order)}
    return tuple(sorted(stats, key=lambda s: (rank.get(s.key, len(rank)), s.key)))


def _stats(key: str, trades: list[TradeRecord]) -> GroupStats:
    wins = sum(1 for t in trades if t.net_pnl > 0)
    net = sum(t.net_pnl for t in trades)
    return GroupStats(key=key, trades=len(trades), wins=wins, net_pnl=net,
                      win_rate=100.0 * wins / len(trades), avg_pnl=net / len(trades))


def entry_hour(trade: TradeRecord) -> str:
    """The IST hour the trade was entered, as ``09:00``."""
    return f"{to_ist(trade.entry_at).hour:02d}:00"


def weekday(trade: TradeRecord) -> str:
    return WEEKDAYS[trade.day.weekday()]


def compute_metrics(trades: Sequence[TradeRecord], sessions: Sequence[date],
                    capital: float) -> RunMetrics:
    """All metrics of a run of ``sessions`` starting from ``capital`` (see module doc)."""
    if not capital > 0:
        raise ValueError(f"starting capital must be > 0, got {capital!r}")
    daily = daily_pnl(trades, sessions)
    days = [day for day, _ in daily]
    wins = [t.net_pnl for t in trades if t.net_pnl > 0]
    losses = [t.net_pnl for t in trades if t.net_pnl < 0]
    net = sum(t.net_pnl for t in trades)
    session_time = timedelta(minutes=SESSION_MINUTES) * len(days)
    holding = sum((t.exit_at - t.entry_at for t in trades), timedelta(0))
    curve = equity_curve(trades, capital)
    return RunMetrics(
        sessions=len(days), start_capital=capital, end_equity=capital + net,
        return_pct=100.0 * net / capital, trades=len(trades), wins=len(wins),
        losses=len(losses), gross_pnl=sum(t.gross_pnl for t in trades),
        charges=sum(t.charges for t in trades), net_pnl=net,
        win_rate=_ratio(100.0 * len(wins), len(trades)),
        avg_win=_ratio(sum(wins), len(wins)), avg_loss=_ratio(sum(losses), len(losses)),
        payoff_ratio=_payoff(wins, losses),
        profit_factor=_ratio(sum(wins), -sum(losses)) if wins or losses else None,
        expectancy=_ratio(net, len(trades)),
        drawdown=max_drawdown(curve, capital, days),
        sharpe=sharpe_ratio([pnl for _, pnl in daily]),
        sortino=sortino_ratio([pnl for _, pnl in daily]),
        exposure_pct=_ratio(100.0 * time_in_market(trades).total_seconds(),
                            session_time.total_seconds()),
        position_time_pct=_ratio(100.0 * holding.total_seconds(), session_time.total_seconds()),
        avg_holding_minutes=_ratio(holding.total_seconds() / 60.0, len(trades)),
        best_day=max(daily, key=lambda d: d[1]) if daily else None,
        worst_day=min(daily, key=lambda d: d[1]) if daily else None,
        longest_losing_streak=longest_losing_streak(trades),
        by_exit_reason=group_stats(trades, lambda t: t.exit_reason),
        by_side=group_stats(trades, lambda t: t.option_type, order=("CE", "PE")),
        by_entry_hour=group_stats(trades, entry_hour, order=[f"{h:02d}:00" for h in range(24)]),
        by_weekday=group_stats(trades, weekday, order=WEEKDAYS),
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _payoff(wins: list[float], losses: list[float]) -> float | None:
    if not wins or not losses:
        return None
    return (sum(wins) / len(wins)) / abs(sum(losses) / len(losses))


@dataclass(frozen=True)
class DayDecisions:
    """One session's decision log in numbers."""

    day: date
    evaluations: int
    signals: int
    taken: int
    rejected: int
    top_failed_check: str


@dataclass(frozen=True)
class DecisionSummary:
    """How many bars were evaluated, how many gave a signal, and why signals were rejected.

    The strategy journals one ``signal`` or ``entry`` decision per closed bar: ``signal``
    with direction ``avoid`` is no signal; any other direction is a signal, rejected by
    validation (kind ``signal``), by the strike choice, the entry guard or sizing (kind
    ``entry``, not taken), or taken. A failed check counts once per rejected signal;
    per-strike checks (``strike NIFTY ... CE``) count under ``strike``.
    """

    evaluations: int
    signals: int
    taken: int
    rejected: int
    rejected_by_reason: tuple[tuple[str, int], ...]
    failed_checks: tuple[tuple[str, int], ...]
    other_kinds: tuple[tuple[str, int], ...]
    per_day: tuple[DayDecisions, ...]


SIGNAL_KINDS = frozenset({"signal", "entry"})
NO_SIGNAL_DIRECTIONS = frozenset({"", "avoid"})


def _is_signal(decision: DecisionRecord) -> bool:
    return decision.kind in SIGNAL_KINDS and decision.direction not in NO_SIGNAL_DIRECTIONS


def _failed_names(decision: DecisionRecord) -> set[str]:
    return {check.name.split(" ", 1)[0] for check in decision.checks if not check.passed}


def _counted(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def decision_summary(decisions: Iterable[DecisionRecord]) -> DecisionSummary:
    """Count a run's decisions (see :class:`DecisionSummary`)."""
    decisions = list(decisions)
    signals = [d for d in decisions if _is_signal(d)]
    rejected = [d for d in signals if not d.taken]
    failed: Counter[str] = Counter()
    for decision in rejected:
        failed.update(_failed_names(decision))
    by_day: dict[date, list[DecisionRecord]] = {}
    for decision in decisions:
        by_day.setdefault(to_ist(decision.at).date(), []).append(decision)
    return DecisionSummary(
        evaluations=sum(1 for d in decisions if d.kind in SIGNAL_KINDS),
        signals=len(signals), taken=sum(1 for d in signals if d.taken), rejected=len(rejected),
        rejected_by_reason=_counted(Counter(d.reason.split(":", 1)[0] for d in rejected)),
        failed_checks=_counted(failed),
        other_kinds=_counted(Counter(d.kind for d in decisions if d.kind not in SIGNAL_KINDS)),
        per_day=tuple(_day_decisions(day, members) for day, members in sorted(by_day.items())),
    )


def _day_decisions(day: date, decisions: list[DecisionRecord]) -> DayDecisions:
    signals = [d for d in decisions if _is_signal(d)]
    failed: Counter[str] = Counter()
    for decision in signals:
        if not decision.taken:
            failed.update(_failed_names(decision))
    top = _counted(failed)
    return DayDecisions(
        day=day, evaluations=sum(1 for d in decisions if d.kind in SIGNAL_KINDS),
        signals=len(signals), taken=sum(1 for d in signals if d.taken),
        rejected=sum(1 for d in signals if not d.taken),
        top_failed_check=f"{top[0][0]} ({top[0][1]})" if top else "")
