"""The adapter's book of held positions: order bookkeeping around the pure exit state."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

from core.instruments import OptionContract
from strategies.logic.exits import PositionState
from strategies.logic.guard import OpenPosition
from strategies.logic.types import ExitIntent
from strategies.records import TradeRecord


@dataclass
class HeldPosition:
    """One position from entry order to exit fill; ``state`` is None until the entry fills."""

    key: str  # the entry order's correlation id
    contract: OptionContract
    slot: object
    lots: int
    entry_tag: str
    ordered_qty: int
    entry_order: object = None
    state: PositionState | None = None
    filled_qty: int = 0
    entry_cost: float = 0.0  # sum of price x qty of entry fills
    entry_charges: float = 0.0
    entry_at: datetime | None = None
    mark: float = math.nan
    exit: ExitIntent | None = None
    exit_key: str = ""
    exit_qty: int = 0
    exit_value: float = 0.0
    exit_charges: float = 0.0
    exit_at: datetime | None = None

    @property
    def entry_price(self) -> float:
        return self.entry_cost / self.filled_qty if self.filled_qty else math.nan

    @property
    def active(self) -> bool:
        return self.state is not None and self.exit is None

    def unrealised(self) -> float:
        """Mark-to-market P&L net of the entry charges already paid (0 before a fill)."""
        if not self.filled_qty or math.isnan(self.mark):
            return -self.entry_charges
        return (self.mark - self.entry_price) * self.filled_qty - self.entry_charges

    def guard_view(self) -> OpenPosition:
        return OpenPosition(self.contract.security_id, self.contract.option_type,
                            self.contract.underlying, self.unrealised())


@dataclass
class PositionBook:
    """Positions by entry correlation id, with the day's realised P&L."""

    positions: dict[str, HeldPosition] = field(default_factory=dict)
    realised: float = 0.0
    charges: float = 0.0
    trades: int = 0
    last_exit_at: dict[int, datetime] = field(default_factory=dict)

    def add(self, position: HeldPosition) -> None:
        self.positions[position.key] = position

    def by_slot(self, slot: object) -> HeldPosition | None:
        return next((p for p in self.positions.values() if p.slot is slot), None)

    def remove(self, key: str) -> HeldPosition:
        return self.positions.pop(key)

    def open_views(self) -> tuple[OpenPosition, ...]:
        return tuple(p.guard_view() for p in self.positions.values())

    def unrealised(self) -> float:
        return sum(p.unrealised() for p in self.positions.values())

    def in_flight(self) -> frozenset[int]:
        return frozenset(p.contract.security_id for p in self.positions.values()
                         if p.state is None or p.exit is not None)


def trade_record(position: HeldPosition, day: date) -> TradeRecord:
    """The closed round trip of ``position`` (its exit fully filled)."""
    assert position.state is not None
    assert position.exit is not None
    contract = position.contract
    qty = position.filled_qty
    exit_price = position.exit_value / position.exit_qty if position.exit_qty else math.nan
    gross = position.exit_value - position.entry_cost
    charges = round(position.entry_charges + position.exit_charges, 2)
    return TradeRecord(
        day=day, security_id=contract.security_id, symbol=contract.symbol,
        option_type=contract.option_type.value, strike=contract.strike,
        expiry=contract.expiry, lots=qty // contract.lot_size, quantity=qty,
        entry_at=position.entry_at or position.state.entry_time,
        entry_price=round(position.entry_price, 4),
        exit_at=position.exit_at or position.state.entry_time,
        exit_price=round(exit_price, 4), exit_reason=position.exit.reason.value,
        exit_tag=position.exit.tag, entry_tag=position.entry_tag,
        gross_pnl=round(gross, 2), charges=charges, net_pnl=round(gross - charges, 2),
        hwm=position.state.hwm, breakeven_locked=position.state.breakeven_locked,
        entry_correlation_id=position.key, exit_correlation_id=position.exit_key)
