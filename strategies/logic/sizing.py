"""Position sizing by capital band, in whole lots.

For the day's available balance the band gives an allocation % and a risk-per-trade %:
``lots_by_alloc = floor(balance * alloc / (price * lot))``,
``lots_by_risk = floor(balance * risk / (price * sl_pct * lot))`` with the stop-loss fraction
the exits use, ``lots = min(both, max_lots)``, then reduced until the lots' cost plus the
estimated charges fits in the allocation. Zero lots means no trade: never rounded up to one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import ConfigError

# Ratios are floored after adding this, so 2.9999999999999996 (float noise for an exact 3)
# counts as 3 lots.
_FLOOR_EPS = 1e-9


@dataclass(frozen=True)
class SizingBand:
    """Balances up to ``up_to`` (inclusive; None = no upper bound) use these percentages."""

    up_to: float | None
    alloc_pct: float
    risk_pct: float


DEFAULT_BANDS: tuple[SizingBand, ...] = (
    SizingBand(75_000.0, 0.30, 0.050),
    SizingBand(150_000.0, 0.25, 0.035),
    SizingBand(300_000.0, 0.20, 0.030),
    SizingBand(None, 0.20, 0.025),
)


@dataclass(frozen=True)
class SizingParams:
    """Bands (ascending ``up_to``, only the last may be unbounded), the exits' ``sl_pct``,
    and the cap on lots per entry."""

    bands: tuple[SizingBand, ...] = DEFAULT_BANDS
    sl_pct: float = 0.30
    max_lots: int = 10

    def __post_init__(self) -> None:
        if not self.bands:
            raise ConfigError("sizing bands are empty")
        limits = [b.up_to for b in self.bands]
        finite = [v for v in limits if v is not None]
        bad_order = any(a >= b for a, b in zip(finite, finite[1:], strict=False))
        if None in limits[:-1] or bad_order:
            raise ConfigError("sizing bands: up_to must increase; only the last may be None")
        for band in self.bands:
            if not (0 < band.alloc_pct <= 1 and 0 < band.risk_pct <= 1):
                raise ConfigError(f"sizing band {band}: alloc_pct and risk_pct in (0, 1]")
        if not 0 < self.sl_pct < 1:
            raise ConfigError(f"sl_pct={self.sl_pct}: must be in (0, 1)")
        if self.max_lots < 1:
            raise ConfigError(f"max_lots={self.max_lots}: must be >= 1")


@dataclass(frozen=True)
class SizingResult:
    lots: int
    quantity: int  # lots x lot size: what the order sends
    band: SizingBand | None
    lots_by_alloc: int
    lots_by_risk: int
    reason: str
    allocation: float = 0.0  # rupees the band allows for this entry
    risk_budget: float = 0.0  # rupees the band allows to lose at the stop


def band_for(balance: float, bands: tuple[SizingBand, ...]) -> SizingBand | None:
    """The first band whose ``up_to`` is >= balance (inclusive), or the unbounded one."""
    return next((b for b in bands if b.up_to is None or balance <= b.up_to), None)


def size_position(balance: float, price: float, lot_size: int, params: SizingParams,
                  est_charges_per_lot: float = 0.0, est_charges_fixed: float = 0.0
                  ) -> SizingResult:
    """Lots to buy at ``price`` with ``balance`` available; zero lots carries the reason.

    Affordability: ``lots * (price * lot_size + est_charges_per_lot) + est_charges_fixed``
    must not exceed the allocation (use ``est_charges_fixed`` for per-order flat fees such as
    brokerage, the per-lot figure for the proportional ones).
    """
    problem = _input_problem(balance, price, lot_size, est_charges_per_lot, est_charges_fixed)
    if problem:
        return SizingResult(0, 0, None, 0, 0, problem)
    band = band_for(balance, params.bands)
    if band is None:
        return SizingResult(0, 0, None, 0, 0, f"no sizing band covers balance {balance:.2f}")
    allocation = balance * band.alloc_pct
    risk_budget = balance * band.risk_pct
    lot_cost = price * lot_size
    by_alloc = math.floor(allocation / lot_cost + _FLOOR_EPS)
    by_risk = math.floor(risk_budget / (lot_cost * params.sl_pct) + _FLOOR_EPS)
    lots = min(by_alloc, by_risk, params.max_lots)

    def cost(n: int) -> float:
        return n * (lot_cost + est_charges_per_lot) + est_charges_fixed

    while lots > 0 and cost(lots) > allocation + _FLOOR_EPS:
        lots -= 1
    reason = _explain(lots, by_alloc, by_risk, params.max_lots, cost(max(lots, 1)), allocation)
    return SizingResult(lots, lots * lot_size, band, by_alloc, by_risk, reason,
                        allocation, risk_budget)


def _input_problem(balance: float, price: float, lot_size: int, per_lot: float,
                   fixed: float) -> str:
    if not (math.isfinite(balance) and balance > 0):
        return f"balance {balance!r} is not > 0"
    if not (math.isfinite(price) and price > 0):
        return f"price {price!r} is not > 0"
    if lot_size <= 0:
        return f"lot size {lot_size!r} is not > 0"
    if not (math.isfinite(per_lot) and per_lot >= 0 and math.isfinite(fixed) and fixed >= 0):
        return f"estimated charges {per_lot!r}/lot + {fixed!r} are not >= 0"
    return ""


def _explain(lots: int, by_alloc: int, by_risk: int, max_lots: int, cost: float,
             allocation: float) -> str:
    limits = f"alloc {by_alloc}, risk {by_risk}, cap {max_lots}"
    if lots > 0:
        return f"{lots} lots ({limits})"
    if min(by_alloc, by_risk) > 0:
        return (f"zero lots: 1 lot with charges costs {cost:.2f} > allocation "
                f"{allocation:.2f} ({limits})")
    return f"zero lots: {limits}"
