"""Time: UTC inside, IST for display, and the injectable clock.

Nothing in ``core``, ``strategies/logic`` or ``sim`` reads the wall clock directly: code that
needs "now" takes a :class:`Clock` (or a ``now`` argument) so replays are deterministic.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
NS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    """Something that says what time it is, always tz-aware UTC."""

    def now(self) -> datetime: ...


class WallClock:
    """The real clock, for live trading and for pacing replays."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to: for tests and max-speed replay."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def ensure_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; a naive datetime is a bug, not an assumption."""
    tz = when.tzinfo
    if tz is UTC:
        return when  # already UTC (the usual case inside): astimezone would copy it
    if tz is None:
        raise ValueError(f"naive datetime {when!r}: pass a tz-aware datetime")
    return when.astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def ist_to_utc(day: date, wall: time) -> datetime:
    """The UTC instant of an IST wall-clock time on ``day`` (cached: session bounds and
    cutoffs are asked for on every signal bar)."""
    return datetime.combine(day, wall, tzinfo=IST).astimezone(UTC)


def to_ist(when: datetime) -> datetime:
    """Display form: the same instant in Asia/Kolkata."""
    return ensure_utc(when).astimezone(IST)


def utc_from_ns(ns: int) -> datetime:
    """A UTC datetime from integer nanoseconds since the epoch (catalog ``ts``)."""
    return datetime.fromtimestamp(ns / NS_PER_SECOND, tz=UTC)


def ns_from_utc(when: datetime) -> int:
    """Integer nanoseconds since the epoch of a tz-aware datetime (exact to the microsecond)."""
    delta = ensure_utc(when) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000


def parse_hhmm(text: str) -> time:
    """``"15:20"`` -> ``time(15, 20)``; raises ValueError with the text on bad input."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError) as e:
        raise ValueError(f"not an HH:MM time: {text!r}") from e


def parse_hhmmss(text: str) -> time:
    """``"10:30"`` or ``"10:30:15"`` -> a time; raises ValueError naming the text otherwise."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError(text)
        hours, minutes, *rest = (int(p) for p in parts)
        return time(hours, minutes, rest[0] if rest else 0)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not an HH:MM[:SS] time: {text!r}") from e
