"""Black-76 option pricing on the forward, vectorised with numpy.

Used by the synthetic market (quotes) and by strike selection (local IV and greeks when the
data source gives none). Volatility is annualised in *trading* time: ``t_years`` comes from
:meth:`core.calendar.TradingCalendar.trading_years`. Theta is per trading day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

# Below this many years to expiry an option is treated as at expiry (intrinsic value).
MIN_T_YEARS = 1e-9
_TRADING_DAYS = 252.0
_SQRT_2PI = np.sqrt(2.0 * np.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class Greeks:
    delta: float
    gamma: float
    theta: float  # price change per trading day
    vega: float  # price change per 1.00 of volatility (divide by 100 for per vol point)


def _d1_d2(forward: ArrayLike, strike: ArrayLike, t: ArrayLike,
           vol: ArrayLike) -> tuple[NDArray, NDArray]:
    sig_sqrt_t = np.asarray(vol, dtype=float) * np.sqrt(np.asarray(t, dtype=float))
    d1 = (np.log(np.asarray(forward, dtype=float) / np.asarray(strike, dtype=float))
          + 0.5 * sig_sqrt_t**2) / sig_sqrt_t
    return d1, d1 - sig_sqrt_t


def price(forward: ArrayLike, strike: ArrayLike, t_years: ArrayLike, vol: ArrayLike,
          rate: float, is_call: ArrayLike) -> NDArray[np.float64]:
    """Discounted Black-76 price; at or past expiry it is the intrinsic value."""
    f, k, t, v = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in
                                       (forward, strike, t_years, vol)))
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), f.shape)
    live = (t > MIN_T_YEARS) & (v > 0)
    t_safe = np.where(live, t, 1.0)
    v_safe = np.where(live, v, 0.2)
    d1, d2 = _d1_d2(f, k, t_safe, v_safe)
    disc = np.exp(-rate * np.where(live, t, 0.0))
    call_px = disc * (f * ndtr(d1) - k * ndtr(d2))
    put_px = disc * (k * ndtr(-d2) - f * ndtr(-d1))
    model = np.where(call, call_px, put_px)
    intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
    return np.where(live, model, intrinsic)


def greeks(forward: float, strike: float, t_years: float, vol: float, rate: float,
           is_call: bool) -> Greeks:
    """Delta, gamma, theta (per trading day) and vega of one option."""
    if t_years <= MIN_T_YEARS or vol <= 0:
        itm = forward > strike if is_call else forward < strike
        return Greeks(delta=(1.0 if is_call else -1.0) if itm else 0.0, gamma=0.0, theta=0.0,
                      vega=0.0)
    d1, d2 = _d1_d2(np.float64(forward), np.float64(strike), np.float64(t_years),
                    np.float64(vol))
    disc = float(np.exp(-rate * t_years))
    pdf = float(np.exp(-0.5 * d1 * d1) / _SQRT_2PI)
    delta = disc * (float(ndtr(d1)) if is_call else float(ndtr(d1)) - 1.0)
    gamma = disc * pdf / (forward * vol * np.sqrt(t_years))
    vega = disc * forward * pdf * np.sqrt(t_years)
    value = float(price(forward, strike, t_years, vol, rate, is_call))
    theta_year = -disc * forward * pdf * vol / (2.0 * np.sqrt(t_years)) + rate * value
    return Greeks(delta=float(delta), gamma=float(gamma), theta=float(theta_year / _TRADING_DAYS),
                  vega=float(vega))


def _ndtr(x: float) -> float:
    """Standard normal CDF of one float (scipy's ``ndtr`` costs a microsecond a call)."""
    return 0.5 * math.erfc(-x * _INV_SQRT2)


def implied_vol(option_price: float, forward: float, strike: float, t_years: float,
                rate: float, is_call: bool, low: float = 1e-4, high: float = 5.0,
                tolerance: float = 1e-10) -> float:
    """The volatility that reprices ``option_price``; NaN when no volatility in
    ``[low, high]`` can.

    Safeguarded Newton: a Newton step on vega from a Brenner-Subrahmanyam start, falling
    back to bisection of the bracket whenever the step would leave it; it stops once
    ``|model - price| <= tolerance * max(price, 1)``, in a handful of steps. Plain float
    arithmetic: for the handful of options a strike choice needs, numpy's per-call overhead
    would cost more than the arithmetic.
    """
    if (not 0 < option_price < math.inf or t_years <= MIN_T_YEARS or not forward > 0
            or not strike > 0):
        return float("nan")
    sqrt_t = math.sqrt(t_years)
    log_fk = math.log(forward / strike)
    disc = math.exp(-rate * t_years)
    sign = 1.0 if is_call else -1.0

    def value(vol: float) -> tuple[float, float]:
        sig = vol * sqrt_t
        d1 = (log_fk + 0.5 * sig * sig) / sig
        legs = forward * _ndtr(sign * d1) - strike * _ndtr(sign * (d1 - sig))
        return disc * sign * legs, d1

    if value(low)[0] > option_price or value(high)[0] < option_price:
        return float("nan")
    limit = tolerance * max(option_price, 1.0)
    vol = min(max(math.sqrt(2 * math.pi / t_years) * option_price / forward, low), high)
    for _ in range(60):
        model, d1 = value(vol)
        error = model - option_price
        if abs(error) <= limit:
            break
        if error > 0:
            high = vol
        else:
            low = vol
        vega = disc * forward * math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI * sqrt_t
        # A vanishing vega (far from the money) or a step out of the bracket bisects.
        step = vol - error / vega if vega > 0 else low
        vol = step if low < step < high else 0.5 * (low + high)
    return vol


def delta(forward: float, strike: float, t_years: float, vol: float, rate: float,
          is_call: bool) -> float:
    """Discounted Black-76 delta of one option (``greeks(...).delta`` in float arithmetic)."""
    if t_years <= MIN_T_YEARS or vol <= 0:
        itm = forward > strike if is_call else forward < strike
        return (1.0 if is_call else -1.0) if itm else 0.0
    sig = vol * math.sqrt(t_years)
    d1 = (math.log(forward / strike) + 0.5 * sig * sig) / sig
    disc = math.exp(-rate * t_years)
    return disc * (_ndtr(d1) if is_call else _ndtr(d1) - 1.0)


def implied_vols(prices: ArrayLike, forward: float, strikes: ArrayLike, t_years: float,
                 rate: float, is_call: ArrayLike, low: float = 1e-4,
                 high: float = 5.0, tolerance: float = 1e-10) -> NDArray[np.float64]:
    """:func:`implied_vol` of many options (broadcast together), in the shape of ``prices``;
    NaN where no volatility in ``[low, high]`` reproduces the price.

    One scalar solve per option: the callers (an option-chain answer) solve a few dozen
    options at a time, where numpy's per-call overhead would cost more than the arithmetic.
    """
    px = np.asarray(prices, dtype=float)
    k = np.broadcast_to(np.asarray(strikes, dtype=float), px.shape)
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), px.shape)
    vols = [implied_vol(p, forward, s, t_years, rate, c, low, high, tolerance)
            for p, s, c in zip(px.ravel().tolist(), k.ravel().tolist(), call.ravel().tolist(),
                               strict=True)]
    return np.array(vols, dtype=np.float64).reshape(px.shape)


def implied_forward(call_price: float, put_price: float, strike: float, t_years: float,
                    rate: float) -> float:
    """Forward from put-call parity: C - P = e^{-rT} (F - K)."""
    return strike + (call_price - put_price) * float(np.exp(rate * t_years))
