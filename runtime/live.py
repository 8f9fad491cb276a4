"""The live runtime: the paper runtime's process on DhanHQ's market feed.

Everything a paper session has (journal, recovery, operator controls, kill switch, health
page, signals, supervised threads, one engine thread) is :class:`~runtime.supervisor.
PaperRuntime`'s; this subclass replaces the market and the broker:

- market: a :class:`~feeds.dhan_store.DhanStore` filled by the supervised market-feed client,
  with the index warm-up from the charts API and the day's contracts from the instruments DB
  (the scrip master imported with ``mode=import``);
- broker: ``mode=live`` sends through :class:`~brokers.dhan.broker.DhanBroker` (a dry run
  unless both arming switches are on); ``mode=paper feed=dhan`` keeps the paper broker.

Time is the wall clock, except in an emulator rehearsal with ``live.lockstep=true``, where it
is the emulator's replay time as its feed marks it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from brokers.dhan.client import Credentials, DhanClient, credentials_from_env
from brokers.dhan.feed import MarketFeedClient
from brokers.dhan.orders import live_armed
from core.calendar import TradingCalendar
from core.clock import IST, ns_from_utc, utc_from_ns
from core.config import AppConfig
from core.errors import AuthError, BrokerError, ConfigError, MissingDataError
from core.instruments import OptionContract
from feeds.daybook import contracts_from_table
from feeds.dhan_store import DhanStore
from feeds.paced import PaceGate
from runtime.adoption import adopt_unknown_lots, unknown_lots
from runtime.startup import PaperRun, open_paper_run
from runtime.supervisor import PaperRuntime
from runtime.threads import Worker

log = logging.getLogger(__name__)

_BAR_KEYS = ("ts", "open", "high", "low", "close")


class LiveClock:
    """Wall time (UTC), or in a lockstep rehearsal the event time the feed has reached."""

    def __init__(self, start: datetime, lockstep: bool) -> None:
        self._start_ns = ns_from_utc(start)
        self.lockstep = lockstep
        self.gate: PaceGate | None = None
        self.speed = 1.0
        self.is_max = False
        self.running = False

    def now(self) -> datetime:
        if not self.lockstep:
            return datetime.now(UTC)
        published = self.gate.published_ns if self.gate is not None else 0
        return utc_from_ns(max(self._start_ns, published))

    def start(self) -> None:
        self.running = True

    def pause(self) -> None:
        self.running = False

    def seconds_until(self, when: datetime) -> float:
        return max((when - self.now()).total_seconds(), 0.0)

    def advance_to(self, when: datetime) -> None:  # paced: the feed moves time, not the gate
        return None


class LiveRuntime(PaperRuntime):
    """One live (or paper-on-the-live-feed) session; see the module docstring."""

    def __init__(self, app: AppConfig, send_orders: bool, install_signals: bool = True) -> None:
        super().__init__(app, install_signals)
        self.send_orders = send_orders  # mode=live: DhanBroker (armed or dry run)
        self.feed: MarketFeedClient | None = None
        self.client: DhanClient | None = None
        self.credentials: Credentials | None = None

    # -- PaperRuntime's replaceable steps ------------------------------------------------------
    def _session_day(self, calendar: TradingCalendar) -> date:
        text = self.app.live.day
        day = date.fromisoformat(text) if text else datetime.now(UTC).astimezone(IST).date()
        if not calendar.is_session(day):
            raise ConfigError(f"{day} is not a trading session: nothing to trade")
        return day

    def _check_market_data(self, calendar: TradingCalendar) -> None:
        try:
            self.credentials = credentials_from_env()
        except AuthError as e:
            raise ConfigError(str(e)) from e
        self.contracts = live_contracts(self.app, self.day)

    def _open_run(self) -> PaperRun:
        mode = "live" if self.send_orders else "paper"
        return open_paper_run(self.app, self.journal, self.day, datetime.now(UTC), mode,
                              {"feed": "dhan", "lockstep": self.app.live.lockstep})

    def _open_market(self, calendar: TradingCalendar, resume_at: datetime | None) -> None:
        app, day = self.app, self.day
        assert self.credentials is not None
        self.client = DhanClient(self.credentials, app.dhan)
        session_open, _ = calendar.session_bounds(day)
        lockstep = app.live.lockstep
        start = session_open if lockstep else max(datetime.now(UTC), session_open)
        start = max(start, resume_at) if resume_at is not None else start
        warmup = warmup_from_charts(self.client, app, calendar, day, start)
        self.clock = LiveClock(start, lockstep)
        self.gate = PaceGate(self.clock, max_wait_s=min(app.paper.heartbeat_s, 0.25))  # type: ignore[arg-type]
        self.clock.gate = self.gate
        self.gate.wait_when_idle = True
        self.gate.policy = self._policy
        band = self.setup.chain_strikes_each_side + app.live.band_margin_strikes
        expiries = [e for e in sorted({c.expiry for c in self.contracts}) if e >= day]
        self.store = DhanStore(app.index, calendar, day, self.contracts, self.gate, warmup,
                               band_strikes=band,
                               band_expiries=expiries[:self.setup.expiry_offset + 1],
                               start_ns=ns_from_utc(start) if start > session_open else None,
                               lockstep=lockstep)
        self.feed = MarketFeedClient(self.credentials, self.store.on_packet, app.dhan,
                                     on_lockstep=self.store.on_lockstep if lockstep else None)
        self.store.connect(self.feed.subscribe, self.feed.unsubscribe, self.feed.ack_lockstep)

    def _open_journal(self, run: PaperRun, at: datetime) -> tuple[float, Any]:
        """As paper, then adopt what Dhan holds beyond the journal (armed live only)."""
        cash, resume = super()._open_journal(run, at)
        if not (self.send_orders and live_armed(self.app.live)[0]):
            return cash, resume
        assert self.client is not None
        try:
            broker_positions = self.client.positions()
        except BrokerError as e:  # exits must not wait for this: try again at the next start
            log.error("ALERT: Dhan positions unavailable at start (%s): lots the journal "
                      "does not know are NOT adopted", e)
            return cash, resume
        held = {p.contract.security_id: p.held_qty for p in (resume.positions if resume else ())}
        lots = unknown_lots(broker_positions, held)
        resume = adopt_unknown_lots(lots, resume, self.store.book.contracts.get,
                                    self.store.last_price, self.sink, at, cash)
        return cash, resume

    def _make_broker(self, cash: float) -> Any:
        if not self.send_orders:
            return None  # paper broker on the live quotes
        from runtime.live_broker import make_dhan_broker

        return make_dhan_broker(self, cash)

    def _start_feed_threads(self, beat: float) -> None:
        assert self.feed is not None
        feed = self.feed
        self.threads.spawn("dhan-feed", lambda w: _keep_running(w, feed, beat))
        if not self.app.live.lockstep:
            store = self.store
            self.threads.spawn("live-clock", lambda w: _publish_wall_time(w, store, beat))
        if not feed.wait_connected(timeout_s=self.app.dhan.timeout_s):
            log.error("market feed not connected after %.0f s: the engine waits for it",
                      self.app.dhan.timeout_s)


def _keep_running(worker: Worker, feed: MarketFeedClient, beat: float) -> None:
    """Run the feed client's own loop thread; restart it if it dies; stop it with us."""
    feed.start()
    try:
        while not worker.wait(beat):
            worker.beat()
            thread = feed._thread
            if thread is not None and not thread.is_alive() and not feed.status.stopped_reason:
                log.error("market feed thread died: restarting it")
                feed.start()
    finally:
        feed.stop()


def _publish_wall_time(worker: Worker, store: DhanStore, beat: float) -> None:
    """Live: publish wall time so bars close on time even when no tick comes."""
    interval = min(beat, 0.1)
    while not worker.wait(interval):
        worker.beat()
        store.on_clock(time.time_ns())


def live_contracts(app: AppConfig, day: date) -> list[OptionContract]:
    """The day's option contracts from the instruments DB (``mode=import`` of the scrip
    master), as the strategy's contracts; a one-line error when there are none."""
    from jobs.live_jobs import day_contracts

    rows = day_contracts(app, day)
    contracts = contracts_from_table(rows, app.index.name)
    if not contracts:
        raise MissingDataError(f"no {app.index.name} options listed for {day} in {app.db.url}")
    return contracts


def warmup_from_charts(client: DhanClient, app: AppConfig, calendar: TradingCalendar,
                       day: date, start: datetime) -> dict[str, np.ndarray]:
    """Index 1m bars of the warm-up sessions (and of today before ``start``) from Dhan's
    charts API, oldest first, ``ts`` = bar start in UTC ns."""
    index = app.index
    days = list(calendar.sessions_before(day, app.strategy.warmup_sessions))
    session_open, _ = calendar.session_bounds(day)
    if start > session_open:
        days.append(day)
    parts = []
    for session in days:
        try:
            body = client.intraday_bars(index.security_id, "IDX_I", "INDEX",
                                        session.isoformat(), session.isoformat())
        except BrokerError as e:
            log.warning("%s %s: warm-up bars unavailable (%s); indicators start colder",
                        index.name, session, e)
            continue
        parts.append(_bars_from_body(body, None if session != day else ns_from_utc(start)))
    if not parts:
        log.warning("%s %s: no warm-up bars at all; indicators start cold", index.name, day)
        return {k: np.empty(0) for k in _BAR_KEYS}
    return {k: np.concatenate([p[k] for p in parts]) for k in _BAR_KEYS}


def _bars_from_body(body: dict[str, list], before_ns: int | None) -> dict[str, np.ndarray]:
    ts = np.asarray(body.get("timestamp", []), dtype=np.float64)
    bars = {"ts": (ts * 1e9).round().astype(np.int64)}
    for key in ("open", "high", "low", "close"):
        bars[key] = np.asarray(body.get(key, []), dtype=np.float64)
    if before_ns is not None:  # today's bars: only those complete before the start
        keep = bars["ts"] + int(timedelta(minutes=1).total_seconds() * 1e9) <= before_ns
        bars = {k: v[keep] for k, v in bars.items()}
    return bars
