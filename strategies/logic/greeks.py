"""Local implied volatility and delta for a chain snapshot whose source gives none.

The forward comes from put-call parity on the strike nearest spot that has both a call and a
put price (index options carry no dividend to guess; parity also absorbs the futures basis).
Each quote's IV is then implied from its mid (LTP when there is no two-sided quote) with
Black-76 on that forward, and its delta from that IV. Values already present are kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

from core import black76
from core.instruments import OptionType
from strategies.logic.types import ChainQuote, ChainSnapshot

log = logging.getLogger(__name__)


_INF = math.inf


def _positive(value: float | None) -> bool:
    # ``0 < v < inf`` is False for NaN and +inf: finite and positive in one test.
    return value is not None and 0 < value < _INF


def quote_mid(quote: ChainQuote) -> float | None:
    """Mid of a two-sided, uncrossed quote; None otherwise."""
    bid, ask = quote.bid, quote.ask
    if bid is None or ask is None or not (0 < bid < _INF and 0 < ask < _INF) or ask < bid:
        return None
    return 0.5 * (bid + ask)


def quote_price(quote: ChainQuote) -> float | None:
    """The price that best says what the option is worth now: mid, else LTP, else None."""
    mid = quote_mid(quote)
    if mid is not None:
        return mid
    return quote.ltp if _positive(quote.ltp) else None


def implied_forward_from_chain(snapshot: ChainSnapshot, t_years: float, rate: float) -> float:
    """Forward by put-call parity at the priced strike nearest spot.

    Falls back to ``spot * e^(rate * t)`` (logged) when no strike has both legs priced.
    Per strike and side the first priced quote in chain order counts; only the strikes
    nearest spot are priced (a chain has ~20 quotes and the nearest pair is usually priced).
    """
    legs: dict[float, tuple[list[ChainQuote], list[ChainQuote]]] = {}
    call_type = OptionType.CALL
    for quote in snapshot.quotes:
        strike = getattr(quote.contract, "strike", None)
        if strike is None:  # no contract: strike selection skips (and logs) such a quote
            continue
        calls, puts = legs.setdefault(strike, ([], []))
        (calls if quote.contract.option_type is call_type else puts).append(quote)
    spot = snapshot.spot
    for strike in sorted(legs, key=lambda k: (abs(k - spot), k)):
        calls, puts = legs[strike]
        call = _first_price(calls)
        put = None if call is None else _first_price(puts)
        if put is not None:
            return black76.implied_forward(call, put, strike, t_years, rate)
    log.info("%s %s: no strike with both call and put priced; forward from spot",
             snapshot.underlying, snapshot.at.isoformat())
    return spot * math.exp(rate * t_years)


def _first_price(quotes: list[ChainQuote]) -> float | None:
    return next((p for p in map(quote_price, quotes) if p is not None), None)


def enrich_chain(snapshot: ChainSnapshot, t_years: float, rate: float,
                 only: Callable[[ChainQuote], bool] | None = None) -> ChainSnapshot:
    """The snapshot with ``iv`` and ``delta`` filled wherever they are None.

    ``t_years`` is the time to expiry in trading years (the caller computes it with the
    trading calendar). A quote whose price no volatility can reproduce (below intrinsic, no
    price at all) keeps ``iv=None`` and, without an IV, ``delta=None``; strike selection then
    treats the datum as absent. ``only``: fill just the quotes it accepts (strike selection
    reads a few candidates of a ~20-quote chain); the forward still comes from the whole
    chain, and every other quote is returned unchanged.
    """
    if not math.isfinite(t_years) or t_years <= 0:
        raise ValueError(f"enrich_chain: t_years must be > 0, got {t_years!r}")
    if not math.isfinite(rate):
        raise ValueError(f"enrich_chain: rate must be finite, got {rate!r}")
    quotes = snapshot.quotes
    wanted = [i for i, q in enumerate(quotes) if (q.iv is None or q.delta is None)
              and (only is None or only(q))]
    if not wanted:
        return snapshot
    forward = implied_forward_from_chain(snapshot, t_years, rate)
    enriched = list(quotes)
    for i in wanted:
        enriched[i] = _enriched(quotes[i], quote_price(quotes[i]), forward, t_years, rate)
    return replace(snapshot, quotes=tuple(enriched))


def _enriched(quote: ChainQuote, price: float | None, forward: float, t_years: float,
              rate: float) -> ChainQuote:
    """The quote with its missing IV (from ``price``) and delta (from the IV) filled."""
    contract = quote.contract
    is_call = contract.option_type is OptionType.CALL
    iv = quote.iv
    if iv is None and price is not None:
        solved = black76.implied_vol(price, forward, contract.strike, t_years, rate, is_call)
        iv = solved if math.isfinite(solved) else None
    delta = quote.delta
    if delta is None and iv is not None and iv > 0:
        delta = black76.delta(forward, contract.strike, t_years, iv, rate, is_call)
    return _with_greeks(quote, iv, delta)


def _with_greeks(quote: ChainQuote, iv: float | None, delta: float | None) -> ChainQuote:
    """``replace(quote, iv=iv, delta=delta)`` at half the cost (a chain has ~20 quotes)."""
    if type(quote) is not ChainQuote:
        return replace(quote, iv=iv, delta=delta)
    return ChainQuote(quote.contract, quote.ltp, quote.bid, quote.ask, quote.bid_qty,
                      quote.ask_qty, quote.oi, iv, delta, quote.quote_ts)
