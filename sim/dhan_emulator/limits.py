"""Dhan's REST rate limits (reference B.4), enforced in wall time; a breach is DH-904.

Only requests that pass count against a window. The option chain allows one request per
unique (underlying, segment, expiry) every few seconds; different keys run concurrently.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

SECOND, MINUTE, HOUR, DAY = 1.0, 60.0, 3600.0, 86_400.0


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = True
    orders_per_second: int = 10
    orders_per_minute: int = 250
    orders_per_hour: int = 1000
    orders_per_day: int = 7000
    data_per_second: int = 5
    quotes_per_second: int = 1
    non_trading_per_second: int = 20
    option_chain_seconds: float = 3.0


class SlidingWindows:
    """Several (limit, window) pairs over one stream of events."""

    def __init__(self, limits: list[tuple[int, float]]) -> None:
        self._limits = [(n, w) for n, w in limits if n > 0]
        self._times: deque[float] = deque()
        self._horizon = max((w for _, w in self._limits), default=0.0)

    def allow(self, now: float) -> bool:
        """Record an event at ``now`` if every window has room; False (nothing recorded) if not."""
        while self._times and now - self._times[0] >= self._horizon:
            self._times.popleft()
        for limit, window in self._limits:
            recent = sum(1 for t in reversed(self._times) if now - t < window)
            if recent >= limit:
                return False
        self._times.append(now)
        return True


class RateLimits:
    """One set of windows per API group, plus the option chain's per-key spacing."""

    def __init__(self, settings: RateLimitSettings,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._wall = wall
        s = settings
        self._groups = {
            "orders": SlidingWindows([(s.orders_per_second, SECOND),
                                      (s.orders_per_minute, MINUTE),
                                      (s.orders_per_hour, HOUR), (s.orders_per_day, DAY)]),
            "data": SlidingWindows([(s.data_per_second, SECOND)]),
            "quotes": SlidingWindows([(s.quotes_per_second, SECOND)]),
            "other": SlidingWindows([(s.non_trading_per_second, SECOND)]),
        }
        self._last_chain: dict[tuple, float] = {}

    def allow(self, group: str) -> bool:
        """True if a request of ``group`` (orders/data/quotes/other) may proceed now."""
        if not self.settings.enabled:
            return True
        return self._groups[group].allow(self._wall())

    def allow_option_chain(self, key: tuple) -> bool:
        """True if this unique option-chain request has not been made in the spacing window."""
        if not self.settings.enabled:
            return True
        now = self._wall()
        last = self._last_chain.get(key)
        if last is not None and now - last < self.settings.option_chain_seconds:
            return False
        self._last_chain[key] = now
        return True
