"""Paced feeds in backtrader's live loop: same steps as the plain replay at max speed, and
nothing delivered before the gate releases it when paced."""

from __future__ import annotations

import threading
import time
from datetime import date

import backtrader as bt
import numpy as np
import pytest

from core.clock import utc_from_ns
from core.instruments import OptionContract, OptionType
from feeds.bt_feeds import BarArrayFeed, SlotFeed, earliest_presented
from feeds.daybook import QuoteSeries
from feeds.paced import PacedBarFeed, PacedSlotFeed, PaceGate
from sim.clock import ReplayClock
from strategies.logic.bar_buckets import BarBuckets

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_728_445_500 * SECOND  # 2024-10-09 09:15 IST
BIND = T0 + MINUTE  # the first 1m bar's close, when the probe binds the slot
BARS = 12


def bars() -> dict[str, np.ndarray]:
    closes = 24_500.0 + np.arange(BARS, dtype=np.float64)
    return {"ts": T0 + np.arange(BARS, dtype=np.int64) * MINUTE, "open": closes - 0.5,
            "high": closes + 1.0, "low": closes - 1.0, "close": closes}


def quotes() -> QuoteSeries:
    # every 7 s, plus one exactly on a bar close (equal times must share a step)
    offsets = np.unique(np.concatenate([np.arange(1, 600, 7), [120]]))
    ts = BIND + offsets.astype(np.int64) * SECOND
    px = 100.0 + offsets / 100.0
    n = len(ts)
    return QuoteSeries(ts=ts, ltp=px, bid=px - 0.05, ask=px + 0.05, bid_qty=np.full(n, 50.0),
                       ask_qty=np.full(n, 50.0), oi=np.zeros(n, dtype=np.int64))


CONTRACT = OptionContract(7, "NSE_FNO", "NIFTY", date(2024, 10, 10), 24_500.0,
                          OptionType.CALL, 25)


class Probe(bt.Strategy):
    """Records every step: (1m bars seen, 5m bars seen, slot quotes seen, step time).

    5m bars are bucketed from the 1m bars as the scalper does (no resampled feed).
    """

    def __init__(self) -> None:
        self.steps: list[tuple[int, int, int, float]] = []
        self.live = False
        self.five = BarBuckets(5)
        self.seen = 0

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        slot = self.datas[1]
        if not slot.bound:
            slot.bind(CONTRACT, quotes(), BIND)
        index = self.datas[0]
        if len(index) > self.seen:
            self.seen = len(index)
            self.five.add(index.close_ts_ns() - MINUTE, index.open[0], index.high[0],
                          index.low[0], index.close[0])
        self.steps.append((len(index), self.five.emitted, len(slot),
                           round(self.datetime[0], 9)))

    def notify_data(self, data: bt.DataBase, status: int, *args: object) -> None:
        self.live |= status == data.LIVE


def cerebro_with(paced: PaceGate | None) -> tuple[bt.Cerebro, object]:
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=False,
                         quicknotify=True)
    if paced is None:  # the backtest replay's feeds, wired as ReplayStore.add_feeds does
        feeds: dict[str, BarArrayFeed] = {}
        slot = SlotFeed(0, lambda: feeds["index"].exhausted, timeframe=bt.TimeFrame.Ticks)
        index = BarArrayFeed(bars(), MINUTE, lambda: earliest_presented([slot]),
                             timeframe=bt.TimeFrame.Minutes, compression=1)
        feeds["index"] = index
    else:
        index = PacedBarFeed(bars(), MINUTE, paced, timeframe=bt.TimeFrame.Minutes,
                             compression=1)
        slot = PacedSlotFeed(0, lambda: index.exhausted, paced, timeframe=bt.TimeFrame.Ticks)
        paced.leader = slot  # first in cerebro's (timeframe, compression) order
    cerebro.adddata(index)
    cerebro.adddata(slot)
    cerebro.addstrategy(Probe)
    return cerebro, slot


def max_clock() -> ReplayClock:
    return ReplayClock(utc_from_ns(T0), utc_from_ns(T0 + BARS * MINUTE), "max")


def max_speed_steps() -> tuple[list[tuple[int, int, int, float]], bt.Cerebro, ReplayClock]:
    clock = max_clock()
    cerebro, _ = cerebro_with(PaceGate(clock))
    return cerebro.run()[0].steps, cerebro, clock


def test_max_speed_runs_the_live_loop_and_delivers_everything_on_time() -> None:
    steps, cerebro, clock = max_speed_steps()
    probe = cerebro.runstrats[0][0]
    assert cerebro._dolive  # backtrader runs its live loop
    assert probe.live  # and the feeds said so
    assert steps[-1][0] == BARS  # every 1m bar
    assert steps[-1][2] == len(quotes())  # every quote
    times = [s[3] for s in steps]
    assert times == sorted(times)  # never a step back in time
    # each 5m bar arrives in the same step as the 1m bar that completes it
    arrivals = [(s[0], s[1]) for prev, s in zip(steps, steps[1:], strict=False)
                if s[1] > prev[1]]
    assert arrivals[:2] == [(5, 1), (10, 2)]
    assert clock.now() == utc_from_ns(T0 + BARS * MINUTE)  # the clock followed the data


def test_plain_replay_takes_the_same_steps_as_max_speed() -> None:
    plain, _ = cerebro_with(None)
    assert plain.run()[0].steps == max_speed_steps()[0]


def test_a_policy_holds_the_release_and_the_feeds_wait() -> None:
    clock = max_clock()
    gate = PaceGate(clock, max_wait_s=0.01)
    limit = T0 + 3 * MINUTE
    held: list[int] = []

    def policy(proposed: int) -> int:
        if proposed > limit:
            held.append(proposed)
            if len(held) > 3:
                cerebro.runstop()
            return limit
        return proposed

    gate.policy = policy
    cerebro, _ = cerebro_with(gate)
    probe = cerebro.run()[0]
    assert max(s[0] for s in probe.steps) == 3  # bars up to the limit, none after
    assert gate.released_ns == limit
    assert len(held) >= 3  # it kept asking (idle waits), nothing more was delivered


def wait_for(condition, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def test_paced_feeds_deliver_only_what_was_published() -> None:
    wall = [0.0]
    clock = ReplayClock(utc_from_ns(T0), utc_from_ns(T0 + BARS * MINUTE), 1.0,
                        wall=lambda: wall[0])
    gate = PaceGate(clock, max_wait_s=0.01)
    cerebro, _ = cerebro_with(gate)
    result: list[Probe] = []
    engine = threading.Thread(target=lambda: result.extend(cerebro.run()), daemon=True)
    clock.start()
    engine.start()
    strategy = lambda: cerebro.runningstrats[0]  # noqa: E731
    wait_for(lambda: getattr(cerebro, "runningstrats", None) and gate.steps > 5)
    assert strategy().steps == []  # nothing is due before 09:16
    gate.publish(T0 + 3 * MINUTE + 30 * SECOND)
    wait_for(lambda: strategy().steps and strategy().steps[-1][0] == 3
             and gate.steps > 50)
    seen = strategy().steps
    assert max(s[0] for s in seen) == 3  # the 09:18 bar, not the 09:19 one
    assert all(s[3] <= bt.date2num(utc_from_ns(gate.published_ns).replace(tzinfo=None))
               for s in seen)
    gate.publish(T0 + BARS * MINUTE)
    engine.join(10)
    assert not engine.is_alive()
    assert result[0].steps == max_speed_steps()[0]  # the same steps, just paced


@pytest.mark.parametrize(("speed", "paced"), [("max", False), ("60", True), (2.5, True)])
def test_gate_is_paced_unless_max(speed: str | float, paced: bool) -> None:
    clock = ReplayClock(utc_from_ns(T0), None, speed)
    assert PaceGate(clock).paced is paced
