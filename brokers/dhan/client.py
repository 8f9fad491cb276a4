"""The raw DhanHQ REST client: the only module that imports ``dhanhq``.

Every call goes through one gate: the API family's rate windows, the official client, then
the failure envelope turned into a typed error by Dhan's error code. Transient failures
(DH-904 rate limit, DH-908/909/910, network errors) are retried with capped exponential
backoff and jitter; everything else goes to the caller at once. An order whose placement
failed ambiguously (timeout, 5xx: the request may have reached Dhan) is looked up by its
correlation id before it is sent again, so a retry never duplicates an order.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from brokers.dhan.limits import Backoff, Clock, KeySpacing, Sleep, family_limits
from core.config import DhanConfig
from core.errors import (
    AuthError,
    BrokerError,
    MissingDataError,
    OrderRejected,
    RateLimited,
    TransientBrokerError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

ENV_CLIENT_ID = "DHAN_CLIENT_ID"
ENV_ACCESS_TOKEN = "DHAN_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_BASE_URL = "DHAN_BASE_URL"

# Dhan REST error code -> the exception a caller sees (reference B, error annexure).
ERROR_CLASSES: dict[str, type[BrokerError]] = {
    "DH-901": AuthError,            # client id / token invalid or expired
    "DH-902": AuthError,            # no data or trading API access
    "DH-903": OrderRejected,        # account problem
    "DH-904": RateLimited,
    "DH-905": OrderRejected,        # bad input
    "DH-906": OrderRejected,        # order error
    "DH-907": MissingDataError,     # no data for those parameters (a DataError)
    "DH-908": TransientBrokerError,
    "DH-909": TransientBrokerError,
    "DH-910": TransientBrokerError,
    "DH-911": AuthError,            # static IP not whitelisted: no retry helps
}


@dataclass(frozen=True)
class Credentials:
    client_id: str
    access_token: str

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(client_id={self.client_id!r}, access_token=***)"


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from ``DHAN_CLIENT_ID`` / ``DHAN_ACCESS_TOKEN``; AuthError naming a gap."""
    source = os.environ if env is None else env
    missing = [k for k in (ENV_CLIENT_ID, ENV_ACCESS_TOKEN) if not source.get(k)]
    if missing:
        raise AuthError(f"DhanHQ credentials missing: set {' and '.join(missing)}")
    return Credentials(source[ENV_CLIENT_ID], source[ENV_ACCESS_TOKEN])


def error_from_response(response: dict[str, Any], operation: str) -> Exception:
    """The typed error for a failed ``dhanhq`` response (``status == "failure"``)."""
    remarks = response.get("remarks")
    if not isinstance(remarks, dict):  # an exception text: timeout, refused, non-JSON body
        return TransientBrokerError(f"{operation}: network or gateway failure: {remarks}")
    code = str(remarks.get("error_code") or "")
    text = f"{operation}: {code} {remarks.get('error_message') or remarks.get('error_type')}"
    return ERROR_CLASSES.get(code, BrokerError)(text)


class DhanClient:
    """Typed, paced, retrying calls over the official client (one instance per account)."""

    def __init__(self, credentials: Credentials, cfg: DhanConfig | None = None, *,
                 base_url: str | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        from dhanhq import DhanContext, dhanhq

        self.cfg = cfg or DhanConfig()
        context = DhanContext(credentials.client_id, credentials.access_token)
        http = context.get_dhan_http()
        http.base_url = (base_url or os.environ.get(ENV_BASE_URL) or self.cfg.base_url)
        http.base_url = http.base_url.rstrip("/")
        http.timeout = self.cfg.timeout_s
        self.credentials = credentials
        self.api = dhanhq(context)
        self._sleep = sleep
        self._limits = family_limits(self.cfg, clock, sleep)
        self._chain_spacing = KeySpacing(self.cfg.option_chain_seconds, clock, sleep)
        self._backoff = Backoff.from_config(self.cfg, rng)
        self.retries = 0  # transient failures retried so far (health page, tests)

    # ----- the gate -----------------------------------------------------------------------

    def _once(self, family: str, operation: str, call: Callable[[], dict]) -> Any:
        for limit in self._limits[family]:
            limit.acquire()
        response = call()
        if response.get("status") == "success":
            return response.get("data")
        raise error_from_response(response, operation)

    def _call(self, family: str, operation: str, call: Callable[[], dict],
              before_retry: Callable[[], Any] | None = None) -> Any:
        """``call`` with retries on transient errors; ``before_retry`` may settle it instead."""
        attempt = 0
        while True:
            try:
                return self._once(family, operation, call)
            except TransientBrokerError as e:
                if attempt >= self.cfg.max_retries:
                    raise
                delay = self._backoff.delay(attempt)
                log.warning("%s failed (%s); retry %d in %.2fs", operation, e, attempt + 1,
                            delay)
                self._sleep(delay)
                attempt += 1
                self.retries += 1
                if before_retry is not None and not isinstance(e, RateLimited):
                    settled = before_retry()
                    if settled is not None:
                        return settled

    # ----- orders -------------------------------------------------------------------------

    def place_order(self, *, security_id: int | str, segment: str, side: str, quantity: int,
                    correlation_id: str, order_type: str = "MARKET", product: str = "INTRADAY",
                    price: float = 0.0, validity: str = "DAY") -> dict[str, Any]:
        """Place one order; ``{"orderId", "orderStatus"}``. OrderRejected if Dhan refuses it."""
        def send() -> dict:
            return self.api.place_order(
                security_id=str(security_id), exchange_segment=segment,
                transaction_type=side, quantity=int(quantity), order_type=order_type,
                product_type=product, price=float(price), validity=validity,
                tag=correlation_id)

        def already_placed() -> dict[str, Any] | None:
            found = self.order_by_correlation(correlation_id)
            if found is None:
                return None
            log.warning("order %s reached Dhan despite the failure: not resent", correlation_id)
            return {"orderId": str(found["orderId"]), "orderStatus": found["orderStatus"]}

        ack = self._call("orders", f"place {side} {quantity} {security_id} {correlation_id}",
                         send, before_retry=already_placed)
        if str(ack.get("orderStatus", "")).upper() == "REJECTED":
            raise self._rejection(str(ack.get("orderId")), correlation_id)
        return ack

    def _rejection(self, order_id: str, correlation_id: str) -> OrderRejected:
        """OrderRejected for an order Dhan acknowledged as REJECTED, with its OMS reason."""
        try:
            reason = self.order_by_id(order_id).get("omsErrorDescription") or "no reason given"
        except BrokerError as e:
            reason = f"reason unavailable: {e}"
        error = OrderRejected(f"order {order_id} ({correlation_id}) rejected: {reason}")
        error.order_id = order_id  # type: ignore[attr-defined]  # the journal records it
        return error

    def modify_order(self, order_id: str, *, order_type: str, quantity: int, price: float,
                     validity: str = "DAY") -> dict[str, Any]:
        return self._call("orders", f"modify {order_id}", lambda: self.api.modify_order(
            order_id, order_type, "", int(quantity), float(price), 0.0, 0, validity))

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        return self._call("orders", f"cancel {order_id}",
                          lambda: self.api.cancel_order(order_id))

    def order_by_id(self, order_id: str) -> dict[str, Any]:
        return _one(self._call("other", f"order {order_id}",
                               lambda: self.api.get_order_by_id(order_id)))

    def order_by_correlation(self, correlation_id: str) -> dict[str, Any] | None:
        """The order placed with ``correlation_id``, or None if Dhan has none."""
        try:
            return _one(self._call("other", f"order by correlation {correlation_id}",
                                   lambda: self.api.get_order_by_correlationID(correlation_id)))
        except OrderRejected:  # DH-906: no such order
            return None

    def orders(self) -> list[dict[str, Any]]:
        return list(self._call("other", "order book", self.api.get_order_list) or [])

    def trades(self) -> list[dict[str, Any]]:
        return list(self._call("other", "trade book", self.api.get_trade_book) or [])

    def positions(self) -> list[dict[str, Any]]:
        return list(self._call("other", "positions", self.api.get_positions) or [])

    def fund_limits(self) -> dict[str, Any]:
        return dict(self._call("other", "fund limits", self.api.get_fund_limits) or {})

    # ----- market data --------------------------------------------------------------------

    def option_chain(self, underlying_id: int, underlying_segment: str, expiry: str
                     ) -> dict[str, Any]:
        """The option chain of one expiry (at most one request per key every 3 s)."""
        self._chain_spacing.acquire((underlying_id, underlying_segment, expiry))
        return self._call("data", f"option chain {underlying_id} {expiry}",
                          lambda: self.api.option_chain(underlying_id, underlying_segment,
                                                        expiry))

    def expiry_list(self, underlying_id: int, underlying_segment: str) -> list[str]:
        data = self._call("data", f"expiry list {underlying_id}",
                          lambda: self.api.expiry_list(underlying_id, underlying_segment))
        return list((data or {}).get("data", []))

    def intraday_bars(self, security_id: int, segment: str, instrument: str, from_date: str,
                      to_date: str, interval: int = 1) -> dict[str, list]:
        """Minute bars (columnar: open, high, low, close, volume, timestamp)."""
        return dict(self._call("data", f"intraday bars {security_id}",
                               lambda: self.api.intraday_minute_data(
                                   str(security_id), segment, instrument, from_date, to_date,
                                   interval)) or {})


def _one(data: Any) -> dict[str, Any]:
    """An order lookup answer: the real API sends a one-element list, the docs an object."""
    if isinstance(data, list):
        if not data:
            raise OrderRejected("order lookup answered an empty list")
        return dict(data[0])
    return dict(data)
