"""What the emulated account holds: orders, trades, positions, funds, and typed requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from brokers.fills import Fill, FillParams
from sim.dhan_emulator.errors import DhanApiError
from sim.dhan_emulator.market import Instrument

CORRELATION_RE = re.compile(r"^[A-Za-z0-9 _-]{1,30}$")


@dataclass(frozen=True)
class FillSettings:
    """How the emulator fills: the ``broker`` config's knobs (latency is the ack delay).

    ``fill_on_next_quote``: an order never fills on a quote stamped at or before its creation
    (the client decided on that quote; the exchange sees the order after it), only on its
    instrument's next one, as the replay's SimBroker does at zero latency.
    """

    slippage_ticks: int = 0
    cap_by_top_qty: bool = True
    price_protection_pct: float | None = None
    fill_on_next_quote: bool = False

    def params(self, tick_size: float) -> FillParams:
        return FillParams(latency_ms=0.0, slippage_ticks=self.slippage_ticks,
                          tick_size=tick_size, cap_by_top_qty=self.cap_by_top_qty,
                          price_protection_pct=self.price_protection_pct)


@dataclass
class Order:
    """One order's state; ``resting`` = already in the book (a later cross fills at its limit)."""

    order_id: str
    instrument: Instrument
    side: str
    product: str
    order_type: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    disclosed_qty: int
    correlation_id: str | None
    created: datetime
    updated: datetime
    status: str = "TRANSIT"
    exchange_time: datetime | None = None
    exchange_order_id: str = "0"
    filled_qty: int = 0
    traded_value: float = 0.0
    error_code: str = "0"
    error_text: str = ""
    triggered: bool = False
    protection_limit: float | None = None
    charges: float = 0.0
    last_fill: Fill | None = None
    modifications: int = 0
    resting: bool = False

    @property
    def remaining(self) -> int:
        """Quantity still to fill; 0 once the order is closed (as the order book shows)."""
        if self.status in ("CANCELLED", "REJECTED", "EXPIRED"):
            return 0
        return self.quantity - self.filled_qty

    @property
    def average_price(self) -> float:
        return round(self.traded_value / self.filled_qty, 2) if self.filled_qty else 0.0

    @property
    def working(self) -> bool:
        """At the exchange and not done: matched on every quote."""
        return self.status in ("PENDING", "PART_TRADED")

    @property
    def open(self) -> bool:
        """Working, or still in TRANSIT to the exchange: it can be modified or cancelled."""
        return self.working or self.status == "TRANSIT"


@dataclass(frozen=True)
class Trade:
    """One execution of an order."""

    order: Order
    trade_id: str
    quantity: int
    price: float
    time: datetime


@dataclass
class Position:
    """The day's buys and sells of one (instrument, product), marked at ``ltp``."""

    instrument: Instrument
    product: str
    buy_qty: int = 0
    buy_value: float = 0.0
    sell_qty: int = 0
    sell_value: float = 0.0
    ltp: float = 0.0

    @property
    def net_qty(self) -> int:
        return self.buy_qty - self.sell_qty

    @property
    def buy_avg(self) -> float:
        return self.buy_value / self.buy_qty if self.buy_qty else 0.0

    @property
    def sell_avg(self) -> float:
        return self.sell_value / self.sell_qty if self.sell_qty else 0.0

    @property
    def realized(self) -> float:
        return min(self.buy_qty, self.sell_qty) * (self.sell_avg - self.buy_avg)

    @property
    def unrealized(self) -> float:
        net = self.net_qty
        if net > 0:
            return (self.ltp - self.buy_avg) * net
        return (self.sell_avg - self.ltp) * -net if net < 0 else 0.0


@dataclass(frozen=True)
class Funds:
    """Cash view: ``available`` = opening - premiums paid + received - charges - blocked."""

    opening: float
    available: float
    utilized: float
    blocked: float


@dataclass(frozen=True)
class OrderRequest:
    """A place-order body, already typed (see :func:`order_request`)."""

    security_id: int
    segment: str
    side: str
    product: str
    order_type: str
    validity: str
    quantity: int
    price: float
    trigger_price: float
    disclosed_qty: int
    correlation_id: str | None
    after_market: bool = False


def order_request(body: dict) -> OrderRequest:
    """Type a JSON body of ``POST /orders`` (DhanApiError DH-905 naming a bad field)."""
    def number(key: str, kind: type, default: float = 0) -> float:
        raw = body.get(key, default)
        if raw in ("", None):
            raw = default
        try:
            value = float(raw)
        except (TypeError, ValueError) as e:
            raise DhanApiError("DH-905", f"{key}: not a number: {raw!r}") from e
        if kind is int and not value.is_integer():
            raise DhanApiError("DH-905", f"{key}: not a whole number: {raw!r}")
        return kind(value)

    for key in ("transactionType", "exchangeSegment", "productType", "orderType", "securityId",
                "quantity"):
        if body.get(key) in (None, ""):
            raise DhanApiError("DH-905", f"Missing required field {key}")
    corr = body.get("correlationId")
    return OrderRequest(
        security_id=int(number("securityId", int)), segment=str(body["exchangeSegment"]).upper(),
        side=str(body["transactionType"]).upper(), product=str(body["productType"]).upper(),
        order_type=str(body["orderType"]).upper(),
        validity=str(body.get("validity") or "DAY").upper(),
        quantity=int(number("quantity", int)), price=float(number("price", float)),
        trigger_price=float(number("triggerPrice", float)),
        disclosed_qty=int(number("disclosedQuantity", int)),
        correlation_id=None if corr in (None, "") else str(corr),
        after_market=bool(body.get("afterMarketOrder", False)))
