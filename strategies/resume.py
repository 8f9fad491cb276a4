"""What a restarted strategy resumes from, and the operator controls it obeys.

Restart recovery (``runtime/recovery.py``) rebuilds a :class:`ResumeState` from the journal
and the broker's view; the Scalper applies it at start: positions are re-bound to slots and
managed again with their entry price, quantity, high-water mark and breakeven flag, and the
day's realised P&L, cooldowns, breaker latch and order numbering continue where they were.

:class:`OperatorView` is how a running strategy learns of the kill switch and of a shutdown;
the strategy itself never knows which process or signal set them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.instruments import OptionContract
from strategies.logic.exits import PositionState
from strategies.positions import HeldPosition


@dataclass(frozen=True)
class AdoptedPosition:
    """An open position as the journal and the broker's fills describe it."""

    key: str  # the entry order's correlation id
    contract: OptionContract
    entry_tag: str
    ordered_qty: int
    filled_qty: int
    entry_cost: float  # sum of price x qty of the entry fills, in fill order
    entry_charges: float
    entry_at: datetime  # first entry fill
    state_entry_price: float  # the price the exit rules measure from
    hwm: float
    breakeven_locked: bool
    mark: float = math.nan  # last price at the resume time
    exit_qty: int = 0  # already sold by an exit that did not complete
    exit_value: float = 0.0
    exit_charges: float = 0.0

    @property
    def held_qty(self) -> int:
        return self.filled_qty - self.exit_qty

    @property
    def average_price(self) -> float:
        return self.entry_cost / self.filled_qty

    def held_position(self, slot: object) -> HeldPosition:
        """The strategy's bookkeeping for this position, bound to ``slot``."""
        state = PositionState(self.contract.security_id, self.filled_qty,
                              self.state_entry_price, self.hwm, self.breakeven_locked,
                              self.entry_at)
        return HeldPosition(key=self.key, contract=self.contract, slot=slot,
                            lots=self.filled_qty // self.contract.lot_size,
                            entry_tag=self.entry_tag, ordered_qty=self.ordered_qty,
                            state=state, filled_qty=self.filled_qty,
                            entry_cost=self.entry_cost, entry_charges=self.entry_charges,
                            entry_at=self.entry_at, mark=self.mark, exit_qty=self.exit_qty,
                            exit_value=self.exit_value, exit_charges=self.exit_charges)


@dataclass(frozen=True)
class ResumeState:
    """Everything a strategy needs to continue a journalled session."""

    resume_ns: int  # replay/live time the session continues from (UTC ns)
    start_balance: float  # the day's starting balance (the breaker's base)
    realised: float = 0.0
    charges: float = 0.0
    trades: int = 0
    last_exit_at: Mapping[int, datetime] = field(default_factory=dict)
    breaker_latched: bool = False
    next_order_number: int = 1
    positions: tuple[AdoptedPosition, ...] = ()


class OperatorView(Protocol):
    """Operator state a running strategy polls (set from other threads)."""

    @property
    def kill_requested(self) -> bool: ...

    @property
    def flatten_requested(self) -> bool: ...

    @property
    def entries_stopped(self) -> bool: ...

    @property
    def keep_open_on_stop(self) -> bool: ...

    def attach(self, strategy: object) -> None: ...
