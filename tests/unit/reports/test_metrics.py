"""Run metrics against a hand-made trade list whose answers were worked out by hand.

The book (capital 1,00,000; sessions Mon 7 - Thu 10 Oct 2024, no trade on Thursday):

====  ====  ====  ===========  =====  ======  =======  ==============
 #    day   side  entry-exit   gross  charge  net      exit reason
====  ====  ====  ===========  =====  ======  =======  ==============
 1    Mon   CE    09:30-10:00   1050      50    1000   trailing_stop
 2    Mon   PE    09:45-10:15   -450      50    -500   stop_loss
 3    Tue   CE    11:00-12:00  -1950      50   -2000   stop_loss
 4    Wed   CE    13:10-13:40   1550      50    1500   trailing_stop
 5    Wed   PE    14:00-14:30   -250      50    -300   time_exit
====  ====  ====  ===========  =====  ======  =======  ==============

Daily net P&L 500, -2000, 1200, 0: mean -75, sample stdev sqrt(5,667,500 / 3) = 1374.4696,
Sharpe -75 / 1374.4696 * sqrt(252) = -0.86622; downside deviation sqrt(2000^2 / 4) = 1000,
Sortino -75 / 1000 * sqrt(252) = -1.19059. Equity by exit: 1,01,000 / 1,00,500 / 98,500 /
1,00,000 / 99,700: drawdown 2,500 (2.5%) from Monday's peak, never recovered, so it spans
Mon..Thu = 4 sessions. Time in market: 45 (Mon, trades 1 and 2 overlap) + 60 + 60 = 165 min
of 4 x 375 = 1500 min = 11%; summed holdings 180 min = 12%.
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from core.clock import ist_to_utc
from reports.metrics import (
    GroupStats,
    compute_metrics,
    daily_pnl,
    decision_summary,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    time_in_market,
)
from strategies.logic.types import Check
from strategies.records import DecisionRecord, TradeRecord

MON, TUE, WED, THU = (date(2024, 10, d) for d in (7, 8, 9, 10))
SESSIONS = [MON, TUE, WED, THU]


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return ist_to_utc(day, time(hours, minutes))


def trade(day: date, side: str, entry: str, exit_: str, gross: float, net: float,
          reason: str) -> TradeRecord:
    return TradeRecord(
        day=day, security_id=1 if side == "CE" else 2, symbol=f"NIFTY 24500 {side}",
        option_type=side, strike=24500.0, expiry=date(2024, 10, 10), lots=1, quantity=25,
        entry_at=at(day, entry), entry_price=100.0, exit_at=at(day, exit_), exit_price=100.0,
        exit_reason=reason, exit_tag=f"{reason}_x", entry_tag="entry", gross_pnl=gross,
        charges=gross - net, net_pnl=net, hwm=100.0, breakeven_locked=False)


BOOK = [
    trade(MON, "CE", "09:30", "10:00", 1050, 1000, "trailing_stop"),
    trade(MON, "PE", "09:45", "10:15", -450, -500, "stop_loss"),
    trade(TUE, "CE", "11:00", "12:00", -1950, -2000, "stop_loss"),
    trade(WED, "CE", "13:10", "13:40", 1550, 1500, "trailing_stop"),
    trade(WED, "PE", "14:00", "14:30", -250, -300, "time_exit"),
]
METRICS = compute_metrics(BOOK, SESSIONS, 100_000.0)


@pytest.mark.parametrize(("name", "expected"), [
    ("sessions", 4),
    ("trades", 5),
    ("wins", 2),
    ("losses", 3),
    ("gross_pnl", -50.0),
    ("charges", 250.0),
    ("net_pnl", -300.0),
    ("end_equity", 99_700.0),
    ("return_pct", -0.3),
    ("win_rate", 40.0),
    ("avg_win", 1250.0),
    ("avg_loss", -2800.0 / 3),
    ("payoff_ratio", 1250.0 / (2800.0 / 3)),  # 1.339286
    ("profit_factor", 2500.0 / 2800.0),  # 0.892857
    ("expectancy", -60.0),
    ("sharpe", -0.866216),
    ("sortino", -1.190588),
    ("exposure_pct", 11.0),
    ("position_time_pct", 12.0),
    ("avg_holding_minutes", 36.0),
    ("longest_losing_streak", 2),
])
def test_metric_of_the_hand_made_book(name: str, expected: float) -> None:
    assert getattr(METRICS, name) == pytest.approx(expected, rel=1e-5)


def test_drawdown_of_the_hand_made_book() -> None:
    dd = METRICS.drawdown
    assert (dd.rupees, dd.pct_of_capital, dd.sessions, dd.recovered) == (2500.0, 2.5, 4, False)
    assert (dd.peak_at, dd.trough_at) == (at(MON, "10:00"), at(TUE, "12:00"))


def test_best_and_worst_day_of_the_hand_made_book() -> None:
    assert METRICS.best_day == (WED, 1200.0)
    assert METRICS.worst_day == (TUE, -2000.0)
    assert daily_pnl(BOOK, SESSIONS) == [(MON, 500.0), (TUE, -2000.0), (WED, 1200.0),
                                         (THU, 0.0)]


@pytest.mark.parametrize(("field", "expected"), [
    ("by_exit_reason", (GroupStats("stop_loss", 2, 0, -2500.0, 0.0, -1250.0),
                        GroupStats("trailing_stop", 2, 2, 2500.0, 100.0, 1250.0),
                        GroupStats("time_exit", 1, 0, -300.0, 0.0, -300.0))),
    ("by_side", (GroupStats("CE", 3, 2, 500.0, 200.0 / 3, 500.0 / 3),
                 GroupStats("PE", 2, 0, -800.0, 0.0, -400.0))),
    ("by_entry_hour", (GroupStats("09:00", 2, 1, 500.0, 50.0, 250.0),
                       GroupStats("11:00", 1, 0, -2000.0, 0.0, -2000.0),
                       GroupStats("13:00", 1, 1, 1500.0, 100.0, 1500.0),
                       GroupStats("14:00", 1, 0, -300.0, 0.0, -300.0))),
    ("by_weekday", (GroupStats("Mon", 2, 1, 500.0, 50.0, 250.0),
                    GroupStats("Tue", 1, 0, -2000.0, 0.0, -2000.0),
                    GroupStats("Wed", 2, 1, 1200.0, 50.0, 600.0))),
])
def test_breakdowns_of_the_hand_made_book(field: str, expected: tuple[GroupStats, ...]) -> None:
    assert getattr(METRICS, field) == pytest.approx(expected)


def test_no_trades_gives_undefined_ratios_not_errors() -> None:
    metrics = compute_metrics([], [MON], 100_000.0)
    assert (metrics.trades, metrics.net_pnl, metrics.longest_losing_streak) == (0, 0.0, 0)
    undefined = [metrics.win_rate, metrics.avg_win, metrics.avg_loss, metrics.payoff_ratio,
                 metrics.profit_factor, metrics.expectancy, metrics.sharpe, metrics.sortino,
                 metrics.avg_holding_minutes]
    assert undefined == [None] * len(undefined)
    assert (metrics.exposure_pct, metrics.drawdown.rupees) == (0.0, 0.0)
    assert metrics.by_exit_reason == ()


def test_one_winning_trade_on_one_day() -> None:
    metrics = compute_metrics(BOOK[:1], [MON], 100_000.0)
    assert (metrics.win_rate, metrics.avg_win, metrics.avg_loss) == (100.0, 1000.0, None)
    assert (metrics.payoff_ratio, metrics.profit_factor) == (None, None)
    assert (metrics.sharpe, metrics.sortino) == (None, None)
    assert metrics.drawdown.rupees == 0.0


def test_no_sessions_at_all() -> None:
    metrics = compute_metrics([], [], 50_000.0)
    assert (metrics.sessions, metrics.exposure_pct, metrics.best_day) == (0, None, None)


def test_capital_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capital"):
        compute_metrics([], [MON], 0.0)


@pytest.mark.parametrize(("daily", "sharpe", "sortino"), [
    ([100.0, -50.0, 250.0], 10.583005, 54.990908),  # 100/150*sqrt252; 100/sqrt(2500/3)*sqrt252
    ([100.0, 200.0], 33.674916, None),  # no losing day: no downside deviation
    ([5.0], None, None),  # one day: no stdev
    ([0.0, 0.0], None, None),  # flat: zero stdev
    ([-10.0, -10.0], None, -15.874508),  # constant losses: stdev 0, downside 10
])
def test_sharpe_and_sortino(daily: list[float], sharpe: float | None,
                            sortino: float | None) -> None:
    assert sharpe_ratio(daily) == (None if sharpe is None else pytest.approx(sharpe))
    assert sortino_ratio(daily) == (None if sortino is None else pytest.approx(sortino))


@pytest.mark.parametrize(("values", "rupees", "recovered", "sessions"), [
    ([100.0, 110.0, 90.0, 120.0], 20.0, True, 2),  # peak Mon, back above it on Tue
    ([100.0, 90.0, 95.0, 80.0], 20.0, False, 3),  # from the start, never recovered
    ([100.0, 101.0, 102.0], 0.0, True, 0),
])
def test_max_drawdown(values: list[float], rupees: float, recovered: bool,
                      sessions: int) -> None:
    times = [None, at(MON, "10:00"), at(TUE, "10:00"), at(TUE, "11:00")][:len(values)]
    dd = max_drawdown(list(zip(times, values, strict=True)), 1000.0, [MON, TUE, WED])
    assert (dd.rupees, dd.recovered, dd.sessions) == (rupees, recovered, sessions)
    assert dd.pct_of_capital == pytest.approx(rupees / 10)


def test_time_in_market_counts_overlaps_once() -> None:
    nested = [trade(MON, "CE", "10:00", "11:00", 0, 0, "x"),
              trade(MON, "PE", "10:15", "10:30", 0, 0, "x"),
              trade(MON, "CE", "12:00", "12:10", 0, 0, "x")]
    assert time_in_market(nested).total_seconds() == 70 * 60


def check(name: str, passed: bool) -> Check:
    return Check(name, passed, "")


def decision(day: date, hhmm: str, kind: str, taken: bool, reason: str, direction: str,
             *failed: str) -> DecisionRecord:
    checks = (check("warmup", True),) + tuple(check(name, False) for name in failed)
    return DecisionRecord(at=at(day, hhmm), kind=kind, taken=taken, reason=reason,
                          direction=direction, checks=checks)


def test_decision_summary_counts_signals_and_failed_checks() -> None:
    log = [
        decision(MON, "09:30", "signal", False, "no signal", "avoid", "adx_primary"),
        decision(MON, "09:31", "signal", False, "validation failed", "bullish", "iv_rank"),
        decision(MON, "09:32", "entry", False, "entry guard", "bullish", "cooldown",
                 "iv_rank"),
        decision(MON, "09:33", "entry", True, "buy 2 lot(s)", "bearish"),
        decision(MON, "09:40", "exit", True, "stop_loss_30pct", ""),
        decision(TUE, "09:30", "entry", False, "no chain: no expiry", "bearish",
                 "strike NIFTY 24500 CE", "strike NIFTY 24550 CE"),
    ]
    summary = decision_summary(log)
    assert (summary.evaluations, summary.signals, summary.taken, summary.rejected) == (
        5, 4, 1, 3)
    assert summary.rejected_by_reason == (("entry guard", 1), ("no chain", 1),
                                          ("validation failed", 1))
    assert summary.failed_checks == (("iv_rank", 2), ("cooldown", 1), ("strike", 1))
    assert summary.other_kinds == (("exit", 1),)
    monday, tuesday = summary.per_day
    assert (monday.day, monday.evaluations, monday.signals, monday.taken, monday.rejected,
            monday.top_failed_check) == (MON, 4, 3, 1, 2, "iv_rank (2)")
    assert (tuesday.signals, tuesday.rejected, tuesday.top_failed_check) == (1, 1, "strike (1)")


def test_decision_summary_of_nothing() -> None:
    summary = decision_summary([])
    assert (summary.evaluations, summary.signals, summary.rejected) == (0, 0, 0)
    assert (summary.failed_checks, summary.per_day) == ((), ())
