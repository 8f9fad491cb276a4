"""Restart recovery: rebuild a session's state from the journal and the broker's fills.

:func:`resume_time` says where a journalled session stopped (its latest record);
:func:`recover` reconciles (``brokers/reconcile.py``), writes the corrections to the journal
(final order statuses, positions cancelled/activated/adopted, trades of positions sold out
before the stop), and returns the :class:`~strategies.resume.ResumeState` the strategy
continues from, plus the paper account's cash as its fills say.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from brokers.paper import account_from_fills
from brokers.reconcile import Correction, Lot, reconcile
from core.clock import ns_from_utc
from core.errors import ReconciliationError
from core.instruments import OptionContract
from reports.journal import Journal
from strategies.logic.tags import exit_tag
from strategies.logic.types import ExitIntent, ExitReason
from strategies.positions import trade_record
from strategies.records import (
    DecisionRecord,
    JournalSink,
    OrderUpdateRecord,
    PositionRecord,
    TradeRecord,
)
from strategies.resume import AdoptedPosition, ResumeState
from strategies.setup import StrategySetup

log = logging.getLogger(__name__)

ContractOf = Callable[[int], OptionContract | None]
PriceAt = Callable[[int, int], float | None]  # (security id, ns) -> last price


@dataclass(frozen=True)
class Recovered:
    resume: ResumeState
    cash: float  # the paper account's cash as its fills say
    corrections: tuple[Correction, ...]
    summary: str


def resume_time(journal: Journal, run_id: str) -> datetime | None:
    """The latest instant the run journalled anything (None for an empty run)."""
    times: list[datetime] = [d.at for d in journal.decisions(run_id)]
    for order in journal.orders(run_id):
        times += [order.record.at, order.updated_at]
    times += [f.at for f in journal.fills(run_id)]
    times += [p.at for p in journal.positions(run_id)]
    times += [e.at for e in journal.order_events(run_id)]
    return max(times, default=None)


def recover(journal: Journal, sink: JournalSink, run_id: str, day: date, resume_at: datetime,
            setup: StrategySetup, contract_of: ContractOf, price_at: PriceAt,
            default_balance: float) -> Recovered:
    """Reconcile ``run_id`` and build what the strategy resumes from (see the module doc)."""
    orders = journal.orders(run_id)
    fills = journal.fills(run_id)
    trades = journal.trades(run_id)
    positions = journal.positions(run_id)
    result = reconcile(orders, fills, positions, trades)
    by_key = {p.position_key: p for p in positions}
    for fix in result.corrections:
        _apply(sink, fix, resume_at, by_key, result.held)
    resume_ns = ns_from_utc(resume_at)
    adopted = tuple(_adopted(lot, contract_of, price_at, resume_ns) for lot in result.held)
    closed = [_close(sink, lot, contract_of, setup, day) for lot in result.closed]
    trades = sorted([*trades, *closed], key=lambda t: t.exit_at)
    day_rows = [d for d in journal.days(run_id) if d.day == day]
    start_balance = day_rows[0].start_balance if day_rows else default_balance
    resume = ResumeState(
        resume_ns=resume_ns, start_balance=start_balance, realised=_total(trades, "net_pnl"),
        charges=_total(trades, "charges"), trades=len(trades), last_exit_at=_last_exits(trades),
        breaker_latched=journal.breaker_latched(run_id, day),
        next_order_number=1 + len(orders), positions=adopted)
    cash = account_from_fills(start_balance, fills).cash
    summary = (f"resumed at the journal's last record: {len(adopted)} position(s) held, "
               f"{len(closed)} closed, {len(result.corrections)} correction(s), realised "
               f"{resume.realised:.2f}, breaker {'latched' if resume.breaker_latched else 'off'}")
    sink.decision(DecisionRecord(resume_at, "session_resume", True, summary))
    log.info("run %s: %s", run_id, summary)
    return Recovered(resume, cash, result.corrections, summary)


def _apply(sink: JournalSink, fix: Correction, at: datetime,
           positions: dict[str, PositionRecord], held: Sequence[Lot]) -> None:
    log.warning("recovery: %s %s -> %s (%s)", fix.target, fix.key, fix.status, fix.detail)
    if fix.target == "order":
        sink.order_update(OrderUpdateRecord(fix.key, at, fix.status, fix.detail))
        return
    lot = next((lot for lot in held if lot.position.position_key == fix.key), None)
    base = lot.position if lot is not None else positions[fix.key]
    quantity = lot.held if lot is not None else base.quantity
    entry_price = lot.entry_fills[0].price if lot is not None and lot.entry_fills else None
    sink.position(PositionRecord(fix.key, at, fix.status, base.security_id, base.symbol,
                                 quantity, entry_price if fix.status == "active" else None,
                                 base.hwm if fix.status == "active" else None,
                                 base.breakeven_locked and fix.status == "active"))


def _adopted(lot: Lot, contract_of: ContractOf, price_at: PriceAt,
             resume_ns: int) -> AdoptedPosition:
    position = lot.position
    contract = contract_of(position.security_id)
    if contract is None:
        raise ReconciliationError(f"position {position.position_key}: security "
                                  f"{position.security_id} is not among the day's contracts")
    filled, cost, charges, hwm = 0, 0.0, 0.0, 0.0
    for fill in lot.entry_fills:  # the strategy's own arithmetic, fill by fill
        filled += fill.quantity
        cost += fill.price * fill.quantity
        charges += fill.charges
        hwm = max(hwm, fill.price)
    state_price = lot.entry_fills[0].price if len(lot.entry_fills) == 1 else cost / filled
    sold = sum(f.quantity for f in lot.exit_fills)
    mark = price_at(position.security_id, resume_ns)
    order = lot.entry_order
    return AdoptedPosition(
        key=position.position_key, contract=contract,
        entry_tag=order.tag if order is not None else "adopted",
        ordered_qty=order.quantity if order is not None else filled, filled_qty=filled,
        entry_cost=cost, entry_charges=charges, entry_at=lot.entry_fills[0].at,
        state_entry_price=state_price,
        hwm=position.hwm if position.hwm is not None else hwm,
        breakeven_locked=position.breakeven_locked,
        mark=mark if mark is not None else float("nan"), exit_qty=sold,
        exit_value=sum(f.price * f.quantity for f in lot.exit_fills),
        exit_charges=sum(f.charges for f in lot.exit_fills))


def _close(sink: JournalSink, lot: Lot, contract_of: ContractOf, setup: StrategySetup,
           day: date) -> TradeRecord:
    """Record the trade of a position sold out before the stop."""
    exit_order = lot.exit_order
    if exit_order is None:
        raise ReconciliationError(f"position {lot.position.position_key}: sold out without "
                                  "an exit order")
    adopted = _adopted(lot, contract_of, lambda _sid, _ns: None, 0)
    held = adopted.held_position(None)
    reason = ExitReason(exit_order.exit_reason) if exit_order.exit_reason else (
        ExitReason.END_OF_DATA)
    tag = exit_order.tag or exit_tag(reason, setup.exits)
    held.exit = ExitIntent(exit_order.security_id, held.filled_qty, reason, tag,
                           exit_order.reference_price)
    held.exit_key = exit_order.correlation_id
    held.exit_at = lot.exit_fills[-1].at
    trade = trade_record(held, day)
    if lot.position.status != "exited":
        sink.position(PositionRecord(lot.position.position_key, held.exit_at, "exited",
                                     trade.security_id, trade.symbol, trade.quantity,
                                     held.entry_price, held.state.hwm if held.state else None,
                                     trade.breakeven_locked, tag))
    sink.trade(trade)
    return trade


def _total(trades: Sequence[TradeRecord], name: str) -> float:
    total = 0.0
    for trade in trades:  # in close order, as the strategy added them
        total += getattr(trade, name)
    return total


def _last_exits(trades: Sequence[TradeRecord]) -> dict[int, datetime]:
    last: dict[int, datetime] = {}
    for trade in trades:
        last[trade.security_id] = max(last.get(trade.security_id, trade.exit_at), trade.exit_at)
    return last
