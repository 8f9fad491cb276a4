"""DhanStore: the live DhanHQ day as the strategy sees it (index feed, chain, contract slots).

The market feed thread hands every packet to :meth:`DhanStore.on_packet`, which appends it to
the :class:`~feeds.live_book.LiveBook` and publishes the new event time to the run's
:class:`~feeds.paced.PaceGate`. The engine then runs backtrader's live loop over the same
paced feeds a paper replay uses, reading from the growing book: one release per step, the
earliest pending item first, so a live day is stepped exactly like its replay.

Subscriptions: the index plus ATM +/- ``band_strikes`` strikes of the traded expiries,
chosen from the last warm-up close before the open and widened (never narrowed) as the index
moves; a contract the strategy binds outside the band (an adopted position) is subscribed on
bind and unsubscribed on release. Chain snapshots come from the streamed quotes of the band.

Event time is the receive time (monotone) live. In an emulator rehearsal with lockstep on,
the packets of one replay instant are held until the emulator's marker for that instant,
stamped with it, and acknowledged once the engine has stepped through it (see
:mod:`sim.dhan_emulator.feed`): the rehearsal then trades exactly like the replay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date

import backtrader as bt
import numpy as np

from brokers.dhan.parsing import FullPacket, Packet, QuotePacket, TickerPacket
from core.calendar import TradingCalendar
from core.clock import ns_from_utc
from core.config import IndexConfig
from core.instruments import OptionContract
from feeds.book_view import BookAnswers
from feeds.bt_feeds import bt_num
from feeds.live_book import MINUTE_NS, GrowingSeries, LiveBook
from feeds.paced import PacedBarFeed, PacedSlotFeed, PaceGate, add_paced_feeds

log = logging.getLogger(__name__)

Instrument = tuple[str, int]
_BAR_KEYS = ("ts", "open", "high", "low", "close")


class DhanStore(BookAnswers):
    """A live day: satisfies the strategy's MarketView and builds its feeds."""

    def __init__(self, index: IndexConfig, calendar: TradingCalendar, day: date,
                 contracts: Sequence[OptionContract], gate: PaceGate,
                 warmup_bars: dict[str, np.ndarray], *, band_strikes: int,
                 band_expiries: Iterable[date], start_ns: int | None = None,
                 lockstep: bool = False) -> None:
        self.underlying = index.name
        self.day = day
        self.calendar = calendar
        self.gate = gate
        self.index = index
        self.lockstep = lockstep
        session_open, session_close = calendar.session_bounds(day)
        self.session_open_ns = ns_from_utc(session_open)
        self.session_close_ns = ns_from_utc(session_close)
        late = start_ns is not None and start_ns > self.session_open_ns
        self.book = LiveBook(index.name, day, index.security_id, contracts, index.strike_step,
                             self.session_open_ns, start_ns if late else None)
        self.warmup_bars = warmup_bars
        self.strategy_open_ns = self.session_open_ns
        if late and len(warmup_bars["ts"]):
            self.strategy_open_ns = int(warmup_bars["ts"][-1]) + MINUTE_NS
        self.band_strikes = band_strikes
        self.band_expiries = frozenset(band_expiries)
        self.slot_feeds: list[LiveSlotFeed] = []
        self.clock_feed: LiveBarFeed | None = None
        self.subscribe: Callable[[list[Instrument]], None] = lambda _: None
        self.unsubscribe: Callable[[list[Instrument]], None] = lambda _: None
        self.ack: Callable[[int], None] = lambda _: None
        self._band: set[int] = set()
        self._band_atm: float | None = None
        self._held: dict[int, int] = {}  # security id -> slots bound to it
        self._oi: dict[int, float] = {}
        self._batch: list[tuple] = []  # lockstep: quotes of the instant not yet marked
        self._marked_ns = 0  # lockstep: last marker received
        self._acked_ns = 0
        self._lock = threading.Lock()
        gate.on_caught_up = self._on_caught_up

    # -- wiring ------------------------------------------------------------------------------
    def connect(self, subscribe: Callable[[list[Instrument]], None],
                unsubscribe: Callable[[list[Instrument]], None],
                ack: Callable[[int], None]) -> None:
        """Attach the market feed; subscribes the index and the band around the last close."""
        self.subscribe, self.unsubscribe, self.ack = subscribe, unsubscribe, ack
        first = [("IDX_I", self.book.index_id)]
        closes = self.warmup_bars["close"]
        reference = float(closes[-1]) if len(closes) else None
        self.subscribe(first + (self._widen(reference) if reference is not None else []))

    @property
    def closed(self) -> bool:
        """The session's end has been reached (nothing more will arrive)."""
        return self.book.event_ns >= self.session_close_ns

    # -- MarketView --------------------------------------------------------------------------
    def series(self, security_id: int) -> GrowingSeries | None:
        """The contract's quotes so far (empty until its first quote); None if unknown."""
        if security_id not in self.book.contracts:
            return None
        return self.book.series(security_id) or self._empty_series(security_id)  # type: ignore[return-value]

    def bound(self, security_id: int) -> None:
        """A slot took ``security_id``: subscribe it if the band does not stream it already."""
        held = self._held.get(security_id, 0)
        self._held[security_id] = held + 1
        contract = self.book.contracts.get(security_id)
        if not held and security_id not in self._band and contract is not None:
            self.subscribe([(contract.segment, security_id)])

    def released(self, security_id: int) -> None:
        """A slot let go of ``security_id``: unsubscribe it unless the band still wants it."""
        left = self._held.get(security_id, 0) - 1
        if left > 0:
            self._held[security_id] = left
            return
        self._held.pop(security_id, None)
        contract = self.book.contracts.get(security_id)
        if security_id not in self._band and contract is not None:
            self.unsubscribe([(contract.segment, security_id)])

    # -- the feed thread ---------------------------------------------------------------------
    def on_packet(self, packet: Packet, receive_ns: int) -> None:
        """A decoded packet: a quote row (now, or at the lockstep marker), or OI."""
        if not isinstance(packet, QuotePacket | FullPacket | TickerPacket):
            if hasattr(packet, "oi"):
                self._oi[packet.security_id] = float(packet.oi)  # type: ignore[attr-defined]
            return
        row = _quote_row(packet, self._oi.get(packet.security_id, 0.0))
        if self.lockstep:
            with self._lock:
                self._batch.append(row)
            return
        self._append(receive_ns, [row])

    def on_lockstep(self, instant_ns: int) -> None:
        """The emulator finished the instant ``instant_ns``: its quotes are stamped with it."""
        with self._lock:
            rows, self._batch = self._batch, []
            self._marked_ns = max(self._marked_ns, instant_ns)
        self._append(instant_ns, rows)

    def on_clock(self, now_ns: int) -> None:
        """Live: wall time passed ``now_ns`` (bars close on time without a tick)."""
        if not self.lockstep:
            self._append(now_ns, [])

    def _append(self, stamp_ns: int, rows: list[tuple]) -> None:
        index_ltp = None
        for sid, *values in rows:
            self.book.add_quote(sid, stamp_ns, *values)
            if sid == self.book.index_id:
                index_ltp = values[0]
        self.book.advance(stamp_ns)
        if index_ltp is not None:
            new = self._widen(index_ltp)
            if new:
                self.subscribe(new)
        self.gate.publish(self.book.event_ns)

    def _on_caught_up(self, published_ns: int) -> None:
        """The engine has stepped through everything published: ack the lockstep marker."""
        if self.lockstep and self._marked_ns > self._acked_ns and \
                published_ns >= self._marked_ns:
            self._acked_ns = self._marked_ns
            self.ack(self._marked_ns)

    def _widen(self, index_ltp: float) -> list[Instrument]:
        """Contracts of the band around ``index_ltp`` not subscribed yet (band only widens)."""
        step = self.index.strike_step
        atm = round(index_ltp / step) * step
        if atm == self._band_atm:
            return []
        self._band_atm = atm
        reach = self.band_strikes * step + 1e-6
        new = [c for c in self.book.contracts.values()
               if c.expiry in self.band_expiries and abs(c.strike - atm) <= reach
               and c.security_id not in self._band]
        self._band.update(c.security_id for c in new)
        return sorted((c.segment, c.security_id) for c in new
                      if c.security_id not in self._held)

    def _empty_series(self, security_id: int) -> GrowingSeries:
        with self.book.lock:
            series = self.book.series(security_id)
            if series is None:
                series = self.book._series[security_id] = GrowingSeries()  # type: ignore[assignment]
        return series  # type: ignore[return-value]

    # -- feeds -------------------------------------------------------------------------------
    def add_feeds(self, cerebro: bt.Cerebro, slots: int) -> None:
        """Live index 1m bars and the slots (the strategy buckets confirmation bars)."""
        self.slot_feeds = [LiveSlotFeed(k, self._clock_done, self.gate, self,
                                        timeframe=bt.TimeFrame.Ticks, name=f"slot{k}")
                           for k in range(slots)]
        feed = LiveBarFeed(self, timeframe=bt.TimeFrame.Minutes, compression=1,
                           name=f"{self.underlying} 1m")
        self.clock_feed = feed
        add_paced_feeds(cerebro, self.gate, feed, self.slot_feeds)

    def _clock_done(self) -> bool:
        return self.clock_feed is not None and self.clock_feed.exhausted


class LiveBarFeed(PacedBarFeed):
    """The index 1m bars of the :class:`LiveBook`, each due at its close."""

    def __init__(self, store: DhanStore) -> None:
        empty = {k: np.empty(0) for k in _BAR_KEYS}
        super().__init__(empty, MINUTE_NS, store.gate)
        self._store = store
        self._bars = store.book.bars

    @property
    def exhausted(self) -> bool:
        return self._store.closed and self._i + 1 >= len(self._bars)

    def close_ts_ns(self) -> int:
        return int(self._bars.ts[self._i]) + MINUTE_NS

    def pending_ns(self) -> int | None:
        i = self._i if len(self) < self.buflen() else self._i + 1
        bars = self._bars
        return int(bars.ts[i]) + MINUTE_NS if 0 <= i < len(bars) else None

    def _load(self) -> bool | None:
        bars = self._bars
        i = self._i + 1
        if i >= len(bars):
            return False if self._store.closed else None
        self._i = i
        lines = self.lines
        lines.datetime[0] = float(bt_num(int(bars.ts[i]) + MINUTE_NS))
        lines.open[0] = bars.open[i]
        lines.high[0] = bars.high[i]
        lines.low[0] = bars.low[i]
        lines.close[0] = bars.close[i]
        lines.volume[0] = 0.0
        lines.openinterest[0] = 0.0
        return True


class LiveSlotFeed(PacedSlotFeed):
    """A contract slot over a growing series; tells the store when it lets go."""

    def __init__(self, slot: int, clock_done: Callable[[], bool], gate: PaceGate,
                 store: DhanStore) -> None:
        super().__init__(slot, clock_done, gate)
        self._store = store

    def bind(self, contract: OptionContract, series: object, after_ns: int) -> None:
        super().bind(contract, series, after_ns)  # type: ignore[arg-type]
        self._num = np.empty(0)  # the series grows: each quote's time is converted on load
        self._store.bound(contract.security_id)

    def release(self) -> None:
        contract = self.contract
        super().release()
        if contract is not None:
            self._store.released(contract.security_id)

    def _stamp(self, i: int) -> float:
        return float(bt_num(int(self._series.ts[i])))  # type: ignore[union-attr]


def _quote_row(packet: QuotePacket | FullPacket | TickerPacket, oi: float) -> tuple:
    """(security id, ltp, bid, ask, bid qty, ask qty, oi) of a price packet."""
    bid = ask = float("nan")
    bid_qty = ask_qty = 0.0
    if isinstance(packet, FullPacket):
        top = packet.depth[0]
        bid = top.bid_price if top.bid_price > 0 else float("nan")
        ask = top.ask_price if top.ask_price > 0 else float("nan")
        bid_qty, ask_qty, oi = float(top.bid_qty), float(top.ask_qty), float(packet.oi)
    return (packet.security_id, float(packet.ltp), bid, ask, bid_qty, ask_qty, oi)
