"""SlotFeed under backtrader's load-ahead: only delivered quotes count, and a released slot
never hands its old contract's buffered quote to the next contract."""

from __future__ import annotations

from datetime import date

import backtrader as bt
import numpy as np
import pytest

from core.instruments import OptionContract, OptionType
from feeds.bt_feeds import BarArrayFeed, SlotFeed
from feeds.daybook import QuoteSeries

SECOND = 1_000_000_000
T0 = 1_728_445_500 * SECOND  # 2024-10-09 09:15 IST
CLOSE = T0 + 60 * SECOND  # the first 1m bar's close, when the strategy binds


def series(offsets_s: list[int], price: float) -> QuoteSeries:
    n = len(offsets_s)
    px = np.full(n, price)
    return QuoteSeries(ts=CLOSE + np.array(offsets_s, dtype=np.int64) * SECOND, ltp=px,
                       bid=px - 0.05, ask=px + 0.05, bid_qty=np.full(n, 100),
                       ask_qty=np.full(n, 100), oi=np.zeros(n, dtype=np.int64))


def contract(security_id: int) -> OptionContract:
    return OptionContract(security_id, "NSE_FNO", "NIFTY", date(2024, 10, 10),
                          24_500.0 + security_id, OptionType.CALL, 25)


SLOW = series([-10, 30], 1.0)  # quoted at bind - 10 s, then not until bind + 30 s
FAST = series(list(range(1, 120)), 2.0)  # every second
NEXT = series(list(range(3, 120)), 3.0)  # bound to slot 0 after SLOW is released


class Probe(bt.Strategy):
    def __init__(self) -> None:
        self.slow_index_at_1s: int | None = None
        self.slot0_closes: list[float] = []
        self._seen = 0
        self._bound = False

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        slot0, slot1 = self.datas[1], self.datas[2]
        now = round((bt.date2num(self.datetime.datetime()) - bt_num(CLOSE)) * 86_400)
        if not self._bound:
            slot0.bind(contract(1), SLOW, CLOSE)
            slot1.bind(contract(2), FAST, CLOSE)
            self._bound, self._seen = True, len(slot0)
            return
        if len(slot0) > self._seen:
            self._seen = len(slot0)
            self.slot0_closes.append(slot0.close[0])
        if now == 1:
            # slot 0's +30 s quote is already loaded (and rolled back): not delivered.
            self.slow_index_at_1s = slot0.quote_index()
        if now == 2:
            slot0.release()
            slot0.bind(contract(3), NEXT, CLOSE + 2 * SECOND)
            self._seen = len(slot0)


def bt_num(ts_ns: int) -> float:
    return 719_163.0 + ts_ns / 86_400e9


def test_slot_reports_delivered_quotes_and_drops_a_buffered_one_on_release() -> None:
    bars = {"ts": T0 + np.arange(4, dtype=np.int64) * 60 * SECOND,
            "open": np.full(4, 24_500.0), "high": np.full(4, 24_501.0),
            "low": np.full(4, 24_499.0), "close": np.full(4, 24_500.0)}
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=False, exactbars=False,
                         quicknotify=True)
    clock = BarArrayFeed(bars, 60 * SECOND)
    cerebro.adddata(clock)
    for k in range(2):
        cerebro.adddata(SlotFeed(k, lambda: clock.exhausted))
    cerebro.addstrategy(Probe)
    probe = cerebro.run()[0]
    assert probe.slow_index_at_1s == 0  # the bind-time quote, not the one at +30 s
    assert probe.slot0_closes  # the next contract streamed
    assert set(probe.slot0_closes) == {3.0}  # and nothing of the released one


def test_a_driven_slot_delivers_only_what_the_strategy_hands_it() -> None:
    """drive(): the engine never loads the slot; deliver_until hands over the quotes before
    a time (a minute's path before the bar that closes it) and its lines show the last."""
    slot = SlotFeed(0, clock_done=lambda: False, batch_ns=60 * SECOND)
    slot.drive()
    quotes = series([5, 20, 59, 60, 61], 1.0)
    quotes.ltp[:] = [1.0, 2.0, 3.0, 4.0, 5.0]
    slot.bind(contract(1), quotes, CLOSE)
    assert (slot.next(), len(slot)) == (None, 0)  # the engine loads nothing
    assert slot.delivered_index() == -1
    slot.deliver_until(CLOSE + 60 * SECOND)
    assert slot.delivered_index() == 2  # +5, +20, +59 s; +60 s is the next minute's
    assert slot.quote_index() == -1  # delivered, not yet revealed to the broker
    assert (slot.close[0], len(slot)) == (3.0, 1)
    slot.reveal(1)
    assert slot.quote_index() == 1
    slot.deliver_until(CLOSE + 30 * SECOND)  # never back in time
    assert slot.delivered_index() == 2
    slot.deliver_until(CLOSE + 120 * SECOND)
    assert (slot.delivered_index(), slot.close[0], len(slot)) == (4, 5.0, 1)
    done = SlotFeed(1, clock_done=lambda: True, batch_ns=60 * SECOND)
    done.drive()
    assert done.next() is False  # the clock has ended: so has the slot


def test_only_a_batched_slot_can_be_driven() -> None:
    with pytest.raises(RuntimeError, match="batched"):
        SlotFeed(0, clock_done=lambda: False).drive()
