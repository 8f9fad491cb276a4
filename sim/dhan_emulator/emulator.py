"""The emulator's state and its replay engine.

The engine walks the day's rows in time order as the :class:`~sim.clock.ReplayClock` moves:
each row of an instrument that someone subscribed to or has a working order in is published
to the feed and re-matched in the book (other rows cost nothing). Paced, it sleeps until the
next row is due (in short naps, so pause, seek and faults take effect at once); at max speed
it advances the clock to the next row as soon as every feed reader has nearly caught up.
Crossing the session open or close sends a market-status packet; at the close, working
orders expire. Seeking backwards re-positions the walk without re-sending anything.

Lockstep (``settings.lockstep`` at max speed; an emulator-only rehearsal affordance, real
Dhan has no such thing): after each replay instant the engine sends the feed's lockstep
markers and waits for the client's acks before it advances, so an order the client places
while handling instant T reaches the book while the clock is still T. While no feed
connection has a subscription it does not advance at all (it waits for the client to
(re)connect). See :mod:`sim.dhan_emulator.feed` for the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from aiohttp import web

from brokers.charges import ChargeSchedule
from core.calendar import TradingCalendar
from core.clock import ns_from_utc, utc_from_ns
from feeds.catalog import Catalog
from sim.clock import ReplayClock
from sim.dhan_emulator.book import Book
from sim.dhan_emulator.faults import Faults
from sim.dhan_emulator.feed import FeedConnection, FeedHub
from sim.dhan_emulator.limits import RateLimits
from sim.dhan_emulator.market import EmulatedMarket
from sim.dhan_emulator.order_updates import OrderUpdateHub
from sim.dhan_emulator.settings import EmulatorSettings

log = logging.getLogger(__name__)

NAP_SECONDS = 0.02  # longest sleep of the paced engine: the pause/seek/fault reaction time


class Emulator:
    """Market, clock, account, faults, limits and the two WebSocket hubs of one server."""

    def __init__(self, settings: EmulatorSettings,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.calendar = TradingCalendar(settings.extra_sessions)
        self.market = EmulatedMarket.from_catalog(
            Catalog(settings.catalog_root), settings.underlying, settings.day,
            settings.index_security_id, self.calendar)
        self.session_open, self.session_close = self.calendar.session_bounds(settings.day)
        self.clock = ReplayClock(self.session_open, self.session_close, settings.speed, wall)
        if settings.start_at is not None:
            self.clock.seek(settings.start_at)
        self.faults = Faults()
        initial = dict(settings.faults)
        reject = int(initial.pop("reject_next_orders", 0))
        self.faults.update(initial)
        self.limits = RateLimits(settings.limits, wall)
        self.feed = FeedHub(self)
        self.updates = OrderUpdateHub(self)
        charges = ChargeSchedule.from_config(settings.charges) if settings.charges else None
        self.book = Book(self.market, settings.opening_balance, settings.fills, charges,
                         self.updates.publish)
        self.book.reject_next = reject
        self._task: asyncio.Task | None = None
        self._was_open: bool | None = None

    # ----- time -------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def now_ns(self) -> int:
        return ns_from_utc(self.clock.now())

    def market_open(self, now: datetime | None = None) -> bool:
        at = self.clock.now() if now is None else now
        return self.session_open <= at < self.session_close

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the replay engine on the running loop (and the clock unless paused)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if not self.settings.start_paused:
            self.clock.start()

    async def stop(self) -> None:
        self.clock.pause()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.feed.disconnect_all(None)
        self.updates.close_all()

    def state(self) -> dict[str, Any]:
        """What ``GET /admin/state`` shows."""
        return {"now": self.now().isoformat(), "running": self.clock.running,
                "speed": self.clock.speed if self.clock.speed is not None else "max",
                "finished": self.clock.finished(), "market_open": self.market_open(),
                "faults": {**self.faults.to_json(),
                           "reject_next_orders": self.book.reject_next},
                "feed_connections": len(self.feed.connections),
                "order_update_listeners": len(self.updates.listeners),
                "orders": len(self.book.orders), "trades": len(self.book.trades)}

    # ----- the replay engine --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._replay()
        except asyncio.CancelledError:
            raise
        except Exception:  # the replay is dead: say so loudly rather than freeze silently
            log.exception("DhanHQ emulator: the replay engine stopped")
            raise

    async def _replay(self) -> None:
        market = self.market
        last_ns = self.now_ns()
        cursor = market.cursor(last_ns)
        while True:
            now = self.clock.now()
            now_ns = ns_from_utc(now)
            if now_ns < last_ns:  # seeked back: resume from there, re-send nothing
                cursor = market.cursor(now_ns)
                self.feed.reset_lockstep()
            end = market.cursor(now_ns)
            if end > cursor:
                self._publish_rows(cursor, end)
                cursor = end
            last_ns = now_ns
            self._session_events(now)
            receivers = self.feed.take_receivers()
            if self._lockstep_on():
                await self._lockstep(now, receivers)
            await self._wait_for_row(cursor)

    def _publish_rows(self, start: int, end: int) -> None:
        subscribed = self.feed.subscribed_ids()
        working = self.book.working_ids()
        wanted = subscribed | working
        if not wanted:
            return
        sids = self.market.sid[start:end]
        hits = np.flatnonzero(np.isin(sids, np.fromiter(wanted, dtype=np.int64)))
        for i in hits:
            sid, ts = int(sids[i]), int(self.market.ts[start + i])
            if sid in working:
                self.book.on_quote(sid, utc_from_ns(ts))
            if sid in subscribed:
                self.feed.publish(sid, ts)

    def _session_events(self, now: datetime) -> None:
        is_open = self.market_open(now)
        if is_open != self._was_open:
            if self._was_open is not None:
                self.feed.broadcast_market_status()
            if not is_open and now >= self.session_close:
                self.book.expire_all(now)
            self._was_open = is_open

    def _lockstep_on(self) -> bool:
        return self.settings.lockstep and self.clock.is_max

    async def _lockstep(self, now: datetime, receivers: list[FeedConnection]) -> None:
        """Markers for instant ``now`` (to every connection once, at the close); await acks."""
        if now >= self.session_close:
            for conn in self.feed.connections:
                if not conn.got_close_marker:
                    conn.got_close_marker = True
                    if conn not in receivers:
                        receivers.append(conn)
        if receivers:
            await self.feed.lockstep(ns_from_utc(now), receivers,
                                     self.settings.lockstep_timeout_s)

    async def _wait_for_row(self, cursor: int) -> None:
        market = self.market
        if self._lockstep_on() and not self.feed.has_subscriptions():
            await asyncio.sleep(NAP_SECONDS)  # nobody to keep in step with: hold the clock
            return
        if cursor >= len(market.ts):
            if self.clock.is_max and self.clock.running:
                self.clock.advance_to(self.session_close)
            await asyncio.sleep(NAP_SECONDS)
            return
        due = utc_from_ns(int(market.ts[cursor]))
        if self.clock.is_max and self.clock.running:
            await self.feed.drained()
            self.clock.advance_to(due)
            await asyncio.sleep(0)
            return
        await asyncio.sleep(min(self.clock.seconds_until(due), NAP_SECONDS))


EMULATOR = web.AppKey("emulator", Emulator)
