"""The order-update WebSocket: a login message, then an ``order_alert`` per status change.

The client must send ``{"LoginReq": {"MsgCode": 42, "ClientId": .., "Token": ..},
"UserType": "SELF"}`` first (within ``LOGIN_TIMEOUT_S``); a wrong login, or an expired token
(fault), closes the socket without a message. Alerts use Dhan's field names and one-letter
codes (reference B.2); ``Status`` is title case as in Dhan's sample (``"Traded"``,
``"Part_Traded"``): readers should upper-case it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from brokers.dhan.parsing import (
    ORDER_TYPE_UPDATE_CODES,
    PRODUCT_UPDATE_CODES,
    SEGMENT_UPDATE_CODES,
    TRANSACTION_UPDATE_CODES,
)
from core.clock import to_ist
from sim.dhan_emulator.orders import Order

if TYPE_CHECKING:
    from sim.dhan_emulator.emulator import Emulator

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 10.0
LOGIN_MSG_CODE = 42
NO_TIME = "0001-01-01 00:00:00"


def ist_text(when: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in IST, Dhan's time format ("0001-01-01 00:00:00" for none)."""
    return NO_TIME if when is None else to_ist(when).strftime("%Y-%m-%d %H:%M:%S")


def order_alert(order: Order, client_id: str) -> dict[str, Any]:
    """The ``order_alert`` message of ``order``'s current state."""
    inst = order.instrument
    exchange, segment = SEGMENT_UPDATE_CODES[inst.segment]
    last = order.last_fill
    return {"Data": {
        "Exchange": exchange, "Segment": segment, "Source": "P",
        "SecurityId": str(inst.security_id), "ClientId": client_id,
        "ExchOrderNo": order.exchange_order_id, "OrderNo": order.order_id,
        "Product": PRODUCT_UPDATE_CODES[order.product],
        "TxnType": TRANSACTION_UPDATE_CODES[order.side],
        "OrderType": ORDER_TYPE_UPDATE_CODES[order.order_type], "Validity": order.validity,
        "DiscQuantity": order.disclosed_qty, "DiscQtyRem": order.disclosed_qty,
        "RemainingQuantity": order.remaining, "Quantity": order.quantity,
        "TradedQty": order.filled_qty, "Price": order.price,
        "TriggerPrice": order.trigger_price,
        "TradedPrice": last.price if last is not None else 0,
        "AvgTradedPrice": order.average_price, "AlgoOrdNo": "", "OffMktFlag": "0",
        "OrderDateTime": ist_text(order.created), "ExchOrderTime": ist_text(order.exchange_time),
        "LastUpdatedTime": ist_text(order.updated), "Remarks": "NR", "MktType": "NL",
        "ReasonDescription": order.error_text or "CONFIRMED", "LegNo": 1,
        "Instrument": inst.instrument, "Symbol": inst.underlying,
        "ProductName": order.product, "Status": order.status.title(),
        "LotSize": inst.lot_size, "StrikePrice": inst.strike or 0,
        "ExpiryDate": f"{inst.expiry} 00:00:00" if inst.expiry else NO_TIME,
        "OptType": inst.option_type or "XX", "DisplayName": inst.custom_symbol,
        "Isin": "", "Series": "XX", "GoodTillDaysDate": str(order.created.date()),
        "RefLtp": last.price if last is not None else 0, "TickSize": inst.tick_size,
        "AlgoId": "0", "Multiplier": 1, "CorrelationId": order.correlation_id or "",
    }, "Type": "order_alert"}


@dataclass
class _Listener:
    ws: web.WebSocketResponse
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    async def send_loop(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                await self.ws.close()
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class OrderUpdateHub:
    """Logged-in order-update listeners; :meth:`publish` is the book's update callback."""

    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator
        self.listeners: list[_Listener] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self.em.settings.ping_seconds, compress=False)
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=LOGIN_TIMEOUT_S)
        except TimeoutError:
            await ws.close()
            return ws
        if first.type != WSMsgType.TEXT or not self._login_ok(first.data):
            await ws.close()
            return ws
        listener = _Listener(ws)
        self.listeners.append(listener)
        sender = asyncio.create_task(listener.send_loop())
        try:
            async for _ in ws:  # nothing is expected from the client after the login
                pass
        finally:
            if listener in self.listeners:
                self.listeners.remove(listener)
            sender.cancel()
        return ws

    def _login_ok(self, text: str) -> bool:
        try:
            login = json.loads(text)["LoginReq"]
            ok = (int(login["MsgCode"]) == LOGIN_MSG_CODE
                  and str(login["ClientId"]) == self.em.settings.client_id
                  and str(login["Token"]) == self.em.settings.access_token)
        except (ValueError, TypeError, KeyError):
            ok = False
        if not ok:
            log.info("order updates: rejected login %s", text[:200])
        return ok and not self.em.faults.token_expired

    def publish(self, order: Order) -> None:
        if not self.listeners:
            return
        text = json.dumps(order_alert(order, self.em.settings.client_id))
        for listener in self.listeners:
            listener.queue.put_nowait(text)

    def close_all(self) -> int:
        closing, self.listeners = self.listeners, []
        for listener in closing:
            listener.queue.put_nowait(None)
        return len(closing)
