"""Paced replay: a catalog day through backtrader's *live* loop, released by a replay clock.

The feeds here report ``islive()``, so cerebro runs the loop live trading runs, and they
answer "nothing yet" (None) until the run's :class:`PaceGate` has released their next item's
time. Once per engine step (when cerebro polls its first feed) the gate decides how far
replay time may go:

- max speed: to the earliest item any feed holds, and the replay clock is advanced there,
  so nothing ever waits;
- paced: to that same earliest item once the feed pump (the stand-in for the market-data
  connection) has published a replay time at or past it, waiting for it until then.

Either way a step releases exactly one instant, the earliest pending one, and so the steps
are the same at any speed: one release per step keeps a step's items independent of when
each feed looks at the clock, and no feed ever loads an item later than the step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime

import backtrader as bt
import numpy as np

from core.calendar import TradingCalendar
from core.clock import ns_from_utc, utc_from_ns
from core.config import IndexConfig
from feeds.bt_feeds import BarArrayFeed, SlotFeed
from feeds.catalog import Catalog
from feeds.replay import MINUTE_NS, ReplayStore
from sim.clock import ReplayClock

StepPolicy = Callable[[int], int]  # proposed release (ns) -> allowed release (ns)


class PaceGate:
    """How far replay time may go in the current engine step (see the module docstring)."""

    def __init__(self, clock: ReplayClock, max_wait_s: float = 0.25) -> None:
        self.clock = clock
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        start = ns_from_utc(clock.now())
        self._published_ns = start  # paced: what the pump last published
        self.released_ns = start  # what feeds may deliver in this step
        self._feeds: list[PacedBarFeed | PacedSlotFeed] = []
        self.leader: object | None = None
        self.policy: StepPolicy | None = None
        self.steps = 0
        self.next_due_ns: int | None = None  # the earliest item at the last step (a hint)
        # Live: with nothing pending, wait for the feed instead of spinning the engine, and
        # tell the store once every published item has been stepped through.
        self.wait_when_idle = False
        self.on_caught_up: Callable[[int], None] | None = None

    @property
    def paced(self) -> bool:
        return not self.clock.is_max

    def register(self, feed: PacedBarFeed | PacedSlotFeed) -> None:
        self._feeds.append(feed)

    def earliest_pending_ns(self) -> int | None:
        """The earliest item any feed still holds (None when all are exhausted or idle)."""
        times = [t for t in (f.pending_ns() for f in self._feeds) if t is not None]
        return min(times) if times else None

    @property
    def published_ns(self) -> int:
        return self._published_ns

    def publish(self, now_ns: int) -> None:
        """The feed pump says the market has delivered everything up to ``now_ns``."""
        with self._cond:
            if now_ns > self._published_ns:
                self._published_ns = now_ns
            self._cond.notify_all()

    def wake(self) -> None:
        """Cut a wait short (shutdown, kill): the next step re-reads the policy."""
        with self._cond:
            self._cond.notify_all()

    def begin_step(self) -> None:
        """Fix this step's release; called by the leader feed when cerebro starts a step."""
        self.steps += 1
        seen = self._published_ns
        earliest = self.next_due_ns = self.earliest_pending_ns()
        if self.paced:
            if self.on_caught_up is not None and (earliest is None
                                                  or earliest > self._published_ns):
                self.on_caught_up(self._published_ns)
            published = self._await_published(earliest, seen)
            if earliest is None:  # woken by the feed: still one instant per step
                earliest = self.next_due_ns = self.earliest_pending_ns()
            proposed = published if earliest is None else min(published, earliest)
        else:
            proposed = earliest if earliest is not None else self.released_ns
        allowed = self.policy(proposed) if self.policy is not None else proposed
        if allowed < proposed:
            self._idle()  # held back by the policy: do not spin
        elif not self.paced and earliest is not None:
            self.clock.advance_to(utc_from_ns(allowed))
        self.released_ns = max(self.released_ns, allowed)
        if not self.paced:
            self._published_ns = self.released_ns

    def _await_published(self, earliest: int | None, seen: int) -> int:
        with self._cond:
            idle = earliest is None and self.wait_when_idle and self._published_ns == seen
            behind = earliest is not None and self._published_ns < earliest
            if idle or behind:
                self._cond.wait(self.max_wait_s)
            return self._published_ns

    def _idle(self) -> None:
        with self._cond:
            self._cond.wait(self.max_wait_s)


# backtrader's line metaclass duplicates the lines of a mixin combined with a concrete feed,
# so the two paced feeds repeat four small overrides and share these helpers instead.


def _gated(gate: PaceGate, pending: int | None) -> bool:
    """True when the feed's next item is released in this step (or it has none)."""
    return pending is None or pending <= gate.released_ns


def _step_if_leader(feed: bt.feed.DataBase, gate: PaceGate) -> None:
    if gate.leader is feed:
        gate.begin_step()


class PacedBarFeed(BarArrayFeed):
    """The index 1m bars, each due at its close."""

    def __init__(self, bars: dict[str, np.ndarray], bar_ns: int, gate: PaceGate) -> None:
        super().__init__(bars, bar_ns)
        self._gate = gate
        gate.register(self)

    def islive(self) -> bool:
        return True

    def start(self) -> None:
        super().start()
        self.put_notification(self.LIVE)

    def do_qcheck(self, onoff: bool, qlapse: float) -> None:
        super().do_qcheck(onoff, qlapse)
        _step_if_leader(self, self._gate)

    def next(self, datamaster: object = None, ticks: bool = True) -> bool | None:
        if not _gated(self._gate, self.pending_ns()):
            return None  # live: not there yet
        return super().next(datamaster, ticks)

    def pending_ns(self) -> int | None:
        """Close time of the next bar to deliver (a buffered one first); None at the end."""
        i = self._i if len(self) < self.buflen() else self._i + 1
        return int(self._close_ts[i]) if 0 <= i < len(self._close_ts) else None


class PacedSlotFeed(SlotFeed):
    """A contract slot whose quotes are each due at their exchange time."""

    def __init__(self, slot: int, clock_done: Callable[[], bool], gate: PaceGate) -> None:
        super().__init__(slot, clock_done)
        self._gate = gate
        gate.register(self)

    def islive(self) -> bool:
        return True

    def start(self) -> None:
        super().start()
        self.put_notification(self.LIVE)

    def do_qcheck(self, onoff: bool, qlapse: float) -> None:
        super().do_qcheck(onoff, qlapse)
        _step_if_leader(self, self._gate)

    def next(self, datamaster: object = None, ticks: bool = True) -> bool | None:
        if not _gated(self._gate, self.pending_ns()):
            return None
        return super().next(datamaster, ticks)

    def pending_ns(self) -> int | None:
        """Time of the bound contract's next quote to deliver; None when unbound or done."""
        series = self.series
        if series is None:
            return None
        i = self._i if self._loaded_ahead() else self._i + 1
        return int(series.ts[i]) if 0 <= i < len(series) else None


class PacedReplayStore(ReplayStore):
    """A :class:`ReplayStore` whose feeds run backtrader's live loop under a :class:`PaceGate`.

    ``resume_ns`` (a restart) moves today's bars up to the last confirmation-bar boundary at
    or before it into the warm-up, so both timeframes' indicators continue exactly as in an
    uninterrupted run; the strategy treats bars closing by ``resume_ns`` as warm-up too.
    """

    def __init__(self, catalog: Catalog, index: IndexConfig, calendar: TradingCalendar,
                 day: date, warmup_sessions: int, gate: PaceGate, confirm_minutes: int,
                 resume_ns: int | None = None) -> None:
        super().__init__(catalog, index, calendar, day, warmup_sessions, "ticks")
        self.gate = gate
        self.resume_ns = resume_ns
        self.slot_feeds: list[PacedSlotFeed] = []
        if resume_ns is not None:
            self._cut_at(resume_ns, confirm_minutes)

    @property
    def strategy_open_ns(self) -> int:
        """Bars closing at or before this are warm-up for the strategy."""
        return max(self.session_open_ns, self.resume_ns or 0)

    def _cut_at(self, resume_ns: int, confirm_minutes: int) -> None:
        step = confirm_minutes * MINUTE_NS
        cut = self.session_open_ns + (resume_ns - self.session_open_ns) // step * step
        close = np.asarray(self.index_bars["ts"], dtype=np.int64) + MINUTE_NS
        before = close <= cut
        self.warmup_bars = {k: np.concatenate([np.asarray(self.warmup_bars[k]),
                                               np.asarray(v)[before]])
                            for k, v in self.index_bars.items()}
        self.index_bars = {k: np.asarray(v)[~before] for k, v in self.index_bars.items()}

    def add_feeds(self, cerebro: bt.Cerebro, slots: int) -> None:
        """As :meth:`ReplayStore.add_feeds`, with paced feeds; the first polled one leads."""
        self.slot_feeds = [PacedSlotFeed(k, self._clock_done, self.gate,
                                         timeframe=bt.TimeFrame.Ticks, name=f"slot{k}")
                           for k in range(slots)]
        feed = PacedBarFeed(self.index_bars, MINUTE_NS, self.gate,
                            timeframe=bt.TimeFrame.Minutes, compression=1,
                            name=f"{self.underlying} 1m")
        self.clock_feed = feed
        add_paced_feeds(cerebro, self.gate, feed, self.slot_feeds)

def add_paced_feeds(cerebro: bt.Cerebro, gate: PaceGate, clock_feed: PacedBarFeed,
                    slot_feeds: list[PacedSlotFeed]) -> None:
    """Add the clock feed, then the slots; the feed cerebro polls first leads the gate."""
    cerebro.adddata(clock_feed)
    for slot in slot_feeds:
        cerebro.adddata(slot)
    # cerebro polls its feeds sorted by (timeframe, compression), stably.
    order = sorted(cerebro.datas, key=lambda d: (d._timeframe, d._compression))
    if not isinstance(order[0], PacedBarFeed | PacedSlotFeed):
        raise RuntimeError(f"paced run: first polled feed {order[0]!r} is not paced")
    gate.leader = order[0]


def session_clock(calendar: TradingCalendar, day: date, speed: str | float,
                  start: datetime | None = None) -> ReplayClock:
    """A replay clock over ``day``'s session, from ``start`` (default: the open)."""
    session_open, session_close = calendar.session_bounds(day)
    return ReplayClock(start or session_open, session_close, speed)
