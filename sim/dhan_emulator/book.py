"""The emulated account: orders, trades, positions and funds, filled by the shared fill model.

Synchronous and clock-free: every call takes ``now`` (the replay time) and quotes come from
the :class:`~sim.dhan_emulator.market.EmulatedMarket` at that instant. Each status change is
reported to ``on_update`` (the order-update feed). The account is an option *buyer's*: a sell
must close a long (no naked shorts), a buy must be affordable.

Order life: ``place`` validates (bad input -> DhanApiError, no order) and runs the RMS checks
(-> REJECTED); the order is TRANSIT until :meth:`Book.release` sends it to the "exchange"
(PENDING, then a first match); every later quote of its instrument re-matches it. Market
orders fill at the touch (or, with a price-protection band, as a limit that may rest), limit
orders when crossed, each fill capped by the top-of-book quantity still unused at that quote.
With ``FillSettings.fill_on_next_quote`` an order skips the quote it was decided on (stamped at
or before its creation) and first matches on its instrument's next quote, as the replay's
SimBroker does; an IOC order then gets that one quote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import cast

from brokers.charges import ChargeSchedule, order_charges
from brokers.dhan.parsing import ORDER_TYPES, PRODUCT_TYPES, TERMINAL_STATUSES, VALIDITIES
from brokers.fills import (
    Fill,
    FillParams,
    Quote,
    Side,
    fill_limit,
    fill_market,
    round_to_tick,
)
from core.clock import ns_from_utc
from sim.dhan_emulator.errors import DhanApiError
from sim.dhan_emulator.market import EmulatedMarket, Instrument, Snapshot
from sim.dhan_emulator.orders import (
    CORRELATION_RE,
    FillSettings,
    Funds,
    Order,
    OrderRequest,
    Position,
    Trade,
)

log = logging.getLogger(__name__)

MAX_MODIFICATIONS = 25
DERIVATIVE_PRODUCTS = ("INTRADAY", "MARGIN")


class Book:
    """Orders, trades, positions and funds of one emulated client (see module docstring)."""

    def __init__(self, market: EmulatedMarket, opening_balance: float, fills: FillSettings,
                 charges: ChargeSchedule | None,
                 on_update: Callable[[Order], None] = lambda order: None) -> None:
        self.market = market
        self.opening_balance = float(opening_balance)
        self.fills = fills
        self.charges = charges
        self.on_update = on_update
        self.orders: dict[str, Order] = {}
        self.trades: list[Trade] = []
        self.reject_next = 0  # fault knob: reject this many coming orders
        self._seq = 0
        self._used: dict[tuple[int, str], tuple[int, int]] = {}  # liquidity taken per quote

    # ----- placing ------------------------------------------------------------------------

    def place(self, req: OrderRequest, now: datetime) -> Order:
        """Validate and accept an order (TRANSIT) or reject it; call :meth:`release` next."""
        instrument = self._validate(req)
        self._seq += 1
        order = Order(
            order_id=f"{self.market.day:%y%m%d}{self._seq:07d}", instrument=instrument,
            side=req.side, product=req.product, order_type=req.order_type,
            validity=req.validity, quantity=req.quantity, price=round(req.price, 2),
            trigger_price=round(req.trigger_price, 2), disclosed_qty=req.disclosed_qty,
            correlation_id=req.correlation_id, created=now, updated=now)
        problem = self._rms_problem(order, now)  # before the order blocks any funds itself
        self.orders[order.order_id] = order
        self._notify(order)
        if problem:
            self._reject(order, problem, now)
        return order

    def release(self, order: Order, now: datetime) -> None:
        """The order reaches the exchange: PENDING, then matched against the current quote."""
        if order.status != "TRANSIT":
            return
        order.status, order.updated, order.exchange_time = "PENDING", now, now
        order.exchange_order_id = f"1100000{self._seq_of(order):09d}"
        self._notify(order)
        self._match(order, now)
        if order.validity == "IOC" and order.working and not self._awaits_next_quote(order, now):
            self._set_status(order, "CANCELLED", now)

    def _validate(self, req: OrderRequest) -> Instrument:
        instrument = self.market.instrument(req.security_id)
        if instrument is None or instrument.segment != req.segment:
            raise DhanApiError("DH-905", f"Invalid SecurityId {req.security_id} for "
                                         f"{req.segment}")
        checks = [
            (req.side in ("BUY", "SELL"), "DH-905", f"Invalid transactionType {req.side}"),
            (req.order_type in ORDER_TYPES, "DH-905", f"Invalid orderType {req.order_type}"),
            (req.product in PRODUCT_TYPES, "DH-905", f"Invalid productType {req.product}"),
            (req.validity in VALIDITIES, "DH-905", f"Invalid validity {req.validity}"),
            (req.correlation_id is None or bool(CORRELATION_RE.match(req.correlation_id)),
             "DH-905", "correlationId must be 1-30 characters of [A-Za-z0-9 _-]"),
            (instrument.instrument == "OPTIDX", "DH-906", "Only index options are tradable"),
            (req.product in DERIVATIVE_PRODUCTS, "DH-906",
             f"Product {req.product} is not allowed for derivatives"),
            (not req.after_market, "DH-906", "After market orders are not supported"),
            (req.quantity > 0 and req.quantity % instrument.lot_size == 0, "DH-906",
             f"Quantity should be a multiple of lot size {instrument.lot_size}"),
            (instrument.freeze_qty is None or req.quantity <= instrument.freeze_qty, "DH-906",
             f"Quantity exceeds the freeze quantity {instrument.freeze_qty}; slice the order"),
            (req.order_type not in ("LIMIT", "STOP_LOSS") or req.price > 0, "DH-905",
             "price must be > 0 for a limit order"),
            (not req.order_type.startswith("STOP_LOSS") or req.trigger_price > 0, "DH-905",
             "triggerPrice must be > 0 for a stop-loss order"),
        ]
        for ok, code, message in checks:
            if not ok:
                raise DhanApiError(code, message)
        return instrument

    def _rms_problem(self, order: Order, now: datetime) -> str | None:
        if self.reject_next > 0:
            self.reject_next -= 1
            return "RMS:Order rejected by the emulator's reject_next_orders fault"
        if order.side == "SELL":
            held = self._long_qty(order.instrument.security_id, order.product)
            pending = sum(o.remaining for o in self.orders.values() if o.open
                          and o.side == "SELL" and o.instrument is order.instrument)
            if order.quantity > held - pending:
                return (f"RMS:Short selling of options is not allowed: holding {held}, "
                        f"pending sells {pending}, order {order.quantity}")
            return None
        required = order.quantity * self._estimate_price(order, now)
        available = self.funds(now).available
        if required > available:
            return (f"RMS:Margin Exceeds,Cash Available:{available:.2f},"
                    f"Margin Required:{required:.2f}")
        return None

    # ----- matching -----------------------------------------------------------------------

    def on_quote(self, security_id: int, now: datetime) -> None:
        """Re-match the working orders of ``security_id`` on its latest quote."""
        for order in [o for o in self.orders.values()
                      if o.working and o.instrument.security_id == security_id]:
            self._match(order, now)
            if self.fills.fill_on_next_quote and order.validity == "IOC" and order.working:
                self._set_status(order, "CANCELLED", now)  # its one chance was this quote

    def working_ids(self) -> set[int]:
        return {o.instrument.security_id for o in self.orders.values() if o.working}

    def _match(self, order: Order, now: datetime) -> None:
        snap = self.market.snapshot(order.instrument.security_id, ns_from_utc(now))
        if snap is None or not order.working:
            return
        if self.fills.fill_on_next_quote and snap.ts_ns <= ns_from_utc(order.created):
            return  # the client decided on this quote; the exchange sees the order after it
        if order.order_type.startswith("STOP_LOSS") and not order.triggered:
            hit = (snap.ltp >= order.trigger_price if order.side == "BUY"
                   else snap.ltp <= order.trigger_price)
            if not hit:
                return
            order.triggered, order.resting = True, False
        quote = self._available_quote(order, snap)
        if quote is None:
            return
        fill = self._fill(order, quote)
        order.resting = True
        if fill is not None:
            self._apply_fill(order, fill, snap, now)

    def _awaits_next_quote(self, order: Order, now: datetime) -> bool:
        """With ``fill_on_next_quote``: no quote after the order's creation has come yet."""
        if not self.fills.fill_on_next_quote:
            return False
        snap = self.market.snapshot(order.instrument.security_id, ns_from_utc(now))
        return snap is None or snap.ts_ns <= ns_from_utc(order.created)

    def _fill(self, order: Order, quote: Quote) -> Fill | None:
        params = self.fills.params(order.instrument.tick_size)
        qty, side = order.remaining, cast(Side, order.side)
        if order.order_type in ("LIMIT", "STOP_LOSS"):
            return fill_limit(side, qty, order.price, quote, params, resting=order.resting)
        if order.protection_limit is not None:
            return fill_limit(side, qty, order.protection_limit, quote, params, resting=True)
        if params.price_protection_pct is not None and quote.ltp:
            order.protection_limit = _band(side, quote.ltp, params)
        return fill_market(side, qty, quote, params)

    def _available_quote(self, order: Order, snap: Snapshot) -> Quote | None:
        """The quote with the touch size already taken by earlier fills at it removed."""
        quote = snap.fill_quote()
        used_ts, used = self._used.get((snap.security_id, order.side), (-1, 0))
        if used_ts != snap.ts_ns or not self.fills.cap_by_top_qty:
            return quote
        top = (snap.ask_qty if order.side == "BUY" else snap.bid_qty) - used
        if top <= 0:
            return None
        if order.side == "BUY":
            return Quote(quote.ts_ns, quote.ltp, quote.bid, quote.ask, quote.bid_qty, top)
        return Quote(quote.ts_ns, quote.ltp, quote.bid, quote.ask, top, quote.ask_qty)

    def _apply_fill(self, order: Order, fill: Fill, snap: Snapshot, now: datetime) -> None:
        key = (snap.security_id, order.side)
        used_ts, used = self._used.get(key, (-1, 0))
        self._used[key] = (snap.ts_ns, (used if used_ts == snap.ts_ns else 0) + fill.quantity)
        order.filled_qty += fill.quantity
        order.traded_value += fill.price * fill.quantity
        order.last_fill = fill
        self.trades.append(Trade(order, f"{len(self.trades) + 1:09d}", fill.quantity,
                                 fill.price, now))
        if self.charges is not None:
            order.charges = order_charges(
                order.side, order.traded_value, order.instrument.exchange,  # type: ignore[arg-type]
                self.market.day, self.charges).total
        self._set_status(order, "TRADED" if order.filled_qty == order.quantity
                         else "PART_TRADED", now)

    # ----- modify / cancel / expire -------------------------------------------------------

    def get(self, order_id: str) -> Order:
        order = self.orders.get(str(order_id))
        if order is None:
            raise DhanApiError("DH-906", f"Order {order_id} not found")
        return order

    def by_correlation(self, correlation_id: str) -> Order:
        for order in self.orders.values():
            if order.correlation_id == correlation_id:
                return order
        raise DhanApiError("DH-906", f"No order with correlation id {correlation_id}")

    def modify(self, order_id: str, body: dict, now: datetime) -> Order:
        """Change type/quantity (total)/price/trigger/validity of a working order."""
        order = self.get(order_id)
        if not order.open:
            raise DhanApiError("DH-906", f"Order {order_id} is {order.status}; cannot modify")
        if order.modifications >= MAX_MODIFICATIONS:
            raise DhanApiError("DH-906", f"Order {order_id}: {MAX_MODIFICATIONS} "
                                         "modifications already")
        new_type = str(body.get("orderType") or order.order_type).upper()
        quantity = int(float(body.get("quantity") or order.quantity))
        if new_type not in ORDER_TYPES or quantity < max(order.filled_qty, 1) \
                or quantity % order.instrument.lot_size:
            raise DhanApiError("DH-905", f"Invalid modification of {order_id}: type "
                                         f"{new_type}, quantity {quantity}")
        order.order_type, order.quantity = new_type, quantity
        order.price = round(float(body.get("price") or order.price), 2)
        order.trigger_price = round(float(body.get("triggerPrice") or order.trigger_price), 2)
        order.validity = str(body.get("validity") or order.validity).upper()
        order.modifications += 1
        order.resting = False
        order.protection_limit = None
        order.updated = now
        self._notify(order)
        if order.working:
            self._match(order, now)
        return order

    def cancel(self, order_id: str, now: datetime) -> Order:
        order = self.get(order_id)
        if not order.open:
            raise DhanApiError("DH-906", f"Order {order_id} is {order.status}; cannot cancel")
        self._set_status(order, "CANCELLED", now)
        return order

    def expire_all(self, now: datetime) -> None:
        """The session closed: DAY orders still working expire."""
        for order in self.orders.values():
            if order.open:
                self._set_status(order, "EXPIRED", now)

    def _reject(self, order: Order, reason: str, now: datetime) -> None:
        order.error_code, order.error_text = "16283", reason
        self._set_status(order, "REJECTED", now)

    def _set_status(self, order: Order, status: str, now: datetime) -> None:
        order.status, order.updated = status, now
        self._notify(order)

    def _notify(self, order: Order) -> None:
        try:
            self.on_update(order)
        except Exception:  # a broken listener must not corrupt the book
            log.exception("order update listener failed for %s", order.order_id)

    def _seq_of(self, order: Order) -> int:
        return int(order.order_id[-7:])

    # ----- positions and funds --------------------------------------------------------------

    def positions(self, now: datetime) -> list[Position]:
        """Net positions per (instrument, product), marked at the LTP of ``now``."""
        found = self._aggregate()
        at = ns_from_utc(now)
        for pos in found:
            snap = self.market.snapshot(pos.instrument.security_id, at)
            pos.ltp = snap.ltp if snap is not None else pos.buy_avg
        return found

    def _aggregate(self) -> list[Position]:
        found: dict[tuple[int, str], Position] = {}
        for trade in self.trades:
            key = (trade.order.instrument.security_id, trade.order.product)
            pos = found.setdefault(key, Position(trade.order.instrument, trade.order.product))
            if trade.order.side == "BUY":
                pos.buy_qty += trade.quantity
                pos.buy_value += trade.quantity * trade.price
            else:
                pos.sell_qty += trade.quantity
                pos.sell_value += trade.quantity * trade.price
        return list(found.values())

    def funds(self, now: datetime) -> Funds:
        """Cash after premiums and charges, less what working buy orders block."""
        cash = self.opening_balance - sum(o.charges for o in self.orders.values())
        for trade in self.trades:
            sign = -1.0 if trade.order.side == "BUY" else 1.0
            cash += sign * trade.quantity * trade.price
        blocked = sum(o.remaining * self._estimate_price(o, now) for o in self.orders.values()
                      if o.side == "BUY" and o.open)
        available = cash - blocked
        return Funds(opening=self.opening_balance, available=round(available, 2),
                     utilized=round(max(self.opening_balance - available, 0.0), 2),
                     blocked=round(blocked, 2))

    def _long_qty(self, security_id: int, product: str) -> int:
        return sum(p.net_qty for p in self._aggregate()
                   if p.instrument.security_id == security_id and p.product == product)

    def _estimate_price(self, order: Order, now: datetime) -> float:
        if order.order_type in ("LIMIT", "STOP_LOSS"):
            return order.price
        if order.protection_limit is not None:
            return order.protection_limit
        snap = self.market.snapshot(order.instrument.security_id, ns_from_utc(now))
        if snap is None:
            return order.trigger_price
        touch = snap.ask if order.side == "BUY" else snap.bid
        return touch if touch == touch and touch > 0 else snap.ltp  # NaN-safe


def _band(side: str, ltp: float, params: FillParams) -> float:
    band = params.price_protection_pct or 0.0
    if side == "BUY":
        return round_to_tick(ltp * (1 + band), params.tick_size, "down")
    return round_to_tick(ltp * (1 - band), params.tick_size, "up")


def is_terminal(order: Order) -> bool:
    return order.status in TERMINAL_STATUSES

