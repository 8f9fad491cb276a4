"""Exit rules for a held long option, evaluated on every tick of that contract.

Precedence on a tick (first that fires wins):

1. time exit at/after ``time_exit`` IST (or on any later day than the entry);
2. stop loss ``price <= entry * (1 - sl_pct)`` while the breakeven lock is off;
3. take profit ``price >= entry * (1 + tp_pct)``;
4. once locked (``price >= entry * (1 + breakeven_trigger_pct)`` on some tick), the stop is
   ``max(entry, hwm * (1 - trail_pct))``: ``trailing_stop`` when the trail is the higher
   (ties go to the trail), else ``breakeven_stop``.

``price`` is the LTP, or the bid with ``exit_price='bid'``. The high-water mark is updated
with the tick's price *before* the trail is evaluated, so a tick making a new high can never
trigger the trail. The lock set by a tick takes effect from the next tick (so even
``breakeven_trigger_pct=0`` cannot exit on the locking tick). A missing, NaN or non-positive
price gives no decision and leaves the state unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from core.clock import IST, to_ist
from core.errors import ConfigError
from strategies.logic.tags import exit_tag
from strategies.logic.types import ExitIntent, ExitReason

# Prices are compared with this tolerance so a tick exactly at a level fires despite float
# noise in ``entry * (1 - sl)``; option ticks are 0.05, far above it.
_EPS = 1e-9
EXIT_PRICE_SOURCES = ("ltp", "bid")


@dataclass(frozen=True)
class ExitParams:
    """Exit thresholds (names as in ``RiskConfig``; ``time_exit`` parsed to a time)."""

    sl_pct: float = 0.30
    tp_pct: float = 0.60
    breakeven_trigger_pct: float = 0.10
    trail_pct: float = 0.03
    time_exit: time = time(15, 20)
    breaker_pct: float = 0.06
    exit_price: str = "ltp"

    def __post_init__(self) -> None:
        if not 0 < self.sl_pct < 1:
            raise ConfigError(f"sl_pct={self.sl_pct}: must be in (0, 1)")
        if not self.tp_pct > 0:
            raise ConfigError(f"tp_pct={self.tp_pct}: must be > 0")
        if not self.breakeven_trigger_pct >= 0:
            raise ConfigError(f"breakeven_trigger_pct={self.breakeven_trigger_pct}: must be >= 0")
        if not 0 < self.trail_pct < 1:
            raise ConfigError(f"trail_pct={self.trail_pct}: must be in (0, 1)")
        if not self.breaker_pct > 0:
            raise ConfigError(f"breaker_pct={self.breaker_pct}: must be > 0")
        if self.exit_price not in EXIT_PRICE_SOURCES:
            raise ConfigError(f"exit_price={self.exit_price!r}: choose ltp or bid")


@dataclass(frozen=True)
class PositionState:
    """A held position as the exit rules track it (persisted so a restart resumes it)."""

    security_id: int
    quantity: int
    entry_price: float
    hwm: float  # highest rule price since entry (starts at the entry price)
    breakeven_locked: bool
    entry_time: datetime

    @classmethod
    def opened(cls, security_id: int, quantity: int, entry_price: float,
               entry_time: datetime) -> PositionState:
        """A fresh position: HWM at the entry price, no lock."""
        if not (math.isfinite(entry_price) and entry_price > 0):
            raise ValueError(f"position {security_id}: entry price {entry_price!r} is not > 0")
        if quantity <= 0:
            raise ValueError(f"position {security_id}: quantity {quantity} is not > 0")
        return cls(security_id, quantity, entry_price, entry_price, False, entry_time)

    def stop_level(self, params: ExitParams) -> float:
        """The price at or below which the position is stopped out now."""
        if not self.breakeven_locked:
            return self.entry_price * (1.0 - params.sl_pct)
        return max(self.entry_price, self.hwm * (1.0 - params.trail_pct))


def rule_price(ltp: float | None, bid: float | None, params: ExitParams) -> float | None:
    """The price the rules use (LTP or bid per ``exit_price``); None when it is not a price."""
    value = bid if params.exit_price == "bid" else ltp
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def time_exit_due(state: PositionState, now: datetime, params: ExitParams) -> bool:
    """At/after ``time_exit`` IST, or on a later IST day than the entry (no overnight carry)."""
    window = (_exit_window(state.entry_time, params.time_exit) if now.tzinfo is not None
              else None)
    if window is not None:
        day_start, exit_at = window
        if now >= exit_at:
            return True
        if now >= day_start:
            return False
    wall = to_ist(now)
    return wall.time() >= params.time_exit or wall.date() > to_ist(state.entry_time).date()


@lru_cache(maxsize=256)
def _exit_window(entry_time: datetime, time_exit: time) -> tuple[datetime, datetime] | None:
    """(start of the entry's IST day, ``time_exit`` on it) as instants, for a cheap test.

    From the day's start on, the rule is "now >= exit instant" (a later day is later still);
    earlier ticks take the wall-clock path. None (always that path) when the IST offset is
    not constant over the day (never since 1945) or ``time_exit`` carries a zone.
    """
    day = to_ist(entry_time).date()
    if time_exit.tzinfo is not None:
        return None
    start = datetime.combine(day, time(0), tzinfo=IST)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=IST)
    if start.utcoffset() != end.utcoffset():
        return None
    # In UTC: comparing datetimes that share a tzinfo skips the utcoffset() calls.
    exit_at = datetime.combine(day, time_exit, tzinfo=IST)
    return start.astimezone(UTC), exit_at.astimezone(UTC)


def on_tick(state: PositionState, ltp: float | None, bid: float | None, now: datetime,
            params: ExitParams) -> tuple[PositionState, ExitIntent | None]:
    """New state and the exit (if any) for one tick of the held contract (see module doc)."""
    price = rule_price(ltp, bid, params)
    if price is None:
        return state, None
    if price > state.hwm:  # as max(hwm, price): an equal or NaN high-water mark stays
        state = _with(state, price, state.breakeven_locked)
    if time_exit_due(state, now, params):
        return state, _intent(state, ExitReason.TIME_EXIT, params, price, None)
    entry = state.entry_price
    if not state.breakeven_locked:
        stop = entry * (1.0 - params.sl_pct)
        if price <= stop + _EPS:
            return state, _intent(state, ExitReason.STOP_LOSS, params, price, stop)
    target = entry * (1.0 + params.tp_pct)
    if price >= target - _EPS:
        return state, _intent(state, ExitReason.TAKE_PROFIT, params, price, target)
    if not state.breakeven_locked:
        trigger = entry * (1.0 + params.breakeven_trigger_pct)
        # The lock takes effect from the next tick.
        if price >= trigger - _EPS:
            return _with(state, state.hwm, True), None
        return state, None
    trail = state.hwm * (1.0 - params.trail_pct)
    stop = max(trail, entry)
    if price <= stop + _EPS:
        reason = (ExitReason.TRAILING_STOP if trail >= entry else ExitReason.BREAKEVEN_STOP)
        return state, _intent(state, reason, params, price, stop)
    return state, None


def _with(state: PositionState, hwm: float, locked: bool) -> PositionState:
    """``replace(state, hwm=..., breakeven_locked=...)`` without replace's per-field work."""
    if type(state) is not PositionState:
        return replace(state, hwm=hwm, breakeven_locked=locked)
    return PositionState(state.security_id, state.quantity, state.entry_price, hwm, locked,
                         state.entry_time)


def _intent(state: PositionState, reason: ExitReason, params: ExitParams, price: float,
            level: float | None) -> ExitIntent:
    return ExitIntent(security_id=state.security_id, quantity=state.quantity, reason=reason,
                      tag=exit_tag(reason, params), trigger_price=price, level=level)


def breaker_tripped(day_start_balance: float, realised_pnl: float, unrealised_pnl: float,
                    params: ExitParams) -> bool:
    """Day P&L (realised + unrealised, both net of charges) <= -breaker_pct x start balance.

    The caller latches the result for the session (and persists it across restarts).
    """
    values = (day_start_balance, realised_pnl, unrealised_pnl)
    if not all(math.isfinite(v) for v in values) or day_start_balance <= 0:
        raise ValueError(f"breaker_tripped: need start balance > 0 and finite P&L, got "
                         f"{day_start_balance!r}, {realised_pnl!r}, {unrealised_pnl!r}")
    return realised_pnl + unrealised_pnl <= -params.breaker_pct * day_start_balance + _EPS


def forced_exits(positions: Iterable[PositionState], reason: ExitReason, params: ExitParams,
                 prices: Mapping[int, float] | None = None) -> list[ExitIntent]:
    """One exit per position for a flatten-all (breaker, kill switch, time, end of data).

    ``prices`` (security id -> last rule price) only fills ``trigger_price`` for the record;
    a position without a known price still gets its exit (NaN trigger price): exits are
    never held back for want of data.
    """
    known = prices or {}
    return [ExitIntent(security_id=p.security_id, quantity=p.quantity, reason=reason,
                       tag=exit_tag(reason, params),
                       trigger_price=float(known.get(p.security_id, math.nan)))
            for p in positions]


def breaker_exits(positions: Iterable[PositionState], params: ExitParams,
                  prices: Mapping[int, float] | None = None) -> list[ExitIntent]:
    """Flatten everything: tag ``circuit_breaker_<pct>pct``."""
    return forced_exits(positions, ExitReason.CIRCUIT_BREAKER, params, prices)


def kill_switch_exits(positions: Iterable[PositionState], params: ExitParams,
                      prices: Mapping[int, float] | None = None) -> list[ExitIntent]:
    """Flatten everything on the operator's command: tag ``kill_switch``."""
    return forced_exits(positions, ExitReason.KILL_SWITCH, params, prices)


def time_exits(positions: Iterable[PositionState], now: datetime, params: ExitParams,
               prices: Mapping[int, float] | None = None) -> list[ExitIntent]:
    """Timer-driven time exit for positions that did not tick at ``time_exit``."""
    due = [p for p in positions if time_exit_due(p, now, params)]
    return forced_exits(due, ExitReason.TIME_EXIT, params, prices)
