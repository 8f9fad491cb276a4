"""Exchange sessions and holidays (``exchange_calendars`` XBOM, which NSE shares).

The XBOM calendar knows regular sessions and holidays; dates the exchange opened for a special
session (e.g. Saturday 2024-01-20) are added from config (``data.extra_sessions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache

import exchange_calendars as xcals
import pandas as pd

from core.clock import ensure_utc, ist_to_utc, to_ist
from core.errors import ConfigError, MissingDataError

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
# Trading-time year used for option time to expiry: trading days x session minutes.
TRADING_DAYS_PER_YEAR = 252
SESSION_MINUTES = 375


class TradingCalendar:
    """Sessions of the Indian equity derivatives market, 09:15-15:30 IST."""

    def __init__(self, extra_sessions: Iterable[date | str] = ()) -> None:
        self._extra = frozenset(
            d if isinstance(d, date) else date.fromisoformat(d) for d in extra_sessions)

    @cached_property
    def _xcal(self) -> xcals.ExchangeCalendar:
        return xcals.get_calendar("XBOM")

    @cached_property
    def _regular(self) -> frozenset[date]:
        index = self._xcal.sessions
        return frozenset(ts.date() for ts in index)

    @cached_property  # a pandas lookup each time otherwise; asked on every session check
    def first_day(self) -> date:
        return self._xcal.first_session.date()

    @cached_property
    def last_day(self) -> date:
        return self._xcal.last_session.date()

    def is_session(self, day: date) -> bool:
        self._check_covered(day)
        return day in self._regular or day in self._extra

    def sessions(self, start: date, end: date) -> list[date]:
        """Trading days in ``[start, end]``, in order."""
        return list(self._sessions(start, end))

    @lru_cache(maxsize=4096)  # noqa: B019 - the calendar lives as long as the run
    def _sessions(self, start: date, end: date) -> tuple[date, ...]:
        self._check_covered(start)
        self._check_covered(end)
        regular = self._xcal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
        days = {ts.date() for ts in regular}
        days.update(d for d in self._extra if start <= d <= end)
        return tuple(sorted(days))

    def previous_session(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        probe = day - timedelta(days=1)
        for _ in range(30):
            if self.is_session(probe):
                return probe
            probe -= timedelta(days=1)
        raise MissingDataError(f"no trading day in the 30 days before {day}")

    def next_session(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        probe = day + timedelta(days=1)
        for _ in range(30):
            if self.is_session(probe):
                return probe
            probe += timedelta(days=1)
        raise MissingDataError(f"no trading day in the 30 days after {day}")

    def sessions_before(self, day: date, count: int) -> list[date]:
        """The ``count`` trading days before ``day``, oldest first."""
        out: list[date] = []
        probe = day
        while len(out) < count:
            probe = self.previous_session(probe)
            out.append(probe)
        return out[::-1]

    def session_bounds(self, day: date) -> tuple[datetime, datetime]:
        """UTC open and close of the session on ``day``."""
        return ist_to_utc(day, SESSION_OPEN), ist_to_utc(day, SESSION_CLOSE)

    def trading_years(self, now: datetime, expiry: date,
                      expiry_close: time = SESSION_CLOSE) -> float:
        """Time from ``now`` to the expiry's close in trading years (sessions only).

        Counts the minutes left in today's session plus every full session before expiry,
        over a year of 252 x 375 minutes, so theta decays through trading hours, not nights.
        """
        now = ensure_utc(now)
        end = ist_to_utc(expiry, expiry_close)
        if now >= end:
            return 0.0
        minutes = 0.0
        today = to_ist(now).date()
        if self.is_session(today):
            open_utc, close_utc = self.session_bounds(today)
            close_utc = min(close_utc, end)
            start = max(now, open_utc)
            minutes += max((close_utc - start).total_seconds() / 60.0, 0.0)
        if expiry > today:
            later = self.sessions(today + timedelta(days=1), expiry)
            full = [d for d in later if d != expiry]
            minutes += SESSION_MINUTES * len(full)
            if expiry in later:
                open_utc, _ = self.session_bounds(expiry)
                minutes += max((end - open_utc).total_seconds() / 60.0, 0.0)
        return minutes / (TRADING_DAYS_PER_YEAR * SESSION_MINUTES)

    def _check_covered(self, day: date) -> None:
        if not (self.first_day <= day <= self.last_day):
            raise MissingDataError(
                f"{day} is outside the exchange calendar ({self.first_day}..{self.last_day}); "
                "upgrade exchange_calendars for later dates")


_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*:\s*(\d{4}-\d{2}-\d{2})\s*$")


def parse_days(spec: str, calendar: TradingCalendar) -> list[date]:
    """Days named by ``data.days``: ``D``, ``D1:D2`` (sessions in range) or ``D1,D2,...``.

    A day listed explicitly that is not a session is an error, not a silent skip.
    """
    text = spec.strip()
    if not text:
        raise ConfigError("data.days is empty: give a day, a range D1:D2 or a list D1,D2")
    try:
        match = _RANGE.match(text)
        if match:
            start, end = (date.fromisoformat(g) for g in match.groups())
            if end < start:
                raise ConfigError(f"data.days={spec!r}: the range ends before it starts")
            days = calendar.sessions(start, end)
            if not days:
                raise ConfigError(f"data.days={spec!r} holds no trading session")
            return days
        days = sorted({date.fromisoformat(part.strip()) for part in text.split(",")})
    except ValueError as e:
        raise ConfigError(f"data.days={spec!r}: {e}") from e
    closed = [d for d in days if not calendar.is_session(d)]
    if closed:
        listed = ", ".join(str(d) for d in closed)
        raise ConfigError(f"data.days={spec!r}: not a trading session: {listed}")
    return days
