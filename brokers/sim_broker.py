"""SimBroker: the backtest/replay broker, a bt.BrokerBase over the shared fill model.

Market orders fill against the *next* delivered quote of the order's own feed (a contract
slot), strictly after the submit time and at or after ``submit time + latency``, never a quote
backtrader loaded ahead of the clock: buys at the ask, sells at the bid, capped by top-of-book
quantity (the rest stays working). Only the feed that ticked is looked at, and positions are
revalued only when their own contract ticks, so the broker's cost does not grow with the
number of feeds. Charges come from the dated Indian schedule, per executed order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

import numpy as np
from backtrader.order import Order

from brokers.base import MarketOrderBroker
from brokers.charges import ChargeSchedule
from brokers.fills import FillParams, Quote, fill_market
from feeds.bt_feeds import SlotFeed

log = logging.getLogger(__name__)

_NS_PER_MS = 1_000_000


class SimBroker(MarketOrderBroker):
    """Fills slot orders on the slot's own quotes; see the module docstring."""

    def __init__(self, cash: float, fill_params: Callable[[SlotFeed], FillParams],
                 schedule: ChargeSchedule, exchange: str, trade_date: date,
                 fill_on_decision_quote: bool = False) -> None:
        super().__init__(cash, schedule, exchange, trade_date)
        self.fill_on_decision_quote = fill_on_decision_quote
        self._fill_params = fill_params
        self._pending: list[Order] = []
        self._submit_ns: dict[int, int] = {}
        self._tried: dict[int, int] = {}  # order ref -> quote index last tried

    @property
    def has_pending_orders(self) -> bool:
        return bool(self._pending)

    def cancel(self, order: Order) -> bool:
        if order not in self._pending:
            return False
        self._pending.remove(order)
        order.cancel()
        self.notifs.append(order.clone())
        return True

    def _submit(self, order: Order, info: dict) -> Order:
        submit_ns = self._made_real(order, info)
        order.submit(self)
        self.notifs.append(order.clone())
        order.accept()
        self.notifs.append(order.clone())
        self._submit_ns[order.ref] = submit_ns
        self._pending.append(order)
        return order

    def next(self) -> None:
        for order in list(self._pending):
            data = order.data
            if not isinstance(data, SlotFeed) or not data.bound or data.series is None:
                continue
            index = self._fill_index(order, data)
            if index is not None:
                self._try_fill(order, data, index, self._fill_params(data))
        self._mark_ticked()

    def _fill_index(self, order: Order, data: SlotFeed) -> int | None:
        """The delivered quote this order may fill on now, if any.

        Ticks: the first quote strictly after the order (the one it was decided on is
        history) and at or after submit + latency. Bars (``fill_on_decision_quote``): the
        quote the order was decided on may fill it, since a bar's path points are not
        separate market moments (a stop seen at the bar's low fills at that low).
        """
        series = data.series
        assert series is not None
        submit_ns = self._submit_ns[order.ref]
        latency_ns = int(self._fill_params(data).latency_ms * _NS_PER_MS)
        start = submit_ns + latency_ns
        if not self.fill_on_decision_quote:
            start = max(start, submit_ns + 1)
        first = int(np.searchsorted(series.ts, start, side="left"))
        candidate = max(first, self._tried.get(order.ref, -1) + 1)
        return candidate if candidate <= data.quote_index() else None

    def _try_fill(self, order: Order, data: SlotFeed, i: int, params: FillParams) -> None:
        series = data.series
        assert series is not None
        self._tried[order.ref] = i
        ts = int(series.ts[i])
        quote = Quote(ts_ns=ts, ltp=float(series.ltp[i]), bid=float(series.bid[i]),
                      ask=float(series.ask[i]), bid_qty=float(series.bid_qty[i]),
                      ask_qty=float(series.ask_qty[i]))
        side = "BUY" if order.isbuy() else "SELL"
        fill = fill_market(side, int(abs(order.executed.remsize)), quote, params)
        if fill is None:
            return
        self._execute(order, fill.price, fill.quantity, data, ts)

    def _execute(self, order: Order, price: float, quantity: int, data: SlotFeed,
                 ts_ns: int) -> None:
        self._book_execution(order, price, quantity, data, ts_ns)  # ts_ns: its quote
        if order.status == Order.Completed:
            self._pending.remove(order)
        self.notifs.append(order.clone())
