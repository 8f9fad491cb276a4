"""The options scalper as a thin bt.Strategy: lines in, pure decisions, orders out.

Feeds: ``datas[0]`` the index 1m bars (stamped at close), ``datas[1:]`` the contract slots.
The confirmation timeframe is bucketed from the 1m bars here (one rule for warm-up and session
bars, and no resampled feed for backtrader to step). On each closed 1m bar of the session the
entry pipeline runs; on each tick of a held contract the exit rules and the daily breaker
run. Which store and broker sit underneath (replay, paper, live) is not this class's concern.

Replays may hand the strategy bars before backtrader steps them (``take_bars``): the bar is
then handled in the clock feed's load, with the same calls in the same order as a step
would make, and the journal is the same (held equal to the stepped reference in a test).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import backtrader as bt
import numpy as np

from core.clock import ns_from_utc, utc_from_ns
from core.errors import MissingDataError
from strategies.entries import MarketView, plan_entry
from strategies.logic import exits as exit_rules
from strategies.logic.bar_buckets import BarBuckets
from strategies.logic.guard import GuardState
from strategies.logic.realised_vol import RealisedVolSeries
from strategies.logic.signal import SignalResult, evaluate_signal, iv_rank
from strategies.logic.tags import correlation_id
from strategies.logic.types import Direction, EntryIntent, ExitIntent, ExitReason
from strategies.order_flow import OrderFlow
from strategies.path_walk import PathWalk
from strategies.positions import HeldPosition, PositionBook
from strategies.records import (
    DecisionRecord,
    JournalSink,
    OrderRecord,
    PositionRecord,
)
from strategies.resume import OperatorView, ResumeState
from strategies.setup import StrategySetup, order_suffix
from strategies.timeframes import (
    IST_OFFSET_NS,
    NS_PER_DAY,
    GrowingArray,
    Timeframe,
    warm_up,
)

log = logging.getLogger(__name__)

MINUTE_NS = 60_000_000_000

# An AVOID signal is rejected before the guard is consulted: no need to build its view.
_NOT_CONSULTED = GuardState()


class Scalper(PathWalk, OrderFlow, bt.Strategy):
    params = (
        ("setup", None),  # StrategySetup
        ("market", None),  # MarketView of the day
        ("journal", None),  # JournalSink
        ("session_open_ns", 0),  # bars closing at or before this are warm-up
        ("warmup", None),  # earlier sessions' 1m bars (ts = bar start), fed to the indicators
        ("first_order_number", 1),
        ("resume", None),  # ResumeState: continue a journalled session (restart recovery)
        ("operator", None),  # OperatorView: kill switch and shutdown (paper/live)
        ("journal_hwm", False),  # journal every new high-water mark (a restart resumes it)
        # Replays: bars the strategy can handle without an engine step are taken from the
        # clock feed (every bar with batched bar-path slots, idle bars with tick slots).
        ("take_bars", False),
    )

    def __init__(self) -> None:
        self.setup: StrategySetup = self.p.setup
        self.market: MarketView = self.p.market
        self.journal: JournalSink = self.p.journal
        self.primary = self.datas[0]
        self.slots = list(self.datas[1:])
        self.tf1, self.tf5 = Timeframe(self.setup), Timeframe(self.setup)
        self.confirm_bars = BarBuckets(self.setup.confirm_minutes)
        self._primary_len = 0  # clock-feed bars seen in engine steps
        self._signal_ahead: SignalResult | None = None  # a signal bar taken in ahead
        self._signal_ahead_ns = -1
        self.book = PositionBook()
        self.order_number = self.p.first_order_number
        self.breaker_latched = False
        self.kill_switch = False
        self.operator: OperatorView | None = self.p.operator
        self.entries_blocked = False
        self._flatten_due: ExitReason | None = None
        self._now_ns = self.p.session_open_ns  # time of the latest event seen
        self.start_balance = math.nan
        self._slot_seen = {id(s): -1 for s in self.slots}  # last quote row handled
        self._batched = any(getattr(s, "batched", False) for s in self.slots)
        self._driven = False  # set at start: slots driven, every bar taken (_take_bar)
        closes: list[float] = []
        days: list[int] = []
        if self.p.warmup is not None:
            warm_up(self.tf1, self.tf5, closes, days, self.p.warmup, self.setup.confirm_minutes)
        self._closes = GrowingArray(closes, np.float64)  # for the IV rank, bar by bar
        self._days = GrowingArray(days, np.int64)
        self._realised = RealisedVolSeries(self.setup.iv_rank.rv_window, with_days=True)

    # -- backtrader hooks -------------------------------------------------------------------
    def start(self) -> None:
        self.start_balance = self.broker.getcash()
        if self.p.resume is not None:
            self._resume(self.p.resume)
        if self.operator is not None:
            self.operator.attach(self)
        elif self.p.take_bars and self._batched and self.p.resume is None:
            for slot in self.slots:
                slot.drive()
            self._driven = True
            self.primary.take_bars_with(self._take_bar)
        elif self.p.take_bars:
            self.primary.take_bars_with(self._take_idle_bar)

    def prenext(self) -> None:
        self.next()  # unbound slots have no bars; the strategy runs from the first bar

    def next(self) -> None:
        if self.operator is not None or self._flatten_due is not None:
            self._obey_operator()  # first: a kill blocks this step's entry too
        if self._batched:
            self._walk_slot_paths()
        else:
            for slot in self.slots:
                if slot.bound:
                    row = slot.quote_index()
                    if row > self._slot_seen[id(slot)]:
                        self._slot_seen[id(slot)] = row
                        self._on_slot_tick(slot, row)
        if len(self.primary) > self._primary_len:
            self._primary_len = len(self.primary)
            self._on_primary_bar()

    def stop(self) -> None:
        if self._driven:
            self._deliver_slots(np.iinfo(np.int64).max)  # quotes after the last index bar
        if self.operator is not None and self.operator.keep_open_on_stop and self.book.positions:
            log.warning("stopping with %d position(s) kept open for the next start",
                        len(self.book.positions))
            return
        for position in list(self.book.positions.values()):
            log.warning("%s still open when the data ended: settled at the last price %.2f",
                        position.contract.symbol, position.mark)
            self._settle_at_end(position)

    # -- entries -----------------------------------------------------------------------------
    def _on_primary_bar(self) -> None:
        bar = self.primary
        now_ns = bar.close_ts_ns()
        signal = self._signal_ahead if self._signal_ahead_ns == now_ns else None
        if signal is None:  # not already taken in by _take_idle_bar
            self._advance(now_ns, bar.open[0], bar.high[0], bar.low[0], bar.close[0])
        self._on_bar(now_ns, signal)

    def _on_bar(self, now_ns: int, signal: SignalResult | None) -> None:
        """A 1m bar closed at ``now_ns`` (indicators already moved): time exits, entries."""
        if now_ns <= self.p.session_open_ns:
            return  # warm-up bar from an earlier session
        self._now_ns = max(self._now_ns, now_ns)
        now = utc_from_ns(now_ns)
        self._time_exits(now)
        if self.entries_blocked:
            return  # shutting down: exits only
        if signal is None:
            signal = evaluate_signal(self.tf1.reading, self.tf5.reading, self.setup.signal)
        self._plan(signal, now, now_ns)

    def _advance(self, close_ns: int, open_: float, high: float, low: float,
                 close: float) -> None:
        """Both timeframes and the close history take in one 1m bar."""
        for bucket in self.confirm_bars.add(close_ns - MINUTE_NS, open_, high, low, close):
            self.tf5.seen += 1
            self.tf5.update(bucket.high, bucket.low, bucket.close)
        self.tf1.seen += 1
        self.tf1.update(high, low, close)
        self._closes.append(close)
        self._days.append((close_ns + IST_OFFSET_NS) // NS_PER_DAY)

    def _take_idle_bar(self, close_ns: int, open_: float, high: float, low: float,
                       close: float) -> bool:
        """The clock feed offers its next bar before an engine step; True = handled here.

        With nothing held or pending, a bar without a signal only moves the indicators and
        logs "no signal", which needs no engine step. A signal bar goes through the step as
        usual (its indicators already moved). Installed only without an operator: the kill
        switch and shutdown are read in engine steps.
        """
        if self.book.positions or self.entries_blocked or self._flatten_due is not None:
            return False
        self._advance(close_ns, open_, high, low, close)
        if close_ns <= self.p.session_open_ns:
            return True
        signal = evaluate_signal(self.tf1.reading, self.tf5.reading, self.setup.signal)
        if signal.direction is not Direction.AVOID:
            self._signal_ahead, self._signal_ahead_ns = signal, close_ns
            return False
        self._now_ns = max(self._now_ns, close_ns)
        self._plan(signal, utc_from_ns(close_ns), close_ns)
        return True

    def _take_bar(self, close_ns: int, open_: float, high: float, low: float,
                  close: float) -> bool:
        """Bar mode with driven slots: the whole minute is handled here, never in an
        engine step. The held contracts' path quotes before the bar's close are walked
        first (as a step would deliver them with the bar), then the bar itself."""
        self._deliver_slots(close_ns)
        self._advance(close_ns, open_, high, low, close)
        self._on_bar(close_ns, None)
        return True

    def _plan(self, signal: SignalResult, now: datetime, now_ns: int) -> None:
        """The entry pipeline on a closed session bar, journalled; enters if it says so."""
        iv, guard = None, _NOT_CONSULTED
        if signal.direction is not Direction.AVOID:  # no signal: rejected before either
            iv = iv_rank(None, (), self._closes.view(), self.setup.iv_rank, self._days.view(),
                         self._realised)
            guard = self._guard_state()
        outcome = plan_entry(signal, iv, self.market, guard, self.broker.getcash(),
                             self.setup, now, self.order_number)
        self.journal.decision(outcome.decision)
        if outcome.intent is not None:
            self._enter(outcome.intent, now, now_ns)

    def _guard_state(self) -> GuardState:
        return GuardState(open_positions=self.book.open_views(),
                          last_exit_at=self.book.last_exit_at,
                          breaker_tripped=self.breaker_latched, kill_switch=self.kill_switch,
                          orders_in_flight=self.book.in_flight())

    def _enter(self, intent: EntryIntent, now: datetime, now_ns: int) -> None:
        contract = intent.contract
        slot = next((s for s in self.slots if not s.bound), None)
        series = self.market.series(contract.security_id)
        if slot is None or series is None:
            reason = "no free slot" if slot is None else "contract has no quotes"
            self.journal.decision(DecisionRecord(now, "skip", False, reason, "",
                                                 contract.security_id, contract.symbol))
            return
        self.order_number += 1
        self.journal.order(OrderRecord(intent.correlation_id, intent.tag, now, "BUY",
                                       contract.security_id, contract.symbol, intent.quantity,
                                       intent.reference_price, "entry"))
        slot.bind(contract, series, now_ns)
        self._slot_seen[id(slot)] = slot.quote_index()
        position = HeldPosition(key=intent.correlation_id, contract=contract, slot=slot,
                                lots=intent.lots, entry_tag=intent.tag,
                                ordered_qty=intent.quantity)
        self.book.add(position)
        self.journal.position(PositionRecord(position.key, now, "pending", contract.security_id,
                                             contract.symbol, intent.quantity))
        position.entry_order = self.buy(data=slot, size=intent.quantity,
                                        exectype=bt.Order.Market,
                                        correlation_id=intent.correlation_id, submit_ns=now_ns)

    # -- exits -------------------------------------------------------------------------------
    def _on_slot_tick(self, slot: bt.DataBase, row: int) -> None:
        position = self.book.by_slot(slot)
        if position is None:
            return
        series = slot.series
        ltp = float(series.ltp[row])
        position.mark = ltp
        if not position.active:
            return
        assert position.state is not None
        tick_ns = int(series.ts[row])
        self._now_ns = max(self._now_ns, tick_ns)
        now = utc_from_ns(tick_ns)
        before = position.state
        state, intent = exit_rules.on_tick(position.state, ltp, float(series.bid[row]), now,
                                           self.setup.exits)
        position.state = state
        if state.breakeven_locked != before.breakeven_locked or (
                self.p.journal_hwm and state.hwm != before.hwm):
            self._journal_position(position, now, "active")
        if intent is not None:
            self._exit(position, intent, now)
        self._check_breaker(now)

    def _time_exits(self, now: datetime) -> None:
        """Time exit for held contracts that did not tick at the exit time."""
        for position in [p for p in self.book.positions.values() if p.active]:
            assert position.state is not None
            intents = exit_rules.time_exits([position.state], now, self.setup.exits,
                                            {position.contract.security_id: position.mark})
            if intents:
                self._exit(position, intents[0], now)

    @staticmethod
    def _position_for(intent: ExitIntent, active: list[HeldPosition]) -> HeldPosition | None:
        return next((p for p in active if p.contract.security_id == intent.security_id), None)

    def _check_breaker(self, now: datetime) -> None:
        if self.breaker_latched:
            return
        if not exit_rules.breaker_tripped(self.start_balance, self.book.realised,
                                          self.book.unrealised(), self.setup.exits):
            return
        self.breaker_latched = True
        day_pnl = self.book.realised + self.book.unrealised()
        self._flatten(ExitReason.CIRCUIT_BREAKER, now, "breaker",
                      f"day P&L {day_pnl:.2f} hit the breaker: flatten")

    def _flatten(self, reason: ExitReason, now: datetime, kind: str, text: str) -> None:
        """Exit every active position with ``reason``; cancel entries not yet filled."""
        active = [p for p in self.book.positions.values() if p.active]
        intents = exit_rules.forced_exits([p.state for p in active if p.state is not None],
                                          reason, self.setup.exits,
                                          {p.contract.security_id: p.mark for p in active})
        self.journal.decision(DecisionRecord(now, kind, True, text))
        for intent in intents:
            position = self._position_for(intent, active)
            if position is not None:
                self._exit(position, intent, now)
        for position in [p for p in self.book.positions.values() if p.state is None]:
            self.cancel_entry(position)

    def cancel_entry(self, position: HeldPosition) -> None:
        if position.entry_order is not None:
            self.cancel(position.entry_order)

    def _exit(self, position: HeldPosition, intent: ExitIntent, now: datetime) -> None:
        if position.exit is not None or position.state is None:
            return
        contract = position.contract
        key = correlation_id(intent.tag, order_suffix(self.setup, self.order_number))
        self.order_number += 1
        position.exit, position.exit_key = intent, key
        reference = next((p for p in (intent.trigger_price, position.mark, position.entry_price)
                          if math.isfinite(p)), 0.0)
        quantity = position.filled_qty - position.exit_qty  # an earlier exit may have sold some
        self.journal.order(OrderRecord(key, intent.tag, now, "SELL", contract.security_id,
                                       contract.symbol, quantity, reference, "exit",
                                       intent.reason.value))
        self.journal.decision(DecisionRecord(now, "exit", True, intent.tag, "",
                                             contract.security_id, contract.symbol))
        self.sell(data=position.slot, size=quantity, exectype=bt.Order.Market,
                  correlation_id=key, submit_ns=ns_from_utc(now))

    # -- restart and operator -----------------------------------------------------------------
    def _resume(self, resume: ResumeState) -> None:
        """Continue a journalled session: re-bind its positions, restore the day's state."""
        book = self.book
        book.realised, book.charges, book.trades = resume.realised, resume.charges, resume.trades
        book.last_exit_at.update(resume.last_exit_at)
        self.breaker_latched, self.order_number = resume.breaker_latched, resume.next_order_number
        self.start_balance = resume.start_balance
        self._now_ns = max(self._now_ns, resume.resume_ns)
        for adopted in resume.positions:
            slot = next((s for s in self.slots if not s.bound), None)
            series = self.market.series(adopted.contract.security_id)
            if slot is None or series is None:
                raise MissingDataError(f"cannot resume {adopted.contract.symbol}: "
                                       f"{'no free slot' if slot is None else 'no quotes'}")
            slot.bind(adopted.contract, series, resume.resume_ns)
            self._slot_seen[id(slot)] = slot.quote_index()
            self.book.add(adopted.held_position(slot))
            self.broker.adopt_position(slot, adopted.held_qty, adopted.average_price)
        if resume.breaker_latched and resume.positions:
            self._flatten_due = ExitReason.CIRCUIT_BREAKER  # its exits died with the process

    def _obey_operator(self) -> None:
        self._now_ns = max(self._now_ns, self._step_ns())
        if self._flatten_due is not None:
            reason, self._flatten_due = self._flatten_due, None
            self._flatten(reason, utc_from_ns(self._now_ns), reason.value,
                          f"resumed: flatten ({reason.value})")
        operator = self.operator
        if operator is None:
            return
        self.entries_blocked = operator.entries_stopped
        if operator.kill_requested and not self.kill_switch:
            self.kill_switch = True
            self._flatten(ExitReason.KILL_SWITCH, utc_from_ns(self._now_ns), "kill",
                          "operator kill switch: flatten, block entries")
        elif operator.flatten_requested and any(p.active for p in self.book.positions.values()):
            self._flatten(ExitReason.SHUTDOWN, utc_from_ns(self._now_ns), "shutdown",
                          "shutdown: flatten")

    def _step_ns(self) -> int:
        """Time of the newest item this step delivers (operator actions happen then)."""
        times = [int(s.series.ts[s.delivered_index()]) for s in self.slots
                 if s.bound and s.delivered_index() > self._slot_seen[id(s)]]
        if len(self.primary) > self._primary_len:
            times.append(self.primary.close_ts_ns())
        return max(times, default=self._now_ns)
