"""Frozen value types shared by the pure decision functions.

Decision functions take these (plus their own frozen ``*Params``) and ``now``, and return
intents; they never touch backtrader, brokers or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from core.instruments import OptionContract, OptionType


class Direction(StrEnum):
    BULLISH = "bullish"  # buy CE
    BEARISH = "bearish"  # buy PE
    AVOID = "avoid"

    @property
    def option_type(self) -> OptionType | None:
        if self is Direction.BULLISH:
            return OptionType.CALL
        if self is Direction.BEARISH:
            return OptionType.PUT
        return None


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    BREAKEVEN_STOP = "breakeven_stop"
    TRAILING_STOP = "trailing_stop"
    TIME_EXIT = "time_exit"
    CIRCUIT_BREAKER = "circuit_breaker"
    KILL_SWITCH = "kill_switch"
    SHUTDOWN = "shutdown"  # operator stop with paper.flatten_on_shutdown
    END_OF_DATA = "end_of_data"


@dataclass(frozen=True)
class Check:
    """One named check of a decision, for the audit trail."""

    name: str
    passed: bool
    detail: str = ""


def failed(checks: tuple[Check, ...]) -> tuple[Check, ...]:
    return tuple(c for c in checks if not c.passed)


@dataclass(frozen=True)
class ChainQuote:
    """One strike's option at one instant; None where the source does not say."""

    contract: OptionContract
    ltp: float
    bid: float | None
    ask: float | None
    bid_qty: int | None = None
    ask_qty: int | None = None
    oi: int | None = None
    iv: float | None = None  # annualised, 0.15 = 15%
    delta: float | None = None
    quote_ts: datetime | None = None


@dataclass(frozen=True)
class ChainSnapshot:
    """Strikes of one expiry around ATM at ``at``; spot is the index LTP then."""

    underlying: str
    expiry: date | None
    spot: float
    at: datetime
    quotes: tuple[ChainQuote, ...]
    strike_step: int


@dataclass(frozen=True)
class EntryIntent:
    """Buy ``quantity`` (= lots x lot size) of ``contract`` at market."""

    contract: OptionContract
    lots: int
    quantity: int
    reference_price: float
    tag: str
    correlation_id: str
    checks: tuple[Check, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ExitIntent:
    """Sell the held quantity at market, tagged with the rule that fired."""

    security_id: int
    quantity: int
    reason: ExitReason
    tag: str
    trigger_price: float  # the rule price that fired (NaN when a forced exit had none)
    # The threshold that was crossed (stop/target/trail level); None for forced exits.
    level: float | None = None
