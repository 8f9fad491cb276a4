"""What the simulated and the Dhan broker share: a cash book of market orders on slot feeds.

Both book their own charges (so backtrader's commission is flat zero), build orders
"simulated" and then make them real (a freshly bound slot has no bar for backtrader's Order
to read), stamp them with the engine's decision time, book each execution the same way
(position, cash, charges from the dated schedule) and hand notifications out of one queue.
Subclasses decide how an order is sent and when it fills (:meth:`_submit`).
"""

from __future__ import annotations

import collections
import math
from datetime import date

import backtrader as bt
from backtrader.order import BuyOrder, Order, SellOrder

from brokers.charges import ChargeSchedule, order_charges
from feeds.bt_feeds import SlotFeed, bt_num


class FlatComm(bt.CommInfoBase):
    """Stock-like, no margin; charges are booked by the broker itself."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED),
              ("commission", 0.0))


class MarketOrderBroker(bt.BrokerBase):
    """A cash book of market orders; see the module docstring."""

    def __init__(self, cash: float, schedule: ChargeSchedule, exchange: str,
                 trade_date: date) -> None:
        super().__init__()
        self.startingcash = self.cash = cash
        self._schedule, self._exchange, self.trade_date = schedule, exchange, trade_date
        self._marks: dict[bt.DataBase, float] = {}
        self.notifs: collections.deque[Order] = collections.deque()
        self.charges_paid = 0.0

    def start(self) -> None:
        super().start()
        self.positions = collections.defaultdict(bt.Position)
        self.comminfo = {None: FlatComm()}

    # -- the account ---------------------------------------------------------------------------
    def set_cash(self, cash: float) -> None:
        self.startingcash = self.cash = cash

    def getcash(self) -> float:
        return self.cash

    def getvalue(self, datas: object = None) -> float:
        held = sum(pos.size * self._marks.get(data, pos.price)
                   for data, pos in self.positions.items() if pos.size)
        return self.cash + held

    def getposition(self, data: bt.DataBase) -> bt.Position:
        return self.positions[data]

    def get_notification(self) -> Order | None:
        return self.notifs.popleft() if self.notifs else None

    def adopt_position(self, slot: SlotFeed, quantity: int, price: float) -> None:
        """Hold ``quantity`` at ``price`` on ``slot`` (a position resumed after a restart)."""
        if quantity <= 0:
            raise ValueError(f"adopted quantity must be > 0, got {quantity}")
        self.positions[slot] = bt.Position(size=quantity, price=price)
        self._marks[slot] = price

    def held(self) -> dict[int, int]:
        """Lots held per security id of the bound contract."""
        out: dict[int, int] = {}
        for data, position in list(self.positions.items()):
            contract = getattr(data, "contract", None)
            if position.size and contract is not None:
                out[contract.security_id] = out.get(contract.security_id, 0) + int(position.size)
        return out

    # -- orders --------------------------------------------------------------------------------
    def buy(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None,  # noqa: ANN001
            tradeid=0, oco=None, trailamount=None, trailpercent=None, parent=None,
            transmit=True, histnotify=False, _checksubmit=True, **kwargs) -> Order:
        order = BuyOrder(owner=owner, data=data, size=size, price=price, exectype=exectype,
                         valid=valid, tradeid=tradeid, transmit=transmit, simulated=True)
        return self._submit(order, kwargs)

    def sell(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None,  # noqa: ANN001
             tradeid=0, oco=None, trailamount=None, trailpercent=None, parent=None,
             transmit=True, histnotify=False, _checksubmit=True, **kwargs) -> Order:
        order = SellOrder(owner=owner, data=data, size=size, price=price, exectype=exectype,
                          valid=valid, tradeid=tradeid, transmit=transmit, simulated=True)
        return self._submit(order, kwargs)

    def _submit(self, order: Order, info: dict) -> Order:
        raise NotImplementedError

    def _made_real(self, order: Order, info: dict) -> int:
        """Make a market order built "simulated" real, stamped at ``info``'s submit_ns."""
        if order.exectype not in (None, Order.Market):
            raise ValueError(f"{type(self).__name__} takes market orders only "
                             "(entries and exits are market)")
        order.p.simulated = False
        submit_ns = info.pop("submit_ns")
        order.created.dt = bt_num(submit_ns).item()
        order.addinfo(submit_ns=submit_ns, **info)
        order.addcomminfo(self.comminfo[None])
        return submit_ns

    # -- fills ---------------------------------------------------------------------------------
    def _book_execution(self, order: Order, price: float, quantity: int, data: bt.DataBase,
                        ts_ns: int) -> None:
        """One execution at ``ts_ns``: position, cash, the dated charges; partial/completed."""
        size = quantity if order.isbuy() else -quantity
        position = self.positions[data]
        old_price = position.price
        psize, pprice, opened, closed = position.update(size, price)
        charges = order_charges("BUY" if size > 0 else "SELL", price * quantity,
                                self._exchange, self.trade_date, self._schedule)
        comm = charges.total
        self.charges_paid += comm
        pnl = -closed * (price - old_price) if closed else 0.0
        self.cash -= size * price + comm
        closed_comm = comm * abs(closed) / quantity
        order.execute(bt_num(ts_ns).item(), size, price, closed, abs(closed) * old_price,
                      closed_comm, opened, abs(opened) * price, comm - closed_comm, 0.0, pnl,
                      psize, pprice)
        order.executed.charges = charges
        order.executed.fill_ts_ns = ts_ns  # exact; bt's float day number is not
        if order.executed.remsize:
            order.partial()
        else:
            order.completed()
        self._marks[data] = price

    def _mark_ticked(self) -> None:
        """Mark held positions at their slot's last price (what getvalue reports)."""
        for data, position in self.positions.items():
            # len(data): a position resumed after a restart is held before its first tick
            if position.size and isinstance(data, SlotFeed) and data.bound and len(data):
                ltp = data.close[0]
                if not math.isnan(ltp):
                    self._marks[data] = ltp
