"""What a run records, and the sink it records into (the journal implements it).

The strategy adapter emits these frozen records; it never talks to the database directly.
``order`` is called *before* the order is handed to the broker, so a crash between the two
leaves a journalled order that restart recovery resolves, never a silent one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from strategies.logic.types import Check


@dataclass(frozen=True)
class DecisionRecord:
    """A decision taken or rejected, with every check that passed or failed."""

    at: datetime
    kind: str  # "signal" | "entry" | "exit" | "breaker" | "skip"
    taken: bool
    reason: str
    direction: str = ""
    security_id: int | None = None
    symbol: str = ""
    checks: tuple[Check, ...] = ()


@dataclass(frozen=True)
class OrderRecord:
    """An order as sent: written before submission, keyed by its correlation id."""

    correlation_id: str
    tag: str
    at: datetime
    side: str  # "BUY" | "SELL"
    security_id: int
    symbol: str
    quantity: int
    reference_price: float
    purpose: str  # "entry" | "exit"
    exit_reason: str = ""


@dataclass(frozen=True)
class OrderUpdateRecord:
    """A status change of a journalled order (TRANSIT/PENDING/TRADED/REJECTED/CANCELLED...)."""

    correlation_id: str
    at: datetime
    status: str
    detail: str = ""
    broker_order_id: str = ""  # the broker's order id once known (Dhan ``orderId``)


@dataclass(frozen=True)
class FillRecord:
    correlation_id: str
    at: datetime
    security_id: int
    side: str
    price: float
    quantity: int
    charges: float


@dataclass(frozen=True)
class PositionRecord:
    """A position's state after a change (pending -> active -> exited | cancelled)."""

    position_key: str  # the entry order's correlation id
    at: datetime
    status: str  # "pending" | "active" | "exited" | "cancelled"
    security_id: int
    symbol: str
    quantity: int
    entry_price: float | None = None
    hwm: float | None = None
    breakeven_locked: bool = False
    exit_reason: str = ""


@dataclass(frozen=True)
class TradeRecord:
    """A closed round trip, after charges."""

    day: date
    security_id: int
    symbol: str
    option_type: str
    strike: float
    expiry: date
    lots: int
    quantity: int
    entry_at: datetime
    entry_price: float
    exit_at: datetime
    exit_price: float
    exit_reason: str
    exit_tag: str
    entry_tag: str
    gross_pnl: float
    charges: float
    net_pnl: float
    hwm: float
    breakeven_locked: bool
    entry_correlation_id: str = ""
    exit_correlation_id: str = ""


@dataclass(frozen=True)
class DayRecord:
    """One session's risk state: start balance, realised P&L, breaker latch."""

    day: date
    start_balance: float
    end_balance: float
    realised_pnl: float
    charges: float
    trades: int
    breaker_tripped: bool


class JournalSink(Protocol):
    """Where a run's records go (database journal, or memory in tests)."""

    def decision(self, record: DecisionRecord) -> None: ...
    def order(self, record: OrderRecord) -> None: ...
    def order_update(self, record: OrderUpdateRecord) -> None: ...
    def fill(self, record: FillRecord) -> None: ...
    def position(self, record: PositionRecord) -> None: ...
    def trade(self, record: TradeRecord) -> None: ...
    def day(self, record: DayRecord) -> None: ...


@dataclass
class MemoryJournal:
    """A JournalSink that keeps everything in lists (tests, and workers before a merge)."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    order_updates: list[OrderUpdateRecord] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    positions: list[PositionRecord] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)
    days: list[DayRecord] = field(default_factory=list)

    def decision(self, record: DecisionRecord) -> None:
        self.decisions.append(record)

    def order(self, record: OrderRecord) -> None:
        self.orders.append(record)

    def order_update(self, record: OrderUpdateRecord) -> None:
        self.order_updates.append(record)

    def fill(self, record: FillRecord) -> None:
        self.fills.append(record)

    def position(self, record: PositionRecord) -> None:
        self.positions.append(record)

    def trade(self, record: TradeRecord) -> None:
        self.trades.append(record)

    def day(self, record: DayRecord) -> None:
        self.days.append(record)
