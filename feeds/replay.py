"""ReplayStore: one catalog day as the strategy sees it (index feed, chain, contract slots).

``source="ticks"`` replays the recorded/simulated quotes; ``source="bars"`` replays the day's
1m bars as quotes along each bar's path (see :mod:`feeds.bar_book`): same engine, coarser data.

Everything is read once into memory (one day, so memory stays bounded on multi-day runs):
the day's ticks as a :class:`~feeds.daybook.DayBook` and the index 1m bars, prefixed with
warm-up bars from earlier sessions so indicators are valid at 09:15.
"""

from __future__ import annotations

import logging
from datetime import date

import backtrader as bt
import numpy as np

from core.calendar import TradingCalendar
from core.clock import ns_from_utc
from core.config import IndexConfig
from core.errors import MissingDataError
from feeds.bar_book import day_bars, grouped_bar_quotes, quotes_from_bars
from feeds.book_view import BookAnswers
from feeds.bt_feeds import BarArrayFeed, SlotFeed, earliest_presented
from feeds.catalog import Catalog
from feeds.daybook import (
    DayBook,
    GroupedQuotes,
    QuoteSeries,
    contracts_from_table,
    group_quotes,
    minute_bars,
)

log = logging.getLogger(__name__)

MINUTE_NS = 60 * 1_000_000_000
_BAR_KEYS = ("ts", "open", "high", "low", "close")


class ReplayStore(BookAnswers):
    """A replayed day: satisfies the strategy's MarketView and builds its feeds."""

    # Bar mode: deliver each minute of a contract's bar path in one engine step (see
    # SlotFeed); False steps once per path quote, the reference the batched walk must equal.
    batch_bar_paths = True

    def __init__(self, catalog: Catalog, index: IndexConfig, calendar: TradingCalendar,
                 day: date, warmup_sessions: int, source: str = "ticks",
                 bar_half_spread_ticks: int = 1) -> None:
        if not catalog.has_ticks(index.name, day):
            raise MissingDataError(f"no ticks for {index.name} on {day} in {catalog.root}")
        self.underlying = index.name
        self.day = day
        self.source = source
        self.calendar = calendar
        quotes = _read_quotes(catalog, index, day, source, bar_half_spread_ticks)
        rows = catalog.read_contracts(index.name, day).to_pylist()
        contracts = contracts_from_table(rows, index.name)
        if not contracts:
            raise MissingDataError(f"{index.name} {day}: contracts.parquet lists no options")
        if not isinstance(quotes, GroupedQuotes):
            quotes = group_quotes(quotes)
        self.book = DayBook.from_grouped(index.name, day, index.security_id, quotes, contracts,
                                         index.strike_step)
        self.session_open_ns = ns_from_utc(calendar.session_bounds(day)[0])
        # Warm-up bars go straight to the strategy's indicators (see Scalper); only the
        # session's own bars go through backtrader, which halves the bars it handles.
        self.index_bars = minute_bars(self.book.index, self.session_open_ns)
        self.warmup_bars = self._warmup_bars(catalog, index, warmup_sessions)
        self.clock_feed: BarArrayFeed | None = None

    # -- MarketView --------------------------------------------------------------------------
    def series(self, security_id: int) -> QuoteSeries | None:
        return self.book.series(security_id)

    # -- feeds -------------------------------------------------------------------------------
    def add_feeds(self, cerebro: bt.Cerebro, slots: int) -> None:
        """Index 1m bars (the strategy buckets its confirmation bars itself), then slots."""
        batch_ns = MINUTE_NS if self.source == "bars" and self.batch_bar_paths else 0
        slot_feeds = [SlotFeed(k, self._clock_done, batch_ns, timeframe=bt.TimeFrame.Ticks,
                               name=f"slot{k}") for k in range(slots)]
        feed = BarArrayFeed(self.index_bars, MINUTE_NS, lambda: earliest_presented(slot_feeds),
                            timeframe=bt.TimeFrame.Minutes, compression=1,
                            name=f"{self.underlying} 1m")
        self.clock_feed = feed
        cerebro.adddata(feed)
        for slot in slot_feeds:
            cerebro.adddata(slot)

    def _clock_done(self) -> bool:
        return self.clock_feed is not None and self.clock_feed.exhausted

    def _warmup_bars(self, catalog: Catalog, index: IndexConfig,
                     sessions: int) -> dict[str, np.ndarray]:
        if sessions <= 0:
            return {k: np.empty(0) for k in _BAR_KEYS}
        parts = []
        for day in self.calendar.sessions_before(self.day, sessions):
            bars = _session_bars(catalog, index, self.calendar, day)
            if bars is None:
                log.warning("%s %s: no warm-up data for %s; indicators start colder",
                            index.name, self.day, day)
                continue
            parts.append(bars)
        if not parts:
            return {k: np.empty(0) for k in _BAR_KEYS}
        return {k: np.concatenate([p[k] for p in parts]) for k in _BAR_KEYS}


def _read_quotes(catalog: Catalog, index: IndexConfig, day: date, source: str,
                 half_spread_ticks: int) -> GroupedQuotes | dict[str, np.ndarray]:
    """The day's quotes: bar-path quotes already grouped per security, else a tick table."""
    if source != "bars":
        return catalog.read_ticks(index.name, day)
    bars = day_bars(catalog, index, day)
    grouped = grouped_bar_quotes(bars, index.security_id, index.tick_size, half_spread_ticks)
    if grouped is not None:
        return grouped
    return quotes_from_bars(bars, index.security_id, index.tick_size, half_spread_ticks)


def _session_bars(catalog: Catalog, index: IndexConfig, calendar: TradingCalendar,
                  day: date) -> dict[str, np.ndarray] | None:
    """A session's index 1m bars: from the bars partition, else from its ticks."""
    if catalog.has_bars(index.name, day):
        bars = catalog.read_bars(index.name, day, day, security_ids=[index.security_id])
        return {k: np.asarray(bars[k]) for k in _BAR_KEYS}
    if catalog.has_ticks(index.name, day):
        ticks = catalog.read_ticks(index.name, day, security_ids=[index.security_id])
        book_open = ns_from_utc(calendar.session_bounds(day)[0])
        series = QuoteSeries(ticks["ts"], ticks["ltp"], ticks["bid"], ticks["ask"],
                             ticks["bid_qty"], ticks["ask_qty"], ticks["oi"])
        return minute_bars(series, book_open)
    return None
