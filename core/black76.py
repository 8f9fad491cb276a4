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

    The scalar twin of :func:`implied_vols` (same bracket, start and safeguarded Newton
    step, same stopping rule ``|model - price| <= tolerance * max(price, 1)``), in plain
    float arithmetic: for the handful of options a strike choice needs, numpy's per-call
    overhead would cost more than the arithmetic. It stops as soon as this option has
    converged, so it may take fewer steps than the same option inside a joint solve.
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
    """:func:`implied_vol` for many options at once; NaN where no volatility in
    ``[low, high]`` reproduces the price.

    Safeguarded Newton: a Newton step on vega from a Brenner-Subrahmanyam start, falling
    back to bisection of the bracket whenever the step would leave it; converges in a
    handful of steps instead of bisection's ~45. Every option keeps stepping until all have
    converged (the options of one call share the step count).
    """
    px = np.asarray(prices, dtype=float)
    k = np.broadcast_to(np.asarray(strikes, dtype=float), px.shape)
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), px.shape)
    if t_years <= MIN_T_YEARS:
        return np.full(px.shape, np.nan)
    solver = _NewtonVols(px.ravel(), forward, k.ravel(), t_years, rate, call.ravel())
    return solver.solve(low, high, tolerance).reshape(px.shape)


class _NewtonVols:
    """The vectorised Newton/bisection of :func:`implied_vols` on preallocated buffers.

    The chains solved per bar are small (~20 options), so numpy's per-call overhead, not the
    arithmetic, is the cost: each step runs a fixed set of in-place ufunc calls. Every
    element sees exactly the operations, in exactly the order, of the plain formulas
    ``d1 = (log(F/K) + sig^2/2) / sig``, ``value = disc*sign*(F N(sign d1) - K N(sign d2))``,
    ``vega = disc*F*exp(-d1^2/2)/sqrt(2 pi)*sqrt(t)``, so the results are bit for bit those
    of the straightforward expression.
    """

    def __init__(self, px: NDArray, forward: float, k: NDArray, t_years: float, rate: float,
                 call: NDArray) -> None:
        n = px.size
        self.n = n
        self.px = px
        self.forward = forward
        self.t_years = t_years
        self.log_fk = np.log(forward / k)
        self.sqrt_t = np.sqrt(t_years)
        disc = np.exp(-rate * t_years)
        sign = np.where(call, 1.0, -1.0)
        self.disc_sign = disc * sign
        self.disc_forward = disc * forward
        self.sign2 = np.concatenate((sign, sign))
        self.coef2 = np.concatenate((np.full(n, forward), k))
        self.sig = np.empty(n)
        self.tmp = np.empty(n)
        self.value = np.empty(n)
        self.vega = np.empty(n)
        self.legs = np.empty(2 * n)
        # [sign*d1, sign*d2]: one ndtr call for both legs.
        self.d12 = np.empty(2 * n)

    def value_of(self, vol: NDArray) -> NDArray:
        """Model prices at ``vol`` into ``self.value``; leaves ``sign*d1`` in ``d12[:n]``."""
        n, sig, tmp, d12 = self.n, self.sig, self.tmp, self.d12
        np.multiply(vol, self.sqrt_t, out=sig)
        np.multiply(sig, 0.5, out=tmp)
        np.multiply(tmp, sig, out=tmp)
        np.add(self.log_fk, tmp, out=tmp)
        d1 = d12[:n]
        np.divide(tmp, sig, out=d1)
        np.subtract(d1, sig, out=d12[n:])
        np.multiply(d12, self.sign2, out=d12)
        legs = ndtr(d12, out=self.legs)
        np.multiply(legs, self.coef2, out=legs)
        np.subtract(legs[:n], legs[n:], out=tmp)
        np.multiply(self.disc_sign, tmp, out=self.value)
        return self.value

    def vega_at_last_value(self) -> NDArray:
        """Vega at the vol of the last :meth:`value_of` (``(sign d1)^2 = d1^2`` exactly)."""
        signed_d1, vega = self.d12[: self.n], self.vega
        np.multiply(signed_d1, -0.5, out=vega)
        np.multiply(vega, signed_d1, out=vega)
        np.exp(vega, out=vega)
        np.multiply(vega, self.disc_forward, out=vega)
        np.divide(vega, _SQRT_2PI, out=vega)
        np.multiply(vega, self.sqrt_t, out=vega)
        return vega

    def solve(self, low: float, high: float, tolerance: float) -> NDArray[np.float64]:
        px = self.px
        lo = np.full(self.n, low)
        hi = np.full(self.n, high)
        solvable = np.isfinite(px) & (px > 0) & (self.value_of(lo) <= px)
        solvable &= self.value_of(hi) >= px
        vol = np.clip(np.sqrt(2 * np.pi / self.t_years) * np.where(np.isfinite(px), px, 0)
                      / self.forward, low, high)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            vol = self._iterate(vol, lo, hi, ~solvable, tolerance * np.maximum(px, 1.0))
        return np.where(solvable, vol, np.nan)

    def _iterate(self, vol: NDArray, lo: NDArray, hi: NDArray, unsolvable: NDArray,
                 limit: NDArray) -> NDArray:
        n = self.n
        error, step, bisected = np.empty(n), np.empty(n), np.empty(n)
        done, above, below = np.empty(n, bool), np.empty(n, bool), np.empty(n, bool)
        for _ in range(60):
            np.subtract(self.value_of(vol), self.px, out=error)
            np.abs(error, out=step)
            np.less_equal(step, limit, out=done)
            np.logical_or(done, unsolvable, out=done)
            if b"\x00" not in done.tobytes():  # done.all(), at a fifth of the call cost
                break
            vega = self.vega_at_last_value()
            np.greater(error, 0, out=above)
            np.copyto(hi, vol, where=above)
            np.logical_not(above, out=below)
            np.copyto(lo, vol, where=below)
            # vega can vanish far from the money: the step is then not finite and fails
            # both bracket comparisons below, so that option bisects.
            np.divide(error, vega, out=step)
            np.subtract(vol, step, out=step)
            np.greater(step, lo, out=above)
            np.less(step, hi, out=below)
            np.logical_and(above, below, out=above)
            np.add(lo, hi, out=bisected)
            np.multiply(bisected, 0.5, out=bisected)
            np.copyto(bisected, step, where=above)
            vol, bisected = bisected, vol
        return vol


def implied_forward(call_price: float, put_price: float, strike: float, t_years: float,
                    rate: float) -> float:
    """Forward from put-call parity: C - P = e^{-rT} (F - K)."""
    return strike + (call_price - put_price) * float(np.exp(rate * t_years))
