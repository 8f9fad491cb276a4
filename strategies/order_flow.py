"""The scalper's order flow: broker notifications into the position book and the journal.

A mixin of :class:`strategies.scalper.Scalper` (kept apart to keep each module readable):
fills move a position from pending to active to exited, dead orders cancel a pending entry
or re-arm an exit, and positions still open when the data ends are settled at their last
price. Every change is journalled.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import backtrader as bt

from core.clock import utc_from_ns
from strategies.entries import MarketView
from strategies.logic import exits as exit_rules
from strategies.logic.types import ExitReason
from strategies.positions import HeldPosition, PositionBook, trade_record
from strategies.records import (
    FillRecord,
    JournalSink,
    OrderUpdateRecord,
    PositionRecord,
)

log = logging.getLogger(__name__)

# backtrader's end states of an order -> the status Dhan reports.
_DEAD_STATUS = {bt.Order.Canceled: "CANCELLED", bt.Order.Rejected: "REJECTED",
                bt.Order.Margin: "REJECTED", bt.Order.Expired: "EXPIRED"}


class OrderFlow:
    """Notification handling for a strategy with ``book``, ``journal`` and ``market``."""

    book: PositionBook
    journal: JournalSink
    market: MarketView

    def notify_order(self, order: bt.Order) -> None:
        key = order.info.get("correlation_id", "")
        now = utc_from_ns(order.info.get("submit_ns", 0))
        if order.status in (order.Partial, order.Completed):
            self._on_fill(order, key)
        elif order.status in _DEAD_STATUS:
            self.journal.order_update(OrderUpdateRecord(
                key, now, _DEAD_STATUS[order.status], order.info.get("status_detail", "")))
            self._on_dead_order(order, key)

    # -- fills -------------------------------------------------------------------------------
    def _on_fill(self, order: bt.Order, key: str) -> None:
        position = next((p for p in self.book.positions.values()
                         if key in (p.key, p.exit_key)), None)
        if position is None:
            log.error("fill for unknown order %s", key)
            return
        bit = order.executed.exbits[-1] if order.executed.exbits else None
        size = abs(int(bit.size)) if bit is not None else abs(int(order.executed.size))
        price = bit.price if bit is not None else order.executed.price
        charges = float(getattr(order.executed, "charges", None).total
                        if getattr(order.executed, "charges", None) else order.executed.comm)
        when = utc_from_ns(getattr(order.executed, "fill_ts_ns", None) or position.slot.ts_ns())
        side = "BUY" if order.isbuy() else "SELL"
        self.journal.fill(FillRecord(key, when, position.contract.security_id, side, price,
                                     size, charges))
        self.journal.order_update(OrderUpdateRecord(
            key, when, "TRADED" if order.status == order.Completed else "PART_TRADED"))
        if order.isbuy():
            self._entry_filled(position, price, size, charges, when)
        else:
            self._exit_filled(position, price, size, charges, when, order)

    def _entry_filled(self, position: HeldPosition, price: float, size: int, charges: float,
                      when: datetime) -> None:
        position.filled_qty += size
        position.entry_cost += price * size
        position.entry_charges += charges
        position.entry_at = position.entry_at or when
        if position.state is None:
            position.state = exit_rules.PositionState.opened(
                position.contract.security_id, position.filled_qty, price, when)
        else:
            position.state = exit_rules.PositionState(
                position.state.security_id, position.filled_qty, position.entry_price,
                max(position.state.hwm, price), position.state.breakeven_locked,
                position.state.entry_time)
        self._journal_position(position, when, "active")

    def _exit_filled(self, position: HeldPosition, price: float, size: int, charges: float,
                     when: datetime, order: bt.Order) -> None:
        position.exit_qty += size
        position.exit_value += price * size
        position.exit_charges += charges
        position.exit_at = when
        if order.status != order.Completed:
            return
        self._close(position, when)

    def _close(self, position: HeldPosition, when: datetime) -> None:
        trade = trade_record(position, self.market.day)
        self.book.realised += trade.net_pnl
        self.book.charges += trade.charges
        self.book.trades += 1
        self.book.last_exit_at[position.contract.security_id] = when
        self.book.remove(position.key)
        self._journal_position(position, when, "exited")
        self.journal.trade(trade)
        position.slot.release()

    def _on_dead_order(self, order: bt.Order, key: str) -> None:
        position = next((p for p in self.book.positions.values() if p.key == key), None)
        if position is not None and position.state is None:
            self.book.remove(key)
            position.slot.release()
            now = utc_from_ns(order.info.get("submit_ns", 0))
            self._journal_position(position, now, "cancelled")
        elif position is not None and position.exit_key == key:
            position.exit, position.exit_key = None, ""  # the next tick re-raises the exit

    def _settle_at_end(self, position: HeldPosition) -> None:
        if position.state is None or not position.filled_qty or math.isnan(position.mark):
            self.book.remove(position.key)
            return
        now = position.exit_at or position.state.entry_time
        position.exit = exit_rules.forced_exits([position.state], ExitReason.END_OF_DATA,
                                                self.setup.exits)[0]
        position.exit_qty, position.exit_value = position.filled_qty, (
            position.mark * position.filled_qty)
        self._close(position, now)

    def _journal_position(self, position: HeldPosition, now: datetime, status: str) -> None:
        state = position.state
        self.journal.position(PositionRecord(
            position.key, now, status, position.contract.security_id, position.contract.symbol,
            position.filled_qty or position.ordered_qty,
            None if state is None else position.entry_price,
            None if state is None else state.hwm,
            False if state is None else state.breakeven_locked,
            position.exit.tag if position.exit is not None and status == "exited" else ""))
