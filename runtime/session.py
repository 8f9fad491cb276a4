"""One paper session's engine: paced store, paper broker and the scalper in one cerebro.

:class:`RuntimeSink` sits between the strategy and the database journal: it forwards every
record and keeps the day's risk row current as it happens (so the breaker latch is durable
the moment it trips, not at the end of the day), shows the last decision to the health view,
and carries the ``kill_after_order`` fault knob used to test restarts.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from datetime import date
from typing import Any

import backtrader as bt

from brokers.fills import FillParams
from brokers.paper import PaperBroker
from core.config import AppConfig
from reports.journal import DbJournalSink
from runtime.status import RuntimeStatus
from sim.clock import ReplayClock
from strategies.records import (
    DayRecord,
    DecisionRecord,
    FillRecord,
    OrderRecord,
    OrderUpdateRecord,
    PositionRecord,
    TradeRecord,
)
from strategies.resume import OperatorView, ResumeState
from strategies.scalper import Scalper
from strategies.setup import StrategySetup

log = logging.getLogger(__name__)


class RuntimeSink:
    """A :class:`~strategies.records.JournalSink` over the run's database sink (module doc)."""

    def __init__(self, sink: DbJournalSink, status: RuntimeStatus, day: DayRecord,
                 kill_after_order: int = 0) -> None:
        self.db = sink
        self._status = status
        self.risk = day
        self._kill_after_order = kill_after_order
        self.orders_journalled = 0

    def decision(self, record: DecisionRecord) -> None:
        self.db.decision(record)
        self._status.last_decision = record
        if record.kind == "breaker" and record.taken and not self.risk.breaker_tripped:
            self._status.breaker_latched = True
            self._update_risk(breaker_tripped=True)

    def order(self, record: OrderRecord) -> None:
        self.db.order(record)
        self.orders_journalled += 1
        if self._kill_after_order and self.orders_journalled == self._kill_after_order:
            log.critical("fault knob: killing the process after journalling order %s",
                         record.correlation_id)
            os.kill(os.getpid(), signal.SIGKILL)

    def order_update(self, record: OrderUpdateRecord) -> None:
        self.db.order_update(record)

    def fill(self, record: FillRecord) -> None:
        self.db.fill(record)

    def position(self, record: PositionRecord) -> None:
        self.db.position(record)

    def trade(self, record: TradeRecord) -> None:
        self.db.trade(record)
        risk = self.risk
        realised = risk.realised_pnl + record.net_pnl
        self._update_risk(realised_pnl=realised, end_balance=risk.start_balance + realised,
                          charges=risk.charges + record.charges, trades=risk.trades + 1)

    def day(self, record: DayRecord) -> None:
        self.risk = record
        self.db.day(record)

    def _update_risk(self, **changes: object) -> None:
        values = {**vars(self.risk), **changes}
        self.day(DayRecord(**values))


@dataclass
class PaperSession:
    """The built engine of one session (not yet run)."""

    cerebro: bt.Cerebro
    store: Any  # PacedReplayStore, or feeds.dhan_store.DhanStore live
    broker: Any  # PaperBroker, or brokers.dhan.broker.DhanBroker live


def build_session(app: AppConfig, setup: StrategySetup, store: Any,
                  clock: ReplayClock, sink: RuntimeSink, operator: OperatorView,
                  cash: float, day: date, resume: ResumeState | None,
                  broker: bt.BrokerBase | None = None) -> PaperSession:
    """Cerebro with the paced feeds, a broker (default: paper) and the scalper (HWM on)."""
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=False,
                         quicknotify=True)
    store.add_feeds(cerebro, app.risk.max_positions)
    fill_params = FillParams.from_config(app.broker, app.index.tick_size)

    def params_for(_slot: object) -> FillParams:
        return fill_params

    if broker is None:
        broker = PaperBroker(cash, params_for, setup.schedule, app.index.exchange, day, clock,
                             sink)
    cerebro.setbroker(broker)
    cerebro.addstrategy(Scalper, setup=setup, market=store, journal=sink,
                        session_open_ns=store.strategy_open_ns, warmup=store.warmup_bars,
                        first_order_number=1, resume=resume, operator=operator,
                        journal_hwm=True)
    return PaperSession(cerebro, store, broker)
