"""Fault knobs (set at start from settings, or at run time through ``/admin``).

State knobs (stay until changed): ``stall_feed`` / ``stall_ids`` withhold market-feed packets
(all, or those instruments) while the connection stays up; ``fail_status`` answers a REST
route group with that 5xx status; ``delay_seconds`` holds a route group's answers that long
(a client with a shorter timeout sees a timeout); ``ack_delay_ms`` keeps new orders in
TRANSIT that long before they reach the exchange; ``token_expired`` makes every REST call
DH-901 and closes the WebSockets with code 807. Count knobs: ``storm_requests`` answers the
next N REST calls 429/DH-904; ``reject_next_orders`` rejects the next N orders.
Actions (``POST /admin/feed/...``): disconnect every feed connection with a disconnect
packet code, or drop them without one, or silently drop one instrument's subscription.

Route groups are the first path segment after ``/v2``: orders, trades, positions, fundlimit,
optionchain, charts, marketfeed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

ROUTE_GROUPS = frozenset({"orders", "trades", "positions", "fundlimit", "optionchain",
                          "charts", "marketfeed"})


@dataclass
class Faults:
    stall_feed: bool = False
    stall_ids: set[int] = field(default_factory=set)
    storm_requests: int = 0
    fail_status: dict[str, int] = field(default_factory=dict)
    delay_seconds: dict[str, float] = field(default_factory=dict)
    ack_delay_ms: float = 0.0
    token_expired: bool = False

    def update(self, body: dict[str, Any]) -> None:
        """Set the knobs named in ``body``; ValueError naming the key on a bad value."""
        unknown = sorted(set(body) - set(self.to_json()) - {"reject_next_orders"})
        if unknown:
            raise ValueError(f"unknown fault knob(s) {unknown}")
        if "stall_feed" in body:
            self.stall_feed = _bool("stall_feed", body["stall_feed"])
        if "stall_ids" in body:
            self.stall_ids = {int(x) for x in body["stall_ids"] or []}
        if "storm_requests" in body:
            self.storm_requests = _count("storm_requests", body["storm_requests"])
        if "fail_status" in body:
            self.fail_status = _route_map("fail_status", body["fail_status"], _http_5xx)
        if "delay_seconds" in body:
            self.delay_seconds = _route_map("delay_seconds", body["delay_seconds"], _seconds)
        if "ack_delay_ms" in body:
            self.ack_delay_ms = _seconds("ack_delay_ms", body["ack_delay_ms"])
        if "token_expired" in body:
            self.token_expired = _bool("token_expired", body["token_expired"])

    def to_json(self) -> dict[str, Any]:
        return {"stall_feed": self.stall_feed, "stall_ids": sorted(self.stall_ids),
                "storm_requests": self.storm_requests, "fail_status": dict(self.fail_status),
                "delay_seconds": dict(self.delay_seconds), "ack_delay_ms": self.ack_delay_ms,
                "token_expired": self.token_expired}

    def feed_stalled(self, security_id: int) -> bool:
        return self.stall_feed or security_id in self.stall_ids

    def take_storm(self) -> bool:
        """True (and one fewer left) while a 429 storm is on."""
        if self.storm_requests > 0:
            self.storm_requests -= 1
            return True
        return False


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0, got {value!r}")
    return value


def _seconds(key: str, value: Any) -> float:
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{key} must be >= 0, got {value!r}")
    return number


def _http_5xx(key: str, value: Any) -> int:
    status = int(value)
    if not 500 <= status <= 599:
        raise ValueError(f"{key} must be a 5xx status, got {value!r}")
    return status


def _route_map(key: str, value: Any, check: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must map route groups to values, got {value!r}")
    bad = sorted(set(value) - ROUTE_GROUPS)
    if bad:
        raise ValueError(f"{key}: unknown route group(s) {bad}; known {sorted(ROUTE_GROUPS)}")
    return {group: check(f"{key}.{group}", v) for group, v in value.items()}
