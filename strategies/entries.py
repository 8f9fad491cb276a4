"""The entry pipeline on a closed primary bar: signal -> validation -> strikes -> guard -> size.

Each stage is a pure function from ``strategies.logic``; this module only fetches what they
need from the market view (chain snapshot, index quote) and turns the outcome into an
``EntryIntent`` or a rejection, both with the checks that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from core.clock import utc_from_ns
from core.errors import DataError
from strategies.logic.greeks import enrich_chain
from strategies.logic.guard import GuardState, allowed, check_entry
from strategies.logic.signal import IvRank, SignalResult, validate_entry
from strategies.logic.sizing import size_position
from strategies.logic.strikes import StrikePick, candidate_filter, select_strikes
from strategies.logic.tags import correlation_id, entry_tag
from strategies.logic.types import ChainSnapshot, Check, Direction, EntryIntent
from strategies.records import DecisionRecord
from strategies.setup import StrategySetup, estimated_charges, order_suffix


class MarketView(Protocol):
    """What the strategy may ask of a store about the current day."""

    underlying: str
    day: date
    expiries: list[date]

    def chain(self, expiry: date, at: datetime, strikes_each_side: int) -> ChainSnapshot: ...
    def index_last(self, at: datetime) -> tuple[int, float] | None: ...
    def trading_years(self, now: datetime, expiry: date) -> float: ...
    def is_session(self, day: date) -> bool: ...


@dataclass(frozen=True)
class EntryOutcome:
    intent: EntryIntent | None
    decision: DecisionRecord


def plan_entry(signal: SignalResult, iv: IvRank | None, market: MarketView,
               guard_state: GuardState, balance: float, setup: StrategySetup,
               now: datetime, order_number: int) -> EntryOutcome:
    """Run the pipeline for one closed bar; never raises on bad market data."""
    direction = signal.direction
    checks = signal.checks
    if direction is Direction.AVOID:
        return _rejected(now, "signal", "no signal", direction, checks)
    checks += validate_entry(now, market.is_session(market.day), iv, setup.validation)
    if not all(c.passed for c in checks):
        return _rejected(now, "signal", "validation failed", direction, checks)
    try:
        snapshot = _snapshot(market, setup, now, direction)
    except DataError as e:
        return _rejected(now, "entry", f"no chain: {e}", direction, checks)
    selection = select_strikes(snapshot, direction, setup.strikes, now)
    if not selection.picks or len(selection.picks) <= setup.pick_rank:
        reason = selection.reason or f"fewer than {setup.pick_rank + 1} picks"
        failed_strikes = tuple(Check(f"strike {r.symbol}", False, _first_failure(r.checks))
                               for r in selection.rejected)
        return _rejected(now, "entry", reason, direction, checks + failed_strikes)
    pick = selection.picks[setup.pick_rank]
    guard = _with_quote_times(guard_state, market, snapshot, pick, now)
    guard_checks = check_entry(pick.contract, guard, setup.guard, now)
    checks += guard_checks
    if not allowed(guard_checks):
        return _rejected(now, "entry", "entry guard", direction, checks, pick)
    return _sized(pick, direction, checks, balance, setup, market.day, now, order_number)


def _sized(pick: StrikePick, direction: Direction, checks: tuple[Check, ...], balance: float,
           setup: StrategySetup, day: date, now: datetime, order_number: int) -> EntryOutcome:
    contract = pick.contract
    price = pick.ask if pick.ask else pick.ltp
    per_lot, fixed = estimated_charges(setup, price, contract.lot_size, day)
    sizing = size_position(balance, price, contract.lot_size, setup.sizing, per_lot, fixed)
    checks += (Check("sizing", sizing.lots > 0, sizing.reason),)
    if sizing.lots <= 0:
        return _rejected(now, "entry", f"zero lots: {sizing.reason}", direction, checks, pick)
    tag = entry_tag(contract)
    unique = order_suffix(setup, order_number)
    intent = EntryIntent(contract=contract, lots=sizing.lots, quantity=sizing.quantity,
                         reference_price=price, tag=tag,
                         correlation_id=correlation_id(tag, unique), checks=checks)
    decision = DecisionRecord(at=now, kind="entry", taken=True, reason=f"buy {sizing.lots} lot(s)",
                              direction=direction.value, security_id=contract.security_id,
                              symbol=contract.symbol, checks=checks)
    return EntryOutcome(intent, decision)


def _snapshot(market: MarketView, setup: StrategySetup, now: datetime,
              direction: Direction) -> ChainSnapshot:
    """The chain of the configured expiry, with IV/delta for the strikes selection reads."""
    live = [e for e in market.expiries if e >= market.day]
    if len(live) <= setup.expiry_offset:
        raise DataError(f"no expiry #{setup.expiry_offset} listed on {market.day}")
    expiry = live[setup.expiry_offset]
    snapshot = market.chain(expiry, now, setup.chain_strikes_each_side)
    t_years = market.trading_years(now, expiry)
    return enrich_chain(snapshot, t_years, setup.risk_free_rate,
                        only=candidate_filter(snapshot, direction, setup.strikes))


def _with_quote_times(state: GuardState, market: MarketView, snapshot: ChainSnapshot,
                      pick: StrikePick, now: datetime) -> GuardState:
    last = market.index_last(now)
    quote_ts = next((q.quote_ts for q in snapshot.quotes
                     if q.contract.security_id == pick.contract.security_id), None)
    return GuardState(
        open_positions=state.open_positions, last_exit_at=state.last_exit_at,
        breaker_tripped=state.breaker_tripped, kill_switch=state.kill_switch,
        orders_in_flight=state.orders_in_flight,
        index_quote_ts=None if last is None else utc_from_ns(last[0]),
        option_quote_ts=quote_ts)


def _first_failure(checks: tuple[Check, ...]) -> str:
    bad = [c for c in checks if not c.passed]
    return f"{bad[0].name}: {bad[0].detail}" if bad else "not picked"


def _rejected(now: datetime, kind: str, reason: str, direction: Direction,
              checks: tuple[Check, ...], pick: StrikePick | None = None) -> EntryOutcome:
    return EntryOutcome(None, DecisionRecord(
        at=now, kind=kind, taken=False, reason=reason, direction=direction.value,
        security_id=None if pick is None else pick.contract.security_id,
        symbol="" if pick is None else pick.contract.symbol, checks=checks))
