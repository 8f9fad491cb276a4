"""ReplayClock: a replayed day's time, paced against a wall clock or stepped as fast as possible.

Paced (``speed`` a positive number): replay time runs ``speed`` times as fast as the wall
clock while started, and stands still while paused. ``"max"``: replay time moves only when
the driver calls :meth:`ReplayClock.advance_to` (the driver jumps to its next event as soon
as it has handled the current one). Either way it never passes ``end`` and is tz-aware UTC.

The wall source is injected (``time.monotonic`` by default, which never jumps), so tests
drive the pace with a fake and the replay itself never reads the system clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from core.clock import ensure_utc

MAX_SPEED = "max"


def parse_speed(text: str | float | int) -> float | None:
    """``"max"`` -> None (as fast as possible); ``"1"``, ``"10x"``, ``2.5`` -> that factor."""
    raw = str(text).strip().lower()
    if raw == MAX_SPEED:
        return None
    try:
        value = float(raw.removesuffix("x"))
    except ValueError as e:
        raise ValueError(f"speed must be 'max' or a positive number, got {text!r}") from e
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"speed must be 'max' or a positive number, got {text!r}")
    return value


class ReplayClock:
    """Replay time from ``start`` to ``end`` (see the module docstring); starts paused."""

    def __init__(self, start: datetime, end: datetime | None = None,
                 speed: str | float = 1.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self._start = ensure_utc(start)
        self._end = ensure_utc(end) if end is not None else None
        if self._end is not None and self._end < self._start:
            raise ValueError(f"replay end {end} is before its start {start}")
        self._speed = parse_speed(speed)
        self._wall = wall
        self._lock = threading.Lock()
        self._anchor = self._start  # replay time at the wall instant _anchor_wall
        self._anchor_wall = wall()
        self._running = False

    # ----- reading --------------------------------------------------------------------------

    @property
    def speed(self) -> float | None:
        """The pace factor, or None for as-fast-as-possible."""
        return self._speed

    @property
    def is_max(self) -> bool:
        return self._speed is None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def start_time(self) -> datetime:
        return self._start

    @property
    def end_time(self) -> datetime | None:
        return self._end

    def now(self) -> datetime:
        """The current replay time (UTC)."""
        with self._lock:
            return self._now_locked()

    def finished(self) -> bool:
        """True once replay time has reached ``end`` (never, without an end)."""
        return self._end is not None and self.now() >= self._end

    def seconds_until(self, when: datetime) -> float:
        """Wall seconds until replay time reaches ``when``: 0 if past, inf if it cannot move.

        In max mode the clock only moves when advanced, so a future instant is inf.
        """
        with self._lock:
            ahead = (ensure_utc(when) - self._now_locked()).total_seconds()
            if ahead <= 0:
                return 0.0
            if not self._running or self._speed is None:
                return math.inf
            return ahead / self._speed

    # ----- control --------------------------------------------------------------------------

    def start(self) -> None:
        """Let replay time run (paced) or be advanced (max)."""
        with self._lock:
            self._reanchor()
            self._running = True

    def pause(self) -> None:
        """Freeze replay time where it is."""
        with self._lock:
            self._reanchor()
            self._running = False

    def set_speed(self, speed: str | float) -> None:
        """Change the pace from now on (replay time does not jump)."""
        parsed = parse_speed(speed)
        with self._lock:
            self._reanchor()
            self._speed = parsed

    def seek(self, when: datetime) -> None:
        """Jump to ``when`` (clamped to [start, end]), forwards or backwards."""
        with self._lock:
            self._anchor = self._clamp(ensure_utc(when))
            self._anchor_wall = self._wall()

    def advance_to(self, when: datetime) -> None:
        """Move forwards to ``when`` (clamped to end); earlier instants are ignored.

        Used by the driver in max mode; also works while paced (it jumps ahead).
        """
        with self._lock:
            target = self._clamp(ensure_utc(when))
            if target > self._now_locked():
                self._anchor = target
                self._anchor_wall = self._wall()

    def advance(self, delta: timedelta) -> None:
        """Move forwards by ``delta`` (a step for tests and tools)."""
        if delta < timedelta(0):
            raise ValueError(f"cannot advance by a negative {delta}")
        self.advance_to(self.now() + delta)

    # ----- internals ------------------------------------------------------------------------

    def _now_locked(self) -> datetime:
        if not self._running or self._speed is None:
            return self._anchor
        elapsed = max(self._wall() - self._anchor_wall, 0.0) * self._speed
        return self._clamp(self._anchor + timedelta(seconds=elapsed))

    def _reanchor(self) -> None:
        self._anchor = self._now_locked()
        self._anchor_wall = self._wall()

    def _clamp(self, when: datetime) -> datetime:
        if when < self._start:
            return self._start
        if self._end is not None and when > self._end:
            return self._end
        return when
