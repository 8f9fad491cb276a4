"""Entry guard: every reason a new entry must wait, as named checks for the audit trail.

:func:`check_entry` always evaluates every check (so the decision log shows all of them);
:func:`allowed` says whether all passed. The guard only ever blocks *entries*: nothing here
may delay an exit. Unknown state (a missing quote timestamp) blocks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from types import MappingProxyType
from typing import NamedTuple

from core.clock import to_ist
from core.errors import ConfigError
from core.instruments import OptionContract, OptionType
from strategies.logic.types import Check


@dataclass(frozen=True)
class GuardParams:
    """Entry limits (names as in ``RiskConfig``; the window from ``StrategyConfig``)."""

    max_positions: int = 3
    max_same_side: int = 2
    cooldown_s: float = 180.0
    max_quote_age_s: float = 5.0
    # No new entries at or after this IST time; None = no cutoff.
    no_entries_after: time | None = time(15, 0)
    # No new entries before this IST time (e.g. session open plus warm-up); None = no limit.
    no_entries_before: time | None = time(9, 15)

    def __post_init__(self) -> None:
        if self.max_positions < 1 or self.max_same_side < 1:
            raise ConfigError("max_positions and max_same_side must be >= 1")
        if self.max_same_side > self.max_positions:
            raise ConfigError(f"max_same_side={self.max_same_side} exceeds "
                              f"max_positions={self.max_positions}")
        if not (math.isfinite(self.cooldown_s) and self.cooldown_s >= 0):
            raise ConfigError(f"cooldown_s={self.cooldown_s}: must be >= 0")
        if not (math.isfinite(self.max_quote_age_s) and self.max_quote_age_s > 0):
            raise ConfigError(f"max_quote_age_s={self.max_quote_age_s}: must be > 0")


class OpenPosition(NamedTuple):
    """A held (or pending-entry) position as the guard sees it."""

    security_id: int
    option_type: OptionType
    underlying: str
    unrealised_pnl: float


@dataclass(frozen=True)
class GuardState:
    """What the guard needs to know at one instant.

    ``open_positions`` must include entries whose order is still pending (with their P&L,
    0.0 until filled), so two quick signals cannot overshoot the limits. ``last_exit_at``
    maps security id -> time of the last exit of that contract (any exit, any reason).
    """

    open_positions: tuple[OpenPosition, ...] = ()
    last_exit_at: Mapping[int, datetime] = field(default_factory=dict)
    breaker_tripped: bool = False
    kill_switch: bool = False
    orders_in_flight: frozenset[int] = frozenset()
    index_quote_ts: datetime | None = None
    option_quote_ts: datetime | None = None

    def __post_init__(self) -> None:
        # Freeze the mapping too: a frozen state that can change under the guard is a trap.
        object.__setattr__(self, "last_exit_at", MappingProxyType(dict(self.last_exit_at)))
        object.__setattr__(self, "open_positions",
                           tuple(_position(p) for p in self.open_positions))
        object.__setattr__(self, "orders_in_flight", frozenset(self.orders_in_flight))


def _position(row: tuple) -> OpenPosition:
    if (type(row) is OpenPosition and type(row.security_id) is int
            and type(row.option_type) is OptionType and type(row.underlying) is str
            and type(row.unrealised_pnl) is float):
        return row  # already what the conversions below would rebuild
    security_id, option_type, underlying, pnl = row
    return OpenPosition(int(security_id), OptionType(option_type), str(underlying), float(pnl))


def allowed(checks: tuple[Check, ...]) -> bool:
    """True when every check passed (an empty tuple allows nothing: no checks, no entry)."""
    return bool(checks) and all(c.passed for c in checks)


def check_entry(candidate: OptionContract, state: GuardState, params: GuardParams,
                now: datetime) -> tuple[Check, ...]:
    """All entry checks for buying ``candidate`` at ``now`` (tz-aware), in a fixed order:
    kill_switch, breaker, trading_window, max_positions, same_side, same_side_profit,
    already_held, cooldown, order_in_flight, index_quote, option_quote."""
    same_side = [p for p in state.open_positions
                 if p.option_type is candidate.option_type
                 and p.underlying.upper() == candidate.underlying.upper()]
    return (
        Check("kill_switch", not state.kill_switch, "kill switch on" if state.kill_switch
              else "off"),
        Check("breaker", not state.breaker_tripped, "daily circuit breaker tripped"
              if state.breaker_tripped else "not tripped"),
        _window_check(now, params),
        _count_check("max_positions", len(state.open_positions), params.max_positions,
                     "open positions"),
        _count_check("same_side", len(same_side), params.max_same_side,
                     f"{candidate.underlying} {candidate.option_type.value} positions"),
        _profit_check(same_side),
        _held_check(candidate, state),
        _cooldown_check(candidate, state, params, now),
        _in_flight_check(candidate, state),
        _fresh_check("index_quote", state.index_quote_ts, params, now),
        _fresh_check("option_quote", state.option_quote_ts, params, now),
    )


def _window_check(now: datetime, params: GuardParams) -> Check:
    wall = to_ist(now).time()
    if params.no_entries_before is not None and wall < params.no_entries_before:
        return Check("trading_window", False,
                     f"{wall:%H:%M:%S} IST before {params.no_entries_before:%H:%M}")
    if params.no_entries_after is not None and wall >= params.no_entries_after:
        return Check("trading_window", False,
                     f"{wall:%H:%M:%S} IST at/after cutoff {params.no_entries_after:%H:%M}")
    return Check("trading_window", True, f"{wall:%H:%M:%S} IST")


def _count_check(name: str, count: int, limit: int, what: str) -> Check:
    return Check(name, count < limit, f"{count} {what}, limit {limit}")


def _profit_check(same_side: list[OpenPosition]) -> Check:
    """Adding to a side needs every position already on that side to be in profit (> 0)."""
    losing = [p for p in same_side if not (math.isfinite(p.unrealised_pnl)
                                           and p.unrealised_pnl > 0)]
    if not same_side:
        return Check("same_side_profit", True, "first on this side")
    if losing:
        detail = ", ".join(f"{p.security_id} pnl {p.unrealised_pnl:.2f}" for p in losing)
        return Check("same_side_profit", False, f"not in profit: {detail}")
    return Check("same_side_profit", True, "existing same-side positions in profit")


def _held_check(candidate: OptionContract, state: GuardState) -> Check:
    held = any(p.security_id == candidate.security_id for p in state.open_positions)
    return Check("already_held", not held,
                 f"{candidate.symbol} already held" if held else "not held")


def _cooldown_check(candidate: OptionContract, state: GuardState, params: GuardParams,
                    now: datetime) -> Check:
    last = state.last_exit_at.get(candidate.security_id)
    if last is None:
        return Check("cooldown", True, "no recent exit")
    since = (now - last).total_seconds()
    ok = since >= params.cooldown_s
    return Check("cooldown", ok, f"{since:.0f}s since exit of {candidate.symbol}, "
                                 f"cooldown {params.cooldown_s:.0f}s")


def _in_flight_check(candidate: OptionContract, state: GuardState) -> Check:
    busy = candidate.security_id in state.orders_in_flight
    return Check("order_in_flight", not busy,
                 f"order in flight for {candidate.symbol}" if busy else "none in flight")


def _fresh_check(name: str, ts: datetime | None, params: GuardParams, now: datetime) -> Check:
    """Fresh when ``now - ts <= max_quote_age_s``; a quote stamped ahead of ``now`` (clock
    skew between exchange and host) counts as fresh; no timestamp at all blocks."""
    if ts is None:
        return Check(name, False, "no quote")
    age = (now - ts).total_seconds()
    ok = age <= params.max_quote_age_s
    return Check(name, ok, f"age {age:.1f}s, max {params.max_quote_age_s:.1f}s")
