"""Strike selection: candidates around ATM, liquidity/IV/delta filters, a 0-210 score.

ATM is the index LTP rounded to the configured strike step (never inferred from chain keys).
Bullish looks at CE strikes ATM, ATM+1 .. ATM+otm_steps; bearish at PE strikes ATM, ATM-1 ..
ATM-otm_steps. A filter applies only when its datum exists (run ``greeks.enrich_chain``
first to fill IV/delta). Every pick carries its full :class:`OptionContract`; a candidate
whose contract is missing or does not match the slot it fills is rejected, never picked.
Scoring is documented on :func:`score_quote` and the sub-score functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from core.clock import to_ist
from core.errors import ConfigError
from core.instruments import OptionContract, OptionType, contract_name, format_strike
from strategies.logic.greeks import quote_mid
from strategies.logic.types import ChainQuote, ChainSnapshot, Check, Direction

log = logging.getLogger(__name__)

MAX_OTM_STEPS = 3
# Limits are compared with this tolerance so a value exactly at a limit passes despite
# float noise ((101.5 - 98.5) / 100 must equal 0.03, not 0.030000000000000002).
_EPS = 1e-9

DEFAULT_DELTA_FLOORS: tuple[tuple[int, float], ...] = (
    (0, 0.08), (11, 0.10), (13, 0.12), (14, 0.15))


@dataclass(frozen=True)
class StrikeParams:
    """Strike selection settings (names as in ``StrategyConfig``; step from the index)."""

    strike_step: int
    otm_steps: int = 2
    min_iv: float = 0.10
    max_iv: float = 0.60
    min_oi: int = 50_000
    max_spread_pct: float = 0.03
    # (from IST hour, minimum |delta|); the last entry whose hour has started applies.
    delta_floors: tuple[tuple[int, float], ...] = DEFAULT_DELTA_FLOORS
    top_n: int = 2

    def __post_init__(self) -> None:
        if self.strike_step <= 0:
            raise ConfigError(f"strike_step={self.strike_step}: must be > 0")
        if not 0 <= self.otm_steps <= MAX_OTM_STEPS:
            raise ConfigError(f"otm_steps={self.otm_steps}: allowed 0..{MAX_OTM_STEPS}")
        if self.min_iv > self.max_iv:
            raise ConfigError(f"min_iv={self.min_iv} exceeds max_iv={self.max_iv}")
        if self.top_n < 1:
            raise ConfigError(f"top_n={self.top_n}: must be >= 1")
        if any(not 0 <= hour <= 23 for hour, _ in self.delta_floors):
            raise ConfigError(f"delta_floors={self.delta_floors}: hours must be 0..23")


@dataclass(frozen=True)
class StrikePick:
    """A candidate that passed every filter, with its score and the data behind it."""

    contract: OptionContract
    ltp: float
    bid: float | None
    ask: float | None
    oi: int | None
    iv: float | None
    delta: float | None
    spread_pct: float | None
    steps_from_atm: int  # > 0 out of the money, < 0 in the money
    parts: ScoreParts
    checks: tuple[Check, ...]

    @property
    def score(self) -> float:
        return self.parts.total


class Rejection(NamedTuple):
    symbol: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class StrikeSelection:
    """Picks best first (at most ``top_n``), every rejected candidate with its checks, and a
    reason when there is no pick."""

    picks: tuple[StrikePick, ...]
    rejected: tuple[Rejection, ...]
    atm_strike: float | None
    reason: str = ""


def atm_strike(spot: float, step: int) -> float:
    """Spot rounded to the nearest multiple of ``step``; a half step rounds up."""
    return float(math.floor(spot / step + 0.5) * step)


def delta_floor(now: datetime, floors: tuple[tuple[int, float], ...]) -> float:
    """Minimum |delta| at ``now``: the floor of the latest IST hour already started."""
    hour = to_ist(now).hour
    started = [(h, d) for h, d in floors if h <= hour]
    return max(started)[1] if started else 0.0


def candidate_strikes(atm: float, direction: Direction, params: StrikeParams
                      ) -> tuple[tuple[int, float], ...]:
    """(steps out of the money, strike) for ATM and each OTM step, nearest first."""
    sign = 1 if direction is Direction.BULLISH else -1
    return tuple((k, atm + sign * k * params.strike_step) for k in range(params.otm_steps + 1))


def candidate_filter(snapshot: ChainSnapshot, direction: Direction, params: StrikeParams
                     ) -> Callable[[ChainQuote], bool]:
    """Accepts the quotes :func:`select_strikes` reads for ``direction`` (its option type at
    the candidate strikes), so only those need IV and delta (``greeks.enrich_chain(only=)``)."""
    option_type = direction.option_type
    if option_type is None or not (math.isfinite(snapshot.spot) and snapshot.spot > 0):
        return lambda quote: False
    atm = atm_strike(snapshot.spot, params.strike_step)
    strikes = {strike for _, strike in candidate_strikes(atm, direction, params)}

    def wanted(quote: ChainQuote) -> bool:
        contract = quote.contract
        return (getattr(contract, "option_type", None) is option_type
                and getattr(contract, "strike", None) in strikes)
    return wanted


def select_strikes(snapshot: ChainSnapshot, direction: Direction, params: StrikeParams,
                   now: datetime) -> StrikeSelection:
    """Filter and score the candidate strikes for ``direction``; never raises on bad data."""
    option_type = direction.option_type
    if option_type is None:
        return StrikeSelection((), (), None, f"direction {direction.value}: nothing to buy")
    if not (math.isfinite(snapshot.spot) and snapshot.spot > 0):
        return StrikeSelection((), (), None, f"spot {snapshot.spot!r} is not a price")
    if not snapshot.quotes:
        return StrikeSelection((), (), None, f"empty chain for {snapshot.underlying}")
    atm = atm_strike(snapshot.spot, params.strike_step)
    book = _index_quotes(snapshot, option_type)
    floor = delta_floor(now, params.delta_floors)
    picks: list[StrikePick] = []
    rejected: list[Rejection] = []
    for steps, strike in candidate_strikes(atm, direction, params):
        quote = book.get(strike)
        if quote is None:
            name = _slot_name(snapshot, strike, option_type)
            rejected.append(Rejection(name, (Check(
                "quote", False, f"no {option_type.value} quote at {format_strike(strike)}"),)))
            continue
        checks = _checks(quote, snapshot, option_type, params, floor)
        if all(c.passed for c in checks):
            picks.append(_pick(quote, steps, snapshot.spot, checks))
        else:
            rejected.append(Rejection(_quote_name(quote, snapshot, strike, option_type), checks))
    picks.sort(key=lambda p: (-p.score, abs(p.steps_from_atm), p.contract.strike))
    reason = "" if picks else "no candidate passed the filters"
    return StrikeSelection(tuple(picks[: params.top_n]), tuple(rejected), atm, reason)


def _index_quotes(snapshot: ChainSnapshot, option_type: OptionType) -> dict[float, ChainQuote]:
    book: dict[float, ChainQuote] = {}
    for quote in snapshot.quotes:
        contract = quote.contract
        if not isinstance(contract, OptionContract):
            log.warning("%s chain at %s: quote without a contract skipped",
                        snapshot.underlying, snapshot.at.isoformat())
            continue
        if contract.option_type is not option_type:
            continue
        if contract.strike in book:
            log.warning("%s chain: duplicate quote for %s; first kept",
                        snapshot.underlying, contract.symbol)
            continue
        book[float(contract.strike)] = quote
    return book


def _slot_name(snapshot: ChainSnapshot, strike: float, option_type: OptionType) -> str:
    if snapshot.expiry is None:
        return f"{snapshot.underlying.upper()} ? {format_strike(strike)} {option_type.value}"
    return contract_name(snapshot.underlying, snapshot.expiry, strike, option_type.value)


def _quote_name(quote: ChainQuote, snapshot: ChainSnapshot, strike: float,
                option_type: OptionType) -> str:
    try:
        return quote.contract.symbol
    except (AttributeError, TypeError):
        return _slot_name(snapshot, strike, option_type)


def _checks(quote: ChainQuote, snapshot: ChainSnapshot, option_type: OptionType,
            params: StrikeParams, floor: float) -> tuple[Check, ...]:
    return (
        _contract_check(quote.contract, snapshot, option_type),
        _ltp_check(quote.ltp),
        _iv_check(quote.iv, params),
        _oi_check(quote.oi, params.min_oi),
        _spread_check(quote, params.max_spread_pct),
        _delta_check(quote.delta, floor),
    )


def _contract_check(contract: OptionContract, snapshot: ChainSnapshot,
                    option_type: OptionType) -> Check:
    problems = []
    security_id = getattr(contract, "security_id", None)
    if not isinstance(security_id, int) or security_id <= 0:
        problems.append(f"security_id {security_id!r}")
    lot_size = getattr(contract, "lot_size", None)
    if not isinstance(lot_size, int) or lot_size <= 0:
        problems.append(f"lot_size {lot_size!r}")
    if not getattr(contract, "segment", ""):
        problems.append("no segment")
    if str(getattr(contract, "underlying", "")).upper() != snapshot.underlying.upper():
        problems.append(f"underlying {getattr(contract, 'underlying', None)!r}")
    if snapshot.expiry is not None and getattr(contract, "expiry", None) != snapshot.expiry:
        problems.append(f"expiry {getattr(contract, 'expiry', None)} != {snapshot.expiry}")
    if getattr(contract, "option_type", None) is not option_type:
        problems.append(f"option type {getattr(contract, 'option_type', None)}")
    if problems:
        return Check("contract", False, "invalid contract: " + ", ".join(problems))
    return Check("contract", True, f"security_id {security_id}")


def _ltp_check(ltp: float) -> Check:
    ok = isinstance(ltp, int | float) and math.isfinite(ltp) and ltp > 0
    return Check("ltp", ok, f"ltp {ltp}" if ok else f"ltp {ltp!r} is not > 0")


def _iv_check(iv: float | None, params: StrikeParams) -> Check:
    if iv is None:
        return Check("iv", True, "no data")
    ok = params.min_iv - _EPS <= iv <= params.max_iv + _EPS
    return Check("iv", ok, f"iv {iv:.2%} vs [{params.min_iv:.0%}, {params.max_iv:.0%}]")


def _oi_check(oi: int | None, min_oi: int) -> Check:
    if oi is None:
        return Check("oi", True, "no data")
    if oi >= min_oi:
        return Check("oi", True, f"oi {oi} >= min {min_oi}")
    short = (min_oi - oi) / min_oi if min_oi else 0.0
    return Check("oi", False, f"oi {oi} < min {min_oi} ({short:.0%} short)")


def spread_pct(quote: ChainQuote) -> float | None:
    """(ask - bid) / mid of a two-sided quote (relative to the mid, not the bid)."""
    mid = quote_mid(quote)
    if mid is None or quote.bid is None or quote.ask is None:
        return None
    return (quote.ask - quote.bid) / mid


def _spread_check(quote: ChainQuote, max_spread_pct: float) -> Check:
    if quote.bid is None and quote.ask is None:
        return Check("spread", True, "no data")
    value = spread_pct(quote)
    if value is None:
        return Check("spread", False, f"one-sided or crossed quote bid {quote.bid} "
                                      f"ask {quote.ask}")
    ok = value <= max_spread_pct + _EPS
    return Check("spread", ok, f"spread {value:.2%} vs max {max_spread_pct:.2%}")


def _delta_check(delta: float | None, floor: float) -> Check:
    if delta is None:
        return Check("delta", True, "no data")
    ok = abs(delta) >= floor - _EPS
    return Check("delta", ok, f"|delta| {abs(delta):.3f} vs min {floor:.2f}")


def _pick(quote: ChainQuote, steps: int, spot: float, checks: tuple[Check, ...]) -> StrikePick:
    spread = spread_pct(quote)
    parts = score_quote(steps, quote.oi, spread, quote.delta, quote.iv, quote.ltp, spot)
    return StrikePick(contract=quote.contract, ltp=quote.ltp, bid=quote.bid, ask=quote.ask,
                      oi=quote.oi, iv=quote.iv, delta=quote.delta, spread_pct=spread,
                      steps_from_atm=steps, parts=parts, checks=checks)


# ---- scoring (0-210) ----------------------------------------------------------------------

MAX_SCORE = 210.0
# ATM preference by whole steps from ATM: 0 -> 100, 1 -> 80, 2 -> 50, 3+ -> 20.
_ATM_BY_STEPS = (100.0, 80.0, 50.0)
_ATM_FAR = 20.0
_ITM_FACTOR = 0.7
# (minimum OI, points), first match wins; below the last band (or unknown OI): 20.
_OI_BANDS = ((1_000_000, 50.0), (500_000, 40.0), (100_000, 30.0))
_OI_FLOOR = 20.0
# (spread above, factor); unknown spread gets the worst factor.
_SPREAD_PENALTIES = ((0.02, 0.8), (0.01, 0.9))
_DELTA_BANDS = ((0.5, 30.0), (0.4, 25.0), (0.3, 20.0))
_DELTA_FLOOR_POINTS = 10.0
# (low, high) inclusive IV windows, best first.
_IV_BANDS = (((0.15, 0.25), 20.0), ((0.10, 0.30), 15.0), ((0.05, 0.40), 10.0))
_IV_OUTSIDE = 5.0
# Premium per unit |delta| as a fraction of spot (index-independent: for NIFTY at 25,000 the
# limits are premium/delta 200, 300 and 500 points).
_EFFICIENCY_BANDS = ((0.008, 10.0), (0.012, 8.0), (0.020, 6.0))
_EFFICIENCY_WORST = 4.0


@dataclass(frozen=True)
class ScoreParts:
    """Sub-scores of one candidate; ``total`` is their sum (0-210)."""

    atm: float  # 0-100
    liquidity: float  # 0-50
    delta: float  # 0-30
    iv: float  # 0-20
    efficiency: float  # 0-10

    @property
    def total(self) -> float:
        return self.atm + self.liquidity + self.delta + self.iv + self.efficiency


def atm_score(steps_from_atm: int) -> float:
    """0-100 by whole steps from ATM: 100, 80, 50, then 20; in the money (negative steps)
    the same by distance x 0.7."""
    distance = abs(steps_from_atm)
    points = _ATM_BY_STEPS[distance] if distance < len(_ATM_BY_STEPS) else _ATM_FAR
    return points * _ITM_FACTOR if steps_from_atm < 0 else points


def liquidity_score(oi: int | None, spread: float | None) -> float:
    """0-50: OI >= 1,000,000 -> 50, >= 500,000 -> 40, >= 100,000 -> 30, else (or unknown) 20;
    times 0.8 when the spread is > 2% of mid (or unknown), 0.9 when > 1%."""
    # Plain loops, not next(generator): these run for every candidate of every signal bar.
    base = _OI_FLOOR
    if oi is not None:
        for least, points in _OI_BANDS:
            if oi >= least:
                base = points
                break
    if spread is None:
        return base * _SPREAD_PENALTIES[0][1]
    for above, factor in _SPREAD_PENALTIES:
        if spread > above + _EPS:
            return base * factor
    return base  # no penalty: factor 1.0


def delta_score(delta: float | None) -> float:
    """0-30: |delta| >= 0.5 -> 30, >= 0.4 -> 25, >= 0.3 -> 20, else (or unknown) 10."""
    if delta is None or not math.isfinite(delta):
        return _DELTA_FLOOR_POINTS
    size = abs(delta)
    for least, points in _DELTA_BANDS:
        if size >= least - _EPS:
            return points
    return _DELTA_FLOOR_POINTS


def iv_score(iv: float | None) -> float:
    """0-20: IV in 15-25% -> 20, 10-30% -> 15, 5-40% -> 10, else (or unknown) 5."""
    if iv is None or not math.isfinite(iv):
        return _IV_OUTSIDE
    for (low, high), points in _IV_BANDS:
        if low - _EPS <= iv <= high + _EPS:
            return points
    return _IV_OUTSIDE


def efficiency_score(ltp: float, delta: float | None, spot: float) -> float:
    """0-10 on premium per unit |delta| relative to spot, ``ltp / |delta| / spot``:
    <= 0.8% -> 10, <= 1.2% -> 8, <= 2% -> 6, else (or no delta) 4."""
    if delta is None or not math.isfinite(delta) or abs(delta) < _EPS or spot <= 0:
        return _EFFICIENCY_WORST
    ratio = ltp / abs(delta) / spot
    for most, points in _EFFICIENCY_BANDS:
        if ratio <= most + _EPS:
            return points
    return _EFFICIENCY_WORST


def score_quote(steps_from_atm: int, oi: int | None, spread: float | None,
                delta: float | None, iv: float | None, ltp: float, spot: float) -> ScoreParts:
    """All five sub-scores of a candidate (see the functions above for each formula)."""
    return ScoreParts(atm=atm_score(steps_from_atm), liquidity=liquidity_score(oi, spread),
                      delta=delta_score(delta), iv=iv_score(iv),
                      efficiency=efficiency_score(ltp, delta, spot))
