"""Client-side pacing for DhanHQ: sliding-window limits per API family and capped, jittered backoff.

Pure and clock-injectable (no ``dhanhq``, no I/O): the client passes its ``sleep`` and
``clock`` so tests run a 429 storm without waiting.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.config import DhanConfig

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class WindowLimit:
    """At most ``limit`` calls in any ``window`` seconds; :meth:`acquire` waits for room.

    A sliding window rather than a token bucket: a bucket's burst plus its refill lets up to
    twice the limit through in one window, which Dhan (and the emulator) answer with DH-904.
    """

    def __init__(self, limit: int, window: float, clock: Clock, sleep: Sleep) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"rate limit needs limit >= 1 and window > 0, got {limit}, "
                             f"{window}")
        self.limit, self.window = int(limit), float(window)
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        """Seconds until a call fits the window (0 = now)."""
        now = self._clock()
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window - now

    def acquire(self) -> float:
        """Take a slot, sleeping as needed; the seconds slept."""
        slept = 0.0
        with self._lock:
            while (wait := self.wait_time()) > 0:
                self._sleep(wait)
                slept += wait
            self._times.append(self._clock())
        return slept


class KeySpacing:
    """At most one call per key every ``seconds`` (the option chain's unique-request limit)."""

    def __init__(self, seconds: float, clock: Clock, sleep: Sleep) -> None:
        self.seconds = seconds
        self._clock, self._sleep = clock, sleep
        self._last: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: tuple) -> float:
        with self._lock:
            last = self._last.get(key)
            wait = 0.0 if last is None else max(0.0, last + self.seconds - self._clock())
            if wait > 0:
                self._sleep(wait)
            self._last[key] = self._clock()
            return wait


def family_limits(cfg: DhanConfig, clock: Clock, sleep: Sleep) -> dict[str, list[WindowLimit]]:
    """Dhan's per-family limits (SPEC section 8): every window of a family must allow a call."""
    def per(count: float, seconds: float) -> WindowLimit:
        return WindowLimit(max(int(count), 1), seconds, clock, sleep)

    return {
        "orders": [per(cfg.orders_per_second, 1.0), per(cfg.orders_per_minute, 60.0)],
        "data": [per(cfg.data_per_second, 1.0)],
        "quotes": [per(cfg.quotes_per_second, 1.0)],
        "other": [per(cfg.other_per_second, 1.0)],
    }


@dataclass
class Backoff:
    """Capped exponential backoff with proportional jitter: base * 2**attempt, at most cap."""

    base_s: float
    cap_s: float
    jitter: float
    rng: random.Random

    @classmethod
    def from_config(cls, cfg: DhanConfig, rng: random.Random | None = None) -> Backoff:
        return cls(cfg.backoff_base_s, cfg.backoff_cap_s, cfg.backoff_jitter,
                   rng or random.Random())  # noqa: S311 - jitter, not security

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 = the first retry)."""
        raw = min(self.cap_s, self.base_s * (2 ** attempt))
        spread = raw * self.jitter
        return max(0.0, raw + self.rng.uniform(-spread, spread))
