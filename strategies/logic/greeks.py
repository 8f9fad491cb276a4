"""Local implied volatility and delta for a chain snapshot whose source gives none.

The forward comes from put-call parity on the strike nearest spot that has both a call and a
put price (index options carry no dividend to guess; parity also absorbs the futures basis).
Each quote's IV is then implied from its mid (LTP when there is no two-sided quote) with
Black-76 on that forward, and its delta from that IV. Values already present are kept.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

from core import black76
from core.instruments import OptionType
from strategies.logic.types import ChainQuote, ChainSnapshot

log = logging.getLogger(__name__)


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def quote_mid(quote: ChainQuote) -> float | None:
    """Mid of a two-sided, uncrossed quote; None otherwise."""
    bid, ask = quote.bid, quote.ask
    if bid is None or ask is None or not (_positive(bid) and _positive(ask)) or ask < bid:
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
    """
    calls: dict[float, float] = {}
    puts: dict[float, float] = {}
    for quote in snapshot.quotes:
        value = quote_price(quote)
        if value is None:
            continue
        side = calls if quote.contract.option_type is OptionType.CALL else puts
        side.setdefault(quote.contract.strike, value)
    paired = sorted(set(calls) & set(puts), key=lambda k: (abs(k - snapshot.spot), k))
    if not paired:
        log.info("%s %s: no strike with both call and put priced; forward from spot",
                 snapshot.underlying, snapshot.at.isoformat())
        return snapshot.spot * math.exp(rate * t_years)
    strike = paired[0]
    return black76.implied_forward(calls[strike], puts[strike], strike, t_years, rate)


def enrich_chain(snapshot: ChainSnapshot, t_years: float, rate: float) -> ChainSnapshot:
    """The snapshot with ``iv`` and ``delta`` filled wherever they are None.

    ``t_years`` is the time to expiry in trading years (the caller computes it with the
    trading calendar). A quote whose price no volatility can reproduce (below intrinsic, no
    price at all) keeps ``iv=None`` and, without an IV, ``delta=None``; strike selection then
    treats the datum as absent.
    """
    if not math.isfinite(t_years) or t_years <= 0:
        raise ValueError(f"enrich_chain: t_years must be > 0, got {t_years!r}")
    if not math.isfinite(rate):
        raise ValueError(f"enrich_chain: rate must be finite, got {rate!r}")
    if all(q.iv is not None and q.delta is not None for q in snapshot.quotes):
        return snapshot
    forward = implied_forward_from_chain(snapshot, t_years, rate)
    solved = _solve_missing_ivs(snapshot.quotes, forward, t_years, rate)
    solved_deltas = _missing_deltas(snapshot.quotes, solved, forward, t_years, rate)
    quotes = tuple(q if q.iv is not None and q.delta is not None
                   else replace(q, iv=iv, delta=delta)
                   for q, iv, delta in zip(snapshot.quotes, solved, solved_deltas, strict=True))
    return replace(snapshot, quotes=quotes)


def _missing_deltas(quotes: tuple[ChainQuote, ...], ivs: list[float | None], forward: float,
                    t_years: float, rate: float) -> list[float | None]:
    """Deltas for the quotes that lack one but have a positive IV, in one vectorised call."""
    out: list[float | None] = [q.delta for q in quotes]
    known = {i: iv for i, iv in enumerate(ivs) if iv is not None and iv > 0}
    wanted = [i for i, q in enumerate(quotes) if q.delta is None and i in known]
    if not wanted:
        return out
    values = black76.deltas(forward, [quotes[i].contract.strike for i in wanted], t_years,
                            [known[i] for i in wanted], rate,
                            [quotes[i].contract.option_type is OptionType.CALL for i in wanted])
    for i, value in zip(wanted, values, strict=True):
        out[i] = float(value)
    return out


def _solve_missing_ivs(quotes: tuple[ChainQuote, ...], forward: float, t_years: float,
                       rate: float) -> list[float | None]:
    """Implied vols for the quotes that lack one, in one vectorised solve."""
    prices = {i: price for i, q in enumerate(quotes)
              if q.iv is None and (price := quote_price(q)) is not None}
    wanted = sorted(prices)
    out: list[float | None] = [q.iv for q in quotes]
    if not wanted:
        return out
    vols = black76.implied_vols(
        [prices[i] for i in wanted], forward, [quotes[i].contract.strike for i in wanted],
        t_years, rate, [quotes[i].contract.option_type is OptionType.CALL for i in wanted])
    for i, vol in zip(wanted, vols, strict=True):
        out[i] = float(vol) if math.isfinite(vol) else None
    return out
