"""Run the scalper over days: one cerebro per session, balances carried between them.

Days are independent given their warm-up bars (positions are flat by the close, the breaker
resets each session), which is what lets a later issue spread them over workers. With
``risk.capital_mode=compounding`` each day starts from the previous day's closing balance;
with ``fixed`` every day starts from ``risk.capital``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import backtrader as bt

from brokers.fills import FillParams
from brokers.sim_broker import SimBroker
from core.calendar import TradingCalendar
from core.config import AppConfig
from core.errors import DataError
from core.gc_policy import day_run_collections
from feeds.catalog import Catalog
from feeds.replay import ReplayStore
from strategies.records import DayRecord, DecisionRecord, JournalSink
from strategies.scalper import Scalper
from strategies.setup import StrategySetup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayResult:
    day: date
    start_balance: float
    end_balance: float
    realised_pnl: float
    charges: float
    trades: int
    breaker_tripped: bool
    next_order_number: int
    primary_bars: int = 0  # session bars the strategy evaluated, per timeframe
    confirm_bars: int = 0
    engine_steps: int = 0  # backtrader steps the day took (the shortcuts take fewer)


def run_day(app: AppConfig, setup: StrategySetup, catalog: Catalog, calendar: TradingCalendar,
            day: date, balance: float, journal: JournalSink,
            first_order_number: int = 1, batch_bar_paths: bool = True,
            take_bars: bool = True) -> DayResult:
    """Replay one session through the strategy; raises DataError if the day is unusable.

    ``mode=backtest`` replays the day's 1m bars, every other mode its ticks. The two flags
    are engine shortcuts with identical results; False gives the slower reference: one
    engine step per bar path quote, and per index bar even when flat without a signal.
    With both (bar mode) the strategy takes every bar itself and the day needs no engine
    step; in tick mode only idle bars are taken.
    """
    source = "bars" if app.mode.name == "backtest" else "ticks"
    store = ReplayStore(catalog, app.index, calendar, day, app.strategy.warmup_sessions,
                        source, app.broker.bar_half_spread_ticks)
    store.batch_bar_paths = batch_bar_paths
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=False,
                         quicknotify=True)
    store.add_feeds(cerebro, app.risk.max_positions)
    fill_params = FillParams.from_config(app.broker, app.index.tick_size)

    def params_for(_slot: object) -> FillParams:
        return fill_params

    cerebro.setbroker(SimBroker(balance, params_for, setup.schedule, app.index.exchange, day,
                                fill_on_decision_quote=source == "bars"))
    cerebro.addstrategy(Scalper, setup=setup, market=store, journal=journal,
                        session_open_ns=store.session_open_ns, warmup=store.warmup_bars,
                        first_order_number=first_order_number,
                        take_bars=take_bars)
    strategy = cerebro.run()[0]
    broker = cerebro.getbroker()
    result = DayResult(day=day, start_balance=balance, end_balance=round(broker.getcash(), 2),
                       realised_pnl=round(strategy.book.realised, 2),
                       charges=round(strategy.book.charges, 2), trades=strategy.book.trades,
                       breaker_tripped=strategy.breaker_latched,
                       next_order_number=strategy.order_number,
                       primary_bars=strategy.tf1.seen, confirm_bars=strategy.tf5.seen,
                       engine_steps=len(strategy))
    journal.day(DayRecord(day, result.start_balance, result.end_balance, result.realised_pnl,
                          result.charges, result.trades, result.breaker_tripped))
    return result


def run_days(app: AppConfig, setup: StrategySetup, catalog: Catalog,
             calendar: TradingCalendar, days: list[date], journal: JournalSink,
             progress: Callable[[DayResult | None, date], None] | None = None
             ) -> list[DayResult]:
    """Run ``days`` in order; a day that cannot be replayed is logged and skipped."""
    with day_run_collections():
        return _run_in_order(app, setup, catalog, calendar, days, journal, progress)


def _run_in_order(app: AppConfig, setup: StrategySetup, catalog: Catalog,
                  calendar: TradingCalendar, days: list[date], journal: JournalSink,
                  progress: Callable[[DayResult | None, date], None] | None
                  ) -> list[DayResult]:
    results: list[DayResult] = []
    balance = app.risk.capital
    order_number = 1
    for day in days:
        try:
            result = run_day(app, setup, catalog, calendar, day, balance, journal,
                             order_number)
        except DataError as e:
            log.error("skipping %s: %s", day, e)
            journal.decision(_skipped_day(day, str(e), calendar))
            if progress:
                progress(None, day)
            continue
        results.append(result)
        order_number = result.next_order_number
        if app.risk.capital_mode == "compounding":
            balance = result.end_balance
        if progress:
            progress(result, day)
    return results


def _skipped_day(day: date, reason: str, calendar: TradingCalendar) -> DecisionRecord:
    return DecisionRecord(at=calendar.session_bounds(day)[0], kind="skip", taken=False,
                          reason=f"day skipped: {reason}")
