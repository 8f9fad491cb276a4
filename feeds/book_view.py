"""What every store answers straight from its day book and the trading calendar.

The replay, paced and Dhan stores differ in how quotes reach their book (a catalog day read
at once, released by a clock, streamed by DhanHQ) and in their feeds, not in these answers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from core.calendar import TradingCalendar
from strategies.logic.types import ChainSnapshot


class QuoteBook(Protocol):
    """The day book interface the answers need (DayBook, LiveBook)."""

    expiries: list[date]

    def chain(self, expiry: date, at: datetime, strikes_each_side: int) -> ChainSnapshot: ...
    def index_last(self, at: datetime) -> tuple[int, float] | None: ...
    def last_quote(self, security_id: int, at_ns: int) -> tuple[int, float] | None: ...


class BookAnswers:
    """MarketView answers and the health page's last-quote lookups of a store."""

    book: QuoteBook
    calendar: TradingCalendar

    @property
    def expiries(self) -> list[date]:
        return self.book.expiries

    def chain(self, expiry: date, at: datetime, strikes_each_side: int) -> ChainSnapshot:
        return self.book.chain(expiry, at, strikes_each_side)

    def index_last(self, at: datetime) -> tuple[int, float] | None:
        return self.book.index_last(at)

    def trading_years(self, now: datetime, expiry: date) -> float:
        return self.calendar.trading_years(now, expiry)

    def is_session(self, day: date) -> bool:
        return self.calendar.is_session(day)

    def last_tick_ns(self, security_id: int, at_ns: int) -> int | None:
        """Time of ``security_id``'s last tick at or before ``at_ns`` (None if none)."""
        last = self.book.last_quote(security_id, at_ns)
        return None if last is None else last[0]

    def last_price(self, security_id: int, at_ns: int) -> float | None:
        """LTP of ``security_id``'s last tick at or before ``at_ns`` (None if none)."""
        last = self.book.last_quote(security_id, at_ns)
        return None if last is None else last[1]
