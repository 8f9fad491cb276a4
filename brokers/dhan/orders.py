"""Sending journalled orders to Dhan: arming, freeze-quantity slicing, exits until flat.

The strategy has already written the :class:`~strategies.records.OrderRecord` (intent before
send, keyed by its correlation id). :class:`OrderGateway` then either sends it, or, unless
both arming switches are on (``live.orders_enabled=true`` and env ``OPTSCALP_LIVE=1``),
logs what it would have sent and journals it as not sent: a dry run never reaches Dhan.

A quantity above the contract's freeze quantity is sent as whole-lot slices, each with its
own correlation id (the parent's plus ``-s<n>``). Exits are sold until flat: Dhan turns a
market order into a limit inside a price-protection band, so an exit can rest PENDING while
the price runs away; after ``exit_wait_polls`` polls without a fill the rest is cancelled
and sent again (a fresh correlation id each round) up to ``exit_rounds`` times. The order
status comes from the order-update stream when one is wired, and from polling otherwise.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from brokers.dhan.client import DhanClient
from brokers.dhan.order_updates import OrderUpdateClient
from brokers.dhan.parsing import TERMINAL_STATUSES, normalise_status
from core.config import LiveConfig
from core.errors import AuthError, BrokerError, OrderRejected, TransientBrokerError
from strategies.records import JournalSink, OrderRecord, OrderUpdateRecord

log = logging.getLogger(__name__)

ENV_ARM = "OPTSCALP_LIVE"
CORRELATION_ID_MAX = 30


def live_armed(live: LiveConfig, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Whether real orders may be sent, and the sentence that says so at start."""
    source = os.environ if env is None else env
    config_on, env_on = bool(live.orders_enabled), source.get(ENV_ARM) == "1"
    if config_on and env_on:
        return True, "LIVE: orders WILL be sent to DhanHQ"
    missing = [text for on, text in ((config_on, "live.orders_enabled=true"),
                                     (env_on, f"env {ENV_ARM}=1")) if not on]
    return False, f"DRY RUN: no order will be sent (to arm, set {' and '.join(missing)})"


def slice_quantities(quantity: int, lot_size: int, freeze_qty: int | None) -> list[int]:
    """``quantity`` in slices of whole lots, none above the freeze quantity."""
    if lot_size <= 0 or quantity <= 0 or quantity % lot_size:
        raise OrderRejected(f"quantity {quantity} is not a positive whole number of lots of "
                            f"{lot_size}")
    if not freeze_qty or quantity <= freeze_qty:
        return [quantity]
    step = max(freeze_qty // lot_size, 1) * lot_size
    return [min(step, quantity - start) for start in range(0, quantity, step)]


def slice_correlation_id(parent: str, index: int, count: int) -> str:
    """The parent's id for a single slice, else the parent (trimmed) plus ``-s<index>``."""
    if count == 1:
        return parent
    suffix = f"-s{index}"
    return parent[:CORRELATION_ID_MAX - len(suffix)] + suffix


def round_correlation_id(parent: str, round_no: int) -> str:
    """The id of an exit's ``round_no``-th re-send (round 0 is the journalled order)."""
    if round_no == 0:
        return parent
    suffix = f"-r{round_no}"
    return parent[:CORRELATION_ID_MAX - len(suffix)] + suffix


@dataclass
class SentOrder:
    """One order Dhan knows about (a slice, or a re-sent exit round)."""

    correlation_id: str
    order_id: str
    quantity: int
    status: str = "TRANSIT"
    filled: int = 0
    average_price: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Contract:
    segment: str
    lot_size: int
    freeze_qty: int | None = None


class OrderGateway:
    """Sends journalled orders (or, unarmed, only logs them); see the module docstring."""

    def __init__(self, client: DhanClient | None, journal: JournalSink, armed: bool, *,
                 product: str = "INTRADAY", exit_wait_polls: int = 5, exit_rounds: int = 10,
                 poll_sleep: Callable[[float], None] | None = None,
                 poll_interval_s: float = 0.2,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 updates: OrderUpdateClient | None = None) -> None:
        if armed and client is None:
            raise BrokerError("an armed order gateway needs a Dhan client")
        self.client, self.journal, self.armed = client, journal, armed
        self.product = product
        self.exit_wait_polls, self.exit_rounds = exit_wait_polls, exit_rounds
        self._sleep = poll_sleep or time.sleep
        self.poll_interval_s = poll_interval_s
        self._now = now
        self.updates = updates
        self.polls = 0  # REST status polls made (the order-update stream saves them)
        self.auth_problem = ""  # set when Dhan refuses the credentials: entries stop
        self.sent: dict[str, list[SentOrder]] = {}  # parent correlation id -> its orders
        self.would_send: list[OrderRecord] = []  # dry run: what was not sent

    def send(self, record: OrderRecord, contract: Contract) -> list[SentOrder]:
        """Send a journalled order (sliced at the freeze quantity); [] in a dry run."""
        if not self.armed:
            self.would_send.append(record)
            log.warning("DRY RUN: would send %s %d x %s (%s)", record.side, record.quantity,
                        record.symbol, record.correlation_id)
            self._update(record.correlation_id, "CANCELLED", "dry run: not sent")
            return []
        assert self.client is not None
        if self.auth_problem and record.purpose == "entry":
            detail = f"entries stopped: {self.auth_problem}"
            log.error("entry %s not sent: %s", record.correlation_id, detail)
            self._update(record.correlation_id, "REJECTED", detail)
            return [SentOrder(record.correlation_id, "", record.quantity, "REJECTED",
                              detail=detail)]
        quantities = slice_quantities(record.quantity, contract.lot_size, contract.freeze_qty)
        orders = self.sent.setdefault(record.correlation_id, [])
        for i, qty in enumerate(quantities, start=1):
            cid = slice_correlation_id(record.correlation_id, i, len(quantities))
            orders.append(self._place(record, contract, cid, qty))
        return orders

    def _place(self, record: OrderRecord, contract: Contract, cid: str, qty: int
               ) -> SentOrder:
        assert self.client is not None
        try:
            ack = self.client.place_order(security_id=record.security_id,
                                          segment=contract.segment, side=record.side,
                                          quantity=qty, correlation_id=cid,
                                          product=self.product)
        except OrderRejected as e:
            order_id = str(getattr(e, "order_id", ""))
            self._update(record.correlation_id, "REJECTED", str(e), order_id)
            return SentOrder(cid, order_id, qty, "REJECTED", detail=str(e))
        except AuthError as e:
            self.auth_problem = str(e)
            log.error("ALERT: DhanHQ credentials failed (%s): entries stopped, exits still "
                      "tried; set a new DHAN_ACCESS_TOKEN and restart", e)
            self._update(record.correlation_id, "REJECTED", f"not sent: {e}")
            return SentOrder(cid, "", qty, "REJECTED", detail=str(e))
        except TransientBrokerError as e:  # retries used up: not sent (an exit tries again)
            self._update(record.correlation_id, "REJECTED", f"not sent: {e}")
            return SentOrder(cid, "", qty, "REJECTED", detail=str(e))
        sent = SentOrder(cid, str(ack["orderId"]), qty, normalise_status(ack["orderStatus"]))
        self._update(record.correlation_id, sent.status, f"slice {cid}", sent.order_id)
        return sent

    def refresh(self, sent: SentOrder) -> SentOrder:
        """The order's status and fills: from the update stream, else by polling Dhan."""
        assert self.client is not None
        if sent.status in TERMINAL_STATUSES or not sent.order_id:
            return sent
        streamed = self.updates.latest(sent.order_id) if self.updates is not None else None
        if streamed is not None and streamed.status in TERMINAL_STATUSES:
            sent.status, sent.filled = streamed.status, streamed.filled
            sent.average_price, sent.detail = streamed.average_price, streamed.reason
            return sent
        self.polls += 1
        try:
            view = self.client.order_by_id(sent.order_id)
        except BrokerError as e:  # the next poll (or the update stream) will tell
            log.warning("status of %s unavailable: %s", sent.order_id, e)
            return sent
        sent.status = normalise_status(view["orderStatus"])
        sent.filled = int(view.get("filledQty") or 0)
        sent.average_price = float(view.get("averageTradedPrice") or 0.0)
        sent.detail = str(view.get("omsErrorDescription") or "")
        return sent

    def wait_final(self, sent: SentOrder, polls: int) -> SentOrder:
        """Poll up to ``polls`` times until the order is TRADED/REJECTED/CANCELLED."""
        for _ in range(polls):
            if self.refresh(sent).status in TERMINAL_STATUSES:
                break
            self._sleep(self.poll_interval_s)
        return sent

    def exit_until_flat(self, record: OrderRecord, contract: Contract) -> int:
        """Sell ``record.quantity`` until it is all filled; the quantity filled."""
        if not self.armed:
            self.send(record, contract)
            return 0
        filled, left = 0, record.quantity
        for round_no in range(self.exit_rounds):
            cid = round_correlation_id(record.correlation_id, round_no)
            part = OrderRecord(**{**record.__dict__, "correlation_id": cid, "quantity": left})
            for sent in self.send(part, contract):
                self.wait_final(sent, self.exit_wait_polls)
                if sent.status not in TERMINAL_STATUSES:
                    self._cancel(sent)
                filled += sent.filled
            left = record.quantity - filled
            if left <= 0:
                return filled
            log.warning("exit %s: %d of %d left after round %d: sending again",
                        record.correlation_id, left, record.quantity, round_no + 1)
            self._sleep(self.poll_interval_s)
        log.error("exit %s NOT flat after %d rounds: %d left", record.correlation_id,
                  self.exit_rounds, left)
        return filled

    def _cancel(self, sent: SentOrder) -> None:
        assert self.client is not None
        try:
            self.client.cancel_order(sent.order_id)
        except OrderRejected as e:  # filled meanwhile: the refresh below says so
            log.info("cancel %s: %s", sent.order_id, e)
        sent.status = "PENDING"
        self.wait_final(sent, self.exit_wait_polls)

    def _update(self, correlation_id: str, status: str, detail: str, order_id: str = ""
                ) -> None:
        self.journal.order_update(OrderUpdateRecord(correlation_id, self._now(), status,
                                                    detail, order_id))
