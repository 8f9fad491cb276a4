"""The DhanHQ order-update stream, supervised: login, reconnect with backoff, latest status.

Each ``order_alert`` becomes an :class:`OrderStatus` kept per order id (the latest wins) and
handed to ``on_update`` on the stream's thread. The stream is the fast path for fills; the
order gateway polls the REST order book when an order has no update (stream down or slow),
so a dropped connection delays a status but never loses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets

from brokers.dhan.client import Credentials
from brokers.dhan.limits import Backoff
from brokers.dhan.loop_thread import LoopThread
from brokers.dhan.parsing import normalise_status
from core.config import DhanConfig
from core.errors import MalformedDataError

log = logging.getLogger(__name__)

LOGIN_MSG_CODE = 42


@dataclass(frozen=True)
class OrderStatus:
    """An order's state as one update reported it."""

    order_id: str
    correlation_id: str
    status: str
    quantity: int
    filled: int
    average_price: float
    reason: str


def parse_order_alert(message: dict[str, Any]) -> OrderStatus | None:
    """The status in an ``order_alert`` message; None for other message types."""
    if message.get("Type") != "order_alert":
        return None
    try:
        data = message["Data"]
        return OrderStatus(order_id=str(data["OrderNo"]),
                           correlation_id=str(data.get("CorrelationId") or ""),
                           status=normalise_status(data["Status"]),
                           quantity=int(data["Quantity"]), filled=int(data["TradedQty"]),
                           average_price=float(data.get("AvgTradedPrice") or 0.0),
                           reason=str(data.get("ReasonDescription") or ""))
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedDataError(f"bad order update {str(message)[:200]}: {e}") from e


class OrderUpdateClient(LoopThread):
    """A supervised order-update connection; :meth:`latest` answers from what it received."""

    def __init__(self, credentials: Credentials, cfg: DhanConfig | None = None, *,
                 url: str | None = None,
                 on_update: Callable[[OrderStatus], None] | None = None) -> None:
        super().__init__("dhan-order-updates")
        self.cfg = cfg or DhanConfig()
        self._url = (url or self.cfg.order_update_url).rstrip("/")
        self._login = json.dumps({"LoginReq": {"MsgCode": LOGIN_MSG_CODE,
                                               "ClientId": credentials.client_id,
                                               "Token": credentials.access_token},
                                  "UserType": "SELF"})
        self._on_update = on_update
        self._backoff = Backoff(self.cfg.feed_reconnect_base_s, self.cfg.feed_reconnect_cap_s,
                                self.cfg.backoff_jitter,
                                random.Random())  # noqa: S311 - jitter, not security
        self._latest: dict[str, OrderStatus] = {}
        self._lock = threading.Lock()
        self.connected = False
        self.connects = 0

    def latest(self, order_id: str) -> OrderStatus | None:
        """The last status received for ``order_id`` (None if none came)."""
        with self._lock:
            return self._latest.get(order_id)

    def _connection_counts(self) -> tuple[bool, int]:
        return self.connected, self.connects

    def _on_loop_closed(self) -> None:
        self.connected = False

    async def _supervise(self) -> None:
        self._stop = asyncio.Event()
        attempt = 0
        while not self._stop.is_set():
            await self._connect_and_read()
            attempt = 0 if self.connected else attempt + 1
            self.connected = False
            delay = self._backoff.delay(attempt)
            log.warning("order updates down: reconnecting in %.2fs (REST polling meanwhile)",
                        delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connect_and_read(self) -> None:
        try:
            async with websockets.connect(self._url, ping_interval=None,
                                          open_timeout=self.cfg.timeout_s) as ws:
                await ws.send(self._login)
                self.connected = True
                self.connects += 1
                async for frame in self._frames(ws):
                    self._on_message(frame)
        except (OSError, websockets.WebSocketException, TimeoutError) as e:
            log.warning("order-update connection ended: %s", e)

    def _on_message(self, text: str | bytes) -> None:
        try:
            status = parse_order_alert(json.loads(text))
        except (ValueError, MalformedDataError) as e:
            log.warning("skipped an order update: %s", e)
            return
        if status is None:
            return
        with self._lock:
            self._latest[status.order_id] = status
        if self._on_update is not None:
            self._on_update(status)
