"""What the simulated and the Dhan broker share: a cash book of market orders on slot feeds.

Both book their own charges (so backtrader's commission is flat zero), build orders
"simulated" and then make them real (a freshly bound slot has no bar for backtrader's Order
to read), stamp them with the engine's decision time and hand notifications out of one
queue. Subclasses decide how an order is sent and filled (:meth:`_submit`).
"""

from __future__ import annotations

import collections

import backtrader as bt
from backtrader.order import BuyOrder, Order, SellOrder

from feeds.bt_feeds import SlotFeed, bt_num


class FlatComm(bt.CommInfoBase):
    """Stock-like, no margin; charges are booked by the broker itself."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED),
              ("commission", 0.0))


class MarketOrderBroker(bt.BrokerBase):
    """A cash book of market orders; see the module docstring."""

    def __init__(self, cash: float) -> None:
        super().__init__()
        self.startingcash = self.cash = cash
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
