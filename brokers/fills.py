"""Fill model shared by backtest, replay and paper (DESIGN section 7). Pure: ``now`` comes in.

Quote mode (bid/ask known):
- A BUY takes the ask, a SELL hits the bid, moved ``slippage_ticks`` against the order; a
  sell never fills below one tick. No usable touch (None, NaN, <= 0) -> no fill (``None``).
- Prices snap to the tick *against* the order (a buy up, a sell down), which changes
  nothing for exchange quotes (always on the tick) and is the safe side for model quotes.
- With ``cap_by_top_qty`` the filled quantity is capped by the touch quantity when known
  (None/NaN/<= 0 means unknown: no cap); the rest is ``Fill.remaining`` (a partial fill).
- With ``price_protection_pct`` a market order is what Dhan sends since March 2026: a limit
  at ``ltp x (1 +/- band)`` (a buy band rounded down to the tick, a sell band up). It fills
  only if the touch is inside the band; otherwise ``None`` and the caller keeps it pending.
- Limit orders fill when the touch crosses the limit, at the better of the two (slippage
  still applies but never past the limit); a *resting* limit that the market later crosses
  fills at its own limit price.

Latency: an order sent at ``t`` is filled against the first quote at or after
``t + latency_ms`` (:func:`fill_time`, :func:`first_quote_at_or_after`).

Bar mode (1m OHLC of trades, no bid/ask), see :func:`fill_on_bar` and
:func:`bar_exit_price`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeGuard, overload

import numpy as np

from core.clock import ensure_utc, ns_from_utc
from core.errors import MalformedDataError

if TYPE_CHECKING:
    from core.config import BrokerConfig

Side = Literal["BUY", "SELL"]
ExitReason = Literal["stop", "target"]

_TICK_EPSILON = 1e-6  # in ticks: absorbs float noise such as 100.05 / 0.05 = 2000.9999999


@dataclass(frozen=True)
class FillParams:
    """How orders fill; built from ``broker`` config plus the contract's tick size."""

    latency_ms: float = 0.0
    slippage_ticks: int = 0
    tick_size: float = 0.05
    cap_by_top_qty: bool = True
    price_protection_pct: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tick_size) and self.tick_size > 0):
            raise ValueError(f"tick_size must be > 0, got {self.tick_size}")
        if not self.latency_ms >= 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.slippage_ticks < 0:
            raise ValueError(f"slippage_ticks must be >= 0, got {self.slippage_ticks}")
        band = self.price_protection_pct
        if band is not None and not 0 < band < 1:
            raise ValueError(f"price_protection_pct must be in (0, 1) or None, got {band}")

    @classmethod
    def from_config(cls, broker: BrokerConfig, tick_size: float) -> FillParams:
        """Fill parameters of ``broker`` config for a contract with ``tick_size``."""
        return cls(latency_ms=broker.latency_ms, slippage_ticks=broker.slippage_ticks,
                   tick_size=tick_size, cap_by_top_qty=broker.cap_by_top_qty,
                   price_protection_pct=broker.price_protection_pct)


@dataclass(frozen=True)
class Quote:
    """Top of book at ``ts_ns`` (UTC epoch nanoseconds); None or NaN where unknown."""

    ts_ns: int
    ltp: float | None = None
    bid: float | None = None
    ask: float | None = None
    bid_qty: float | None = None
    ask_qty: float | None = None


@dataclass(frozen=True)
class Fill:
    """An execution: ``quantity`` at ``price``; ``remaining`` is still open (partial fill)."""

    price: float
    quantity: int
    remaining: int

    @property
    def partial(self) -> bool:
        return self.remaining > 0


@dataclass(frozen=True)
class BarExit:
    """A stop or target exit found inside a bar, at ``price``."""

    price: float
    reason: ExitReason


def fill_market(side: Side, quantity: int, quote: Quote, params: FillParams) -> Fill | None:
    """Fill a market order against ``quote``; None = no fill now (no quote, or MPP rest)."""
    _check_order(side, quantity)
    if params.price_protection_pct is None:
        touch = _touch(side, quote)
        if touch is None:
            return None
        return _fill(side, quantity, _slipped(side, touch, params), quote, params)
    if not _known(quote.ltp):
        return None  # no LTP, no band: Dhan's converted order cannot be priced yet
    band = params.price_protection_pct
    if side == "BUY":
        limit = round_to_tick(quote.ltp * (1 + band), params.tick_size, "down")
    else:
        limit = round_to_tick(quote.ltp * (1 - band), params.tick_size, "up")
    return fill_limit(side, quantity, limit, quote, params)


def fill_limit(side: Side, quantity: int, limit_price: float, quote: Quote,
               params: FillParams, *, resting: bool = False) -> Fill | None:
    """Fill a limit order if the touch crosses ``limit_price``, else None (it rests).

    An incoming order fills at the better of limit and touch (plus slippage, never past
    the limit). ``resting=True`` is an order already in the book that the market has since
    crossed: it fills at its own limit.
    """
    _check_order(side, quantity)
    if not _known(limit_price):
        raise ValueError(f"limit price must be > 0, got {limit_price}")
    # An off-tick limit snaps to the tick on the side that keeps its promise.
    limit = round_to_tick(limit_price, params.tick_size, "down" if side == "BUY" else "up")
    touch = _touch(side, quote)
    if touch is None:
        return None
    if side == "BUY":
        if touch > limit:
            return None
        price = limit if resting else min(_slipped(side, touch, params), limit)
    else:
        if touch < limit:
            return None
        price = limit if resting else max(_slipped(side, touch, params), limit)
    return _fill(side, quantity, price, quote, params)


@overload
def fill_time(order_time: datetime, params: FillParams) -> datetime: ...
@overload
def fill_time(order_time: int, params: FillParams) -> int: ...


def fill_time(order_time: datetime | int, params: FillParams) -> datetime | int:
    """When an order sent at ``order_time`` reaches the market: ``+ latency_ms``.

    A tz-aware datetime gives a UTC datetime; integer epoch nanoseconds give nanoseconds.
    """
    if isinstance(order_time, datetime):
        return ensure_utc(order_time) + timedelta(milliseconds=params.latency_ms)
    return int(order_time) + round(params.latency_ms * 1_000_000)


def first_quote_at_or_after(ts_array: np.ndarray, t: datetime | int) -> int | None:
    """Index of the first timestamp ``>= t`` in sorted ``ts_array``; None if none is.

    ``ts_array`` holds UTC epoch nanoseconds (int64) or ``datetime64``; it must be sorted
    ascending (catalog files are), which is not re-checked on every call.
    """
    target = ns_from_utc(t) if isinstance(t, datetime) else int(t)
    stamps = np.asarray(ts_array)
    if stamps.dtype.kind == "M":
        stamps = stamps.astype("datetime64[ns]").view("int64")
    position = int(np.searchsorted(stamps, target, side="left"))
    return position if position < len(stamps) else None


def fill_quote_index(ts_array: np.ndarray, order_time: datetime | int,
                     params: FillParams) -> int | None:
    """Index of the quote an order sent at ``order_time`` fills against (after latency)."""
    return first_quote_at_or_after(ts_array, fill_time(order_time, params))


def fill_on_bar(side: Side, quantity: int, bar_open: float, bar_high: float,
                bar_low: float, bar_close: float, params: FillParams,
                half_spread_ticks: int) -> Fill | None:
    """Fill a market order on 1m bars (no bid/ask known).

    Rule: an order decided at a bar's close fills at the *next* bar's open (the bar passed
    here), a buy ``half_spread_ticks + slippage_ticks`` ticks above it, a sell as many below
    (never below one tick). The whole quantity fills (no book to cap it); the price
    protection band is not modelled on bars. No open (None/NaN/<= 0) -> None.
    """
    _check_order(side, quantity)
    if half_spread_ticks < 0:
        raise ValueError(f"half_spread_ticks must be >= 0, got {half_spread_ticks}")
    if not _known(bar_open):
        return None
    _check_bar(bar_open, bar_high, bar_low, bar_close)
    ticks = half_spread_ticks + params.slippage_ticks
    price = _moved(side, bar_open, ticks, params.tick_size)
    return Fill(price=price, quantity=quantity, remaining=0)


def bar_exit_price(bar_open: float, bar_high: float, bar_low: float, stop: float | None,
                   target: float | None, params: FillParams,
                   half_spread_ticks: int = 0) -> BarExit | None:
    """Where a long option position exits inside one 1m bar, if it does.

    Rules (levels snap to the first tick that meets them: a stop down, a target up):
    - gap: the bar opens at or beyond a level -> exit at the open (stop checked first);
    - only the stop is inside [low, high] -> at the stop; only the target -> at the target;
    - both inside the same bar -> the stop (pessimistic: the path is unknown).
    ``stop`` is the level in force at the bar's open: update a trailing high-water mark with
    this bar's high only after calling this. The exit is a sell at the bid, so the price is
    then moved ``half_spread_ticks + slippage_ticks`` down (never below one tick).
    """
    if half_spread_ticks < 0:
        raise ValueError(f"half_spread_ticks must be >= 0, got {half_spread_ticks}")
    if not (_known(bar_open) and _known(bar_high) and _known(bar_low)):
        return None
    _check_bar(bar_open, bar_high, bar_low, None)
    tick = params.tick_size
    stop_px = round_to_tick(stop, tick, "down") if _known(stop) else None
    target_px = round_to_tick(target, tick, "up") if _known(target) else None
    found: BarExit | None = None
    if stop_px is not None and bar_open <= stop_px:
        found = BarExit(bar_open, "stop")
    elif target_px is not None and bar_open >= target_px:
        found = BarExit(bar_open, "target")
    elif stop_px is not None and bar_low <= stop_px:
        found = BarExit(stop_px, "stop")
    elif target_px is not None and bar_high >= target_px:
        found = BarExit(target_px, "target")
    if found is None:
        return None
    ticks = half_spread_ticks + params.slippage_ticks
    return BarExit(_moved("SELL", found.price, ticks, tick), found.reason)


def round_to_tick(price: float, tick_size: float,
                  mode: Literal["nearest", "up", "down"] = "nearest") -> float:
    """``price`` on the tick grid; ``up``/``down`` ignore float noise below 1e-6 tick."""
    ticks = price / tick_size
    if mode == "up":
        count = math.ceil(ticks - _TICK_EPSILON)
    elif mode == "down":
        count = math.floor(ticks + _TICK_EPSILON)
    else:
        count = math.floor(ticks + 0.5)
    return _clean(count * tick_size)


def _fill(side: Side, quantity: int, price: float, quote: Quote,
          params: FillParams) -> Fill:
    top = quote.ask_qty if side == "BUY" else quote.bid_qty
    filled = quantity
    if params.cap_by_top_qty and _known(top):
        filled = min(quantity, max(1, int(top)))
    return Fill(price=price, quantity=filled, remaining=quantity - filled)


def _slipped(side: Side, touch: float, params: FillParams) -> float:
    return _moved(side, touch, params.slippage_ticks, params.tick_size)


def _moved(side: Side, price: float, ticks: int, tick_size: float) -> float:
    """``price`` moved ``ticks`` against a ``side`` order, on the tick, a sell >= one tick."""
    if side == "BUY":
        return round_to_tick(price + ticks * tick_size, tick_size, "up")
    moved = round_to_tick(price - ticks * tick_size, tick_size, "down")
    return max(moved, _clean(tick_size))


def _touch(side: Side, quote: Quote) -> float | None:
    touch = quote.ask if side == "BUY" else quote.bid
    return touch if _known(touch) else None


def _known(value: float | None) -> TypeGuard[float]:
    """A usable price or size: present, finite and positive."""
    return value is not None and math.isfinite(value) and value > 0


def _clean(price: float) -> float:
    return round(price, 8)


def _check_order(side: str, quantity: int) -> None:
    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be 'BUY' or 'SELL', got {side!r}")
    if int(quantity) != quantity or quantity <= 0:
        raise ValueError(f"quantity must be a positive whole number, got {quantity}")


def _check_bar(bar_open: float, high: float, low: float, close: float | None) -> None:
    inside = [p for p in (bar_open, close) if p is not None and math.isfinite(p)]
    if high < low or any(p > high or p < low for p in inside):
        raise MalformedDataError(
            f"bad OHLC bar: open={bar_open} high={high} low={low} close={close}")
