"""PaperBroker: simulated fills on live (or paced replay) quotes, with Dhan's order lifecycle.

Fills, latency, charges and the cash book are :class:`~brokers.sim_broker.SimBroker`'s (the
shared fill model on the slot's quotes), so a paper day at latency 0 trades exactly like the
backtest replay of that day. On top of it an order moves through the statuses Dhan reports:
``TRANSIT`` when journalled (the strategy writes the order row before it calls the broker),
``PENDING`` once it has "reached the exchange" (submit time + latency on the injected
clock), then ``PART_TRADED``/``TRADED`` per fill, or ``REJECTED``/``CANCELLED``. The broker
journals the acknowledgements; fills and cancellations are journalled by the strategy that
receives them, with the broker's reason in ``order.info["status_detail"]``.

The paper account is the fills ledger: :func:`account_from_fills` rebuilds the cash and the
lots held from journalled fills (what a real broker's trade book would say after a restart).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from backtrader.order import Order

from brokers.charges import ChargeSchedule
from brokers.fills import FillParams
from brokers.sim_broker import SimBroker
from core.clock import Clock, ns_from_utc, utc_from_ns
from feeds.bt_feeds import SlotFeed, bt_num
from strategies.records import FillRecord, JournalSink, OrderUpdateRecord

log = logging.getLogger(__name__)

_NS_PER_MS = 1_000_000


@dataclass(frozen=True)
class OpenOrder:
    """An order the paper exchange still works (for the health view and reconciliation)."""

    correlation_id: str
    side: str
    quantity: int
    remaining: int
    status: str  # "TRANSIT" until acknowledged, then "PENDING" / "PART_TRADED"


@dataclass
class PaperAccount:
    """The paper account as its fills ledger says: cash and lots held per security id."""

    cash: float
    held: dict[int, int] = field(default_factory=dict)


def account_from_fills(start_cash: float, fills: Iterable[FillRecord]) -> PaperAccount:
    """Replay ``fills`` (in execution order) as the broker booked them.

    The arithmetic is the broker's own (``cash -= signed size x price + charges``, fill by
    fill), so the rebuilt cash equals the cash of the broker that made the fills.
    """
    account = PaperAccount(cash=start_cash)
    held: collections.Counter[int] = collections.Counter()
    for fill in fills:
        size = fill.quantity if fill.side == "BUY" else -fill.quantity
        account.cash -= size * fill.price + fill.charges
        held[fill.security_id] += size
    account.held = {sid: qty for sid, qty in held.items() if qty}
    return account


class PaperBroker(SimBroker):
    """SimBroker's fills with Dhan's order statuses, journalled; see the module docstring."""

    def __init__(self, cash: float, fill_params: Callable[[SlotFeed], FillParams],
                 schedule: ChargeSchedule, exchange: str, trade_date: date, clock: Clock,
                 journal: JournalSink) -> None:
        super().__init__(cash, fill_params, schedule, exchange, trade_date)
        self._clock = clock
        self._journal = journal
        self._unacked: dict[int, tuple[Order, int]] = {}  # ref -> (order, ack due ns)
        self.sent: list[str] = []  # correlation ids in the order they reached the broker
        self.connected = True

    # -- the account ---------------------------------------------------------------------------
    def open_orders(self) -> list[OpenOrder]:
        """Orders still working, oldest first."""
        out = []
        for order in list(self._pending):
            status = ("TRANSIT" if order.ref in self._unacked
                      else "PART_TRADED" if order.executed.size else "PENDING")
            out.append(OpenOrder(order.info.get("correlation_id", ""),
                                 "BUY" if order.isbuy() else "SELL", int(abs(order.size)),
                                 int(abs(order.executed.remsize)), status))
        return out

    # -- orders --------------------------------------------------------------------------------
    def _submit(self, order: Order, info: dict) -> Order:
        reason = self._reject_reason(order)
        if reason:
            return self._reject(order, info, reason)
        submitted = super()._submit(order, info)
        self.sent.append(submitted.info.get("correlation_id", ""))
        latency_ns = int(self._fill_params(submitted.data).latency_ms * _NS_PER_MS)
        self._unacked[submitted.ref] = (submitted, submitted.info["submit_ns"] + latency_ns)
        self._acknowledge_due()
        return submitted

    def next(self) -> None:
        self._acknowledge_due()
        super().next()

    def _reject_reason(self, order: Order) -> str:
        data = order.data
        if not isinstance(data, SlotFeed) or not data.bound or data.series is None:
            return "no subscribed contract on this feed"
        if order.size == 0:
            return "quantity must be > 0"
        if order.issell():
            held = self.positions[data].size
            if abs(order.size) > held:
                return f"sell {abs(order.size)} exceeds the {held} held (no short options)"
        return ""

    def _reject(self, order: Order, info: dict, reason: str) -> Order:
        order.p.simulated = False
        submit_ns = info.pop("submit_ns")
        order.created.dt = bt_num(submit_ns).item()
        order.addinfo(submit_ns=submit_ns, status_detail=reason, **info)
        order.addcomminfo(self.comminfo[None])
        order.submit(self)
        self.notifs.append(order.clone())
        order.reject(self)
        self.notifs.append(order.clone())
        log.warning("paper order %s rejected: %s", info.get("correlation_id", ""), reason)
        return order

    def _acknowledge_due(self) -> None:
        if not self._unacked:
            return
        now_ns = ns_from_utc(self._clock.now())
        for ref, (order, due_ns) in list(self._unacked.items()):
            if due_ns > now_ns:
                continue
            del self._unacked[ref]
            if order.alive():
                self._journal.order_update(OrderUpdateRecord(
                    order.info.get("correlation_id", ""), utc_from_ns(due_ns), "PENDING",
                    "at the paper exchange"))
