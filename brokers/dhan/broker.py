"""DhanBroker: the live backtrader broker, over the Dhan order gateway.

Threading: everything here runs on the engine thread (cerebro's). ``buy``/``sell`` send the
order synchronously through :class:`~brokers.dhan.orders.OrderGateway` (sliced at the freeze
quantity; a dry run when the gateway is not armed) and ``next`` advances every working order
one small step; nothing here sleeps or waits for Dhan. The order-update stream (when the
gateway has one) is read through its thread-safe ``latest``.

Polling policy, per working order and each of its slices that is not final: the stream's
latest status is taken on every step (a dictionary read); Dhan's REST order view is polled
only when the order's own contract delivered a new quote since the last look, or
``poll_interval_s`` of wall time passed since its last poll. A failed REST call is logged
and tried again on a later step, never raised into the engine. Every increase of a slice's
filled quantity is booked as one execution, priced from the change of its filled value
(average price x filled) and charged from the dated schedule, like
:class:`~brokers.sim_broker.SimBroker`.

Exit rounds: Dhan prices a market order with a protection band, so an exit can rest while
the price runs away. An exit (SELL) resting unfilled for more than ``exit_wait_s`` is
cancelled at Dhan and, once its slices are final, the rest is sent again as round ``n``
(correlation id ``<parent>-r<n>``), up to ``exit_rounds`` rounds in all (round 0 included);
after the last one an ERROR says the position is NOT flat and the bt order is cancelled.
An entry whose slices all end with less filled than asked is cancelled (rejected when none
filled and every slice was rejected).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from backtrader.order import Order

from brokers.base import MarketOrderBroker
from brokers.charges import ChargeSchedule
from brokers.dhan.orders import Contract, OrderGateway, SentOrder, round_correlation_id
from brokers.dhan.parsing import TERMINAL_STATUSES
from brokers.paper import OpenOrder
from core.clock import utc_from_ns
from core.errors import BrokerError, DataError, OrderRejected
from feeds.bt_feeds import SlotFeed, bt_num
from strategies.records import OrderRecord

log = logging.getLogger(__name__)

_STATUS_RANK = {"TRANSIT": 0, "PENDING": 1, "PART_TRADED": 2}  # terminal ones rank 3


@dataclass
class _Slice:
    """One order at Dhan and how much of it is already booked."""

    sent: SentOrder
    booked_qty: int = 0
    booked_value: float = 0.0
    cancel_sent: bool = False

    @property
    def final(self) -> bool:
        return self.sent.status in TERMINAL_STATUSES


@dataclass
class _Working:
    """A bt order that Dhan is working on: its current round of slices and its timers."""

    order: Order
    record: OrderRecord
    contract: Contract
    slices: list[_Slice]
    quote_seen: int
    polled_at: float
    waiting_since: float  # wall time of the round's send or of its last fill
    round_no: int = 0
    cancelling: bool = False  # cancels of this round's slices are wanted at Dhan
    cancel_wanted: bool = False  # the strategy cancelled it: no further rounds

    @property
    def is_exit(self) -> bool:
        return self.record.purpose == "exit"


class DhanBroker(MarketOrderBroker):
    """Market orders through Dhan, filled from its order statuses; see the module docstring."""

    def __init__(self, gateway: OrderGateway, schedule: ChargeSchedule, exchange: str,
                 trade_date: date, cash: float, now_ns: Callable[[], int], *,
                 poll_interval_s: float = 1.0, exit_wait_s: float = 2.0,
                 exit_rounds: int = 10, wall: Callable[[], float] = time.monotonic) -> None:
        super().__init__(cash, schedule, exchange, trade_date)
        if exit_rounds < 1:
            raise ValueError(f"exit_rounds must be >= 1, got {exit_rounds}")
        self.gateway = gateway
        self._now_ns, self._wall = now_ns, wall
        self.poll_interval_s, self.exit_wait_s = poll_interval_s, exit_wait_s
        self.exit_rounds = exit_rounds
        self._working: list[_Working] = []
        self.connected = True
        self.broker_name = "dhan"  # what the health page calls it

    # -- the account ---------------------------------------------------------------------------
    def open_orders(self) -> list[OpenOrder]:
        """Orders Dhan still works, oldest first."""
        out = []
        for w in list(self._working):
            live = [s.sent.status for s in w.slices if not s.final]
            status = ("PART_TRADED" if w.order.executed.size
                      else "TRANSIT" if live and all(s == "TRANSIT" for s in live)
                      else "PENDING")
            out.append(OpenOrder(w.record.correlation_id, w.record.side,
                                 int(abs(w.order.size)), int(abs(w.order.executed.remsize)),
                                 status))
        return out

    # -- orders --------------------------------------------------------------------------------
    def cancel(self, order: Order) -> bool:
        """Ask Dhan to cancel the order's working slices; the notification follows in next()."""
        w = next((w for w in self._working if w.order is order), None)
        if w is None:
            return False
        w.cancel_wanted = w.cancelling = True
        self._request_cancels(w)
        return True

    def _submit(self, order: Order, info: dict) -> Order:
        submit_ns = self._made_real(order, info)
        order.submit(self)
        self._notify(order)
        contract = getattr(order.data, "contract", None)
        if contract is None:
            return self._end(order, "rejected", "no subscribed contract on this feed")
        record = OrderRecord(
            correlation_id=str(info.get("correlation_id", "")),
            tag=str(info.get("tag") or info.get("correlation_id", "")),
            at=utc_from_ns(submit_ns), side="BUY" if order.isbuy() else "SELL",
            security_id=contract.security_id, symbol=contract.symbol,
            quantity=int(abs(order.size)), reference_price=_last_price(order.data),
            purpose="entry" if order.isbuy() else "exit")
        gateway_contract = Contract(contract.segment, contract.lot_size, contract.freeze_qty)
        sent, problem = self._send(record, gateway_contract)
        if not sent:
            if not self.gateway.armed:
                return self._end(order, "cancelled", "dry run: not sent")
            return self._end(order, "rejected", problem or "not sent")
        if all(s.status == "REJECTED" for s in sent):
            return self._end(order, "rejected", _details(sent) or "rejected by Dhan")
        order.accept(self)
        self._notify(order)
        now = self._wall()
        self._working.append(_Working(order, record, gateway_contract,
                                      [_Slice(s) for s in sent], _quote_index(order.data),
                                      now, now))
        return order

    def _send(self, record: OrderRecord, contract: Contract) -> tuple[list[SentOrder], str]:
        """The gateway's send, with what reached Dhan kept when a slice failed."""
        try:
            return list(self.gateway.send(record, contract)), ""
        except (BrokerError, DataError) as e:
            log.error("order %s: send failed: %s", record.correlation_id, e)
            return list(self.gateway.sent.get(record.correlation_id, [])), str(e)

    def _end(self, order: Order, how: str, detail: str) -> Order:
        """Reject or cancel a bt order with ``detail`` as its status detail."""
        order.addinfo(status_detail=detail)
        # backtrader stamps a dead order with its data's current bar, and a freshly bound
        # slot has none yet: stamp the engine's time instead.
        order.p.simulated = True
        if how == "rejected":
            order.reject(self)
            log.warning("order %s rejected: %s", order.info.get("correlation_id", ""), detail)
        else:
            order.cancel()
        order.p.simulated = False
        order.executed.dt = bt_num(self._now_ns()).item()
        self._notify(order)
        return order

    def _notify(self, order: Order) -> None:
        note = order.clone()
        # A clone shares the execution list, and one step can book several executions (one
        # per slice): each notification keeps the list as it was, so exbits[-1] is its own.
        note.executed.exbits = list(order.executed.exbits)
        self.notifs.append(note)

    # -- the engine step ---------------------------------------------------------------------
    def next(self) -> None:
        for w in list(self._working):
            try:
                self._step(w)
            except (BrokerError, DataError) as e:  # the next step tries again
                log.warning("order %s: %s (tried again on a later step)",
                            w.record.correlation_id, e)
        self._mark_ticked()

    def _step(self, w: _Working) -> None:
        due = self._poll_due(w)
        if due:
            w.quote_seen, w.polled_at = _quote_index(w.order.data), self._wall()
        self._refresh(w, due)
        self._book(w)
        if not w.order.alive():
            self._working.remove(w)
            return
        if self._exit_overdue(w):
            log.warning("exit %s round %d resting unfilled over %.1fs: cancelling it",
                        w.record.correlation_id, w.round_no, self.exit_wait_s)
            w.cancelling = True
            self._request_cancels(w)
        elif w.cancelling and due:
            self._request_cancels(w)  # retry cancels that failed
        if all(s.final for s in w.slices):
            self._round_over(w, due)

    def _poll_due(self, w: _Working) -> bool:
        return (_quote_index(w.order.data) != w.quote_seen
                or self._wall() - w.polled_at >= self.poll_interval_s)

    def _refresh(self, w: _Working, poll: bool) -> None:
        updates = self.gateway.updates
        for s in w.slices:
            if s.final or not s.sent.order_id:
                continue
            streamed = updates.latest(s.sent.order_id) if updates is not None else None
            if streamed is not None and _newer(streamed.filled, streamed.status, s.sent):
                s.sent.status, s.sent.filled = streamed.status, streamed.filled
                s.sent.average_price, s.sent.detail = streamed.average_price, streamed.reason
            if poll and not s.final:
                self.gateway.refresh(s.sent)

    def _book(self, w: _Working) -> None:
        for s in w.slices:
            qty = min(s.sent.filled - s.booked_qty, int(abs(w.order.executed.remsize)))
            if qty <= 0:
                continue
            value = s.sent.average_price * s.sent.filled
            price = round((value - s.booked_value) / qty, 2)
            if not (math.isfinite(price) and price > 0):
                price = s.sent.average_price
            if not price > 0:
                log.error("slice %s filled %d without a price: not booked yet",
                          s.sent.correlation_id, s.sent.filled)
                continue
            s.booked_qty, s.booked_value = s.sent.filled, value
            w.waiting_since = self._wall()
            self._execute(w.order, price, qty)

    def _exit_overdue(self, w: _Working) -> bool:
        return (w.is_exit and not w.cancelling
                and self._wall() - w.waiting_since > self.exit_wait_s
                and any(not s.final for s in w.slices))

    def _request_cancels(self, w: _Working) -> None:
        assert self.gateway.client is not None
        for s in w.slices:
            if s.final or s.cancel_sent or not s.sent.order_id:
                continue
            try:
                self.gateway.client.cancel_order(s.sent.order_id)
            except OrderRejected as e:  # final meanwhile: the next poll says how
                log.info("cancel %s: %s", s.sent.order_id, e)
            except BrokerError as e:
                log.warning("cancel %s failed: %s (tried again)", s.sent.order_id, e)
                continue
            s.cancel_sent = True
            w.polled_at = -math.inf  # learn the outcome (and any late fill) next step

    def _round_over(self, w: _Working, due: bool) -> None:
        """Every slice is final and the order is not complete: re-send an exit, or end it."""
        left, asked = int(abs(w.order.executed.remsize)), int(abs(w.order.size))
        if w.is_exit and not w.cancel_wanted:
            if w.round_no + 1 < self.exit_rounds:
                if due:  # paced like polls: a refused round is not re-sent in a tight loop
                    self._next_round(w, left)
                return
            log.error("exit %s NOT flat after %d rounds: %d of %d left",
                      w.record.correlation_id, self.exit_rounds, left, asked)
            detail = f"NOT flat after {self.exit_rounds} rounds: {left} of {asked} unsold"
        else:
            detail = (f"{asked - left} of {asked} filled; "
                      f"{_details([s.sent for s in w.slices]) or 'cancelled at Dhan'}")
        self._working.remove(w)
        rejected = left == asked and all(s.sent.status == "REJECTED" for s in w.slices)
        self._end(w.order, "rejected" if rejected and w.slices else "cancelled", detail)

    def _next_round(self, w: _Working, left: int) -> None:
        w.round_no += 1
        cid = round_correlation_id(w.record.correlation_id, w.round_no)
        log.warning("exit %s: %d of %d left: sending round %d as %s", w.record.correlation_id,
                    left, abs(w.order.size), w.round_no, cid)
        record = dataclasses.replace(w.record, correlation_id=cid, quantity=left,
                                     at=utc_from_ns(self._now_ns()))
        sent, _ = self._send(record, w.contract)
        w.slices = [_Slice(s) for s in sent]
        w.cancelling = False
        w.waiting_since = w.polled_at = self._wall()

    # -- fills ---------------------------------------------------------------------------------
    def _execute(self, order: Order, price: float, quantity: int) -> None:
        """Book one execution as SimBroker does, at the engine's time Dhan's fill was seen."""
        self._book_execution(order, price, quantity, order.data, self._now_ns())
        self._notify(order)


def _quote_index(data: object) -> int:
    """Index of the last quote ``data`` delivered (-1 for none, or not a bound slot)."""
    if isinstance(data, SlotFeed) and data.bound:
        return data.quote_index()
    return -1


def _last_price(data: object) -> float:
    """The order's reference price: the last delivered LTP of its slot (0.0 if none)."""
    i = _quote_index(data)
    series = getattr(data, "series", None)
    if i < 0 or series is None:
        return 0.0
    price = float(series.ltp[i])
    return price if math.isfinite(price) else 0.0


def _newer(filled: int, status: str, sent: SentOrder) -> bool:
    """True when a streamed (filled, status) is ahead of what the slice knows."""
    return (filled, _STATUS_RANK.get(status, 3)) > (sent.filled,
                                                    _STATUS_RANK.get(sent.status, 3))


def _details(sent: list[SentOrder]) -> str:
    """Dhan's reasons of ``sent``, each once."""
    return "; ".join(dict.fromkeys(s.detail for s in sent if s.detail))
