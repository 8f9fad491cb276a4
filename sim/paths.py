"""Index price paths for the synthetic market: a seeded intraday model and a bridge through bars.

Both produce one price per tick on a fixed grid of ``sim.tick_seconds`` from 09:15:00 IST,
rounded to the index tick. The synthetic model (:func:`synthetic_path`) is a log-price walk with

- intraday U-shaped volatility (first ~90 minutes and the last half hour busier than midday,
  shaped after NIFTY 1m bars of 2024: the first 15 minutes ~1.7x midday, the last ~1.2x);
- regimes of about ``sim.regime_minutes``: a *trend* regime (probability
  ``sim.trend_probability``) drifts up or down by ``sim.trend_strength`` times the regime's own
  standard deviation; a *chop* regime is an Ornstein-Uhlenbeck walk around its opening level;
- rare jumps (Poisson, ``sim.jump_per_day`` a day, log size N(0, ``sim.jump_size_sigma``)).

:func:`bridge_path` threads a path through real 1m OHLC bars: open at the bar's first tick,
high and low touched at random ticks in random order, close at its last tick.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.signal import lfilter

from core.calendar import SESSION_MINUTES, TRADING_DAYS_PER_YEAR, TradingCalendar
from core.clock import NS_PER_SECOND, ns_from_utc
from core.config import IndexConfig, SimConfig
from core.errors import ConfigError

# U-shape of intraday volatility: w(u) = 1 + OPEN_BOOST e^{-u/OPEN_DECAY}
# + CLOSE_BOOST e^{-(1-u)/CLOSE_DECAY}, u = fraction of the session elapsed.
OPEN_BOOST, OPEN_DECAY = 1.0, 0.13
CLOSE_BOOST, CLOSE_DECAY = 0.3, 0.08
# A chop regime reverts to its opening level with this half-life (fraction of the regime).
CHOP_HALF_LIFE = 0.15
# Size of a bar's within-minute wander around the straight line, relative to its range.
BRIDGE_NOISE = 0.5
# Regime lengths are uniform in [1 - SPREAD, 1 + SPREAD] x sim.regime_minutes.
REGIME_LENGTH_SPREAD = 0.5
# Standalone level: base_level x exp(a1 sin(2 pi d / p1 + phi1) + a2 sin(2 pi d / p2 + phi2)).
LEVEL_WAVES = ((0.06, 365.25), (0.025, 47.0))


def day_rng(sim: SimConfig, underlying: str, day: date, purpose: str) -> np.random.Generator:
    """A generator seeded from (seed, underlying, day, purpose): days reproduce independently."""
    keys = [sim.seed % 2**63, stable_hash(underlying), day.toordinal(), stable_hash(purpose)]
    return np.random.default_rng(np.random.SeedSequence(keys))


def stable_hash(text: str) -> int:
    """A 63-bit hash of ``text`` that is the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def tick_grid(calendar: TradingCalendar, day: date, tick_seconds: float) -> np.ndarray:
    """Tick instants (int64 ns UTC) from the open, every ``tick_seconds``, before the close."""
    open_utc, close_utc = calendar.session_bounds(day)
    step = round(tick_seconds * NS_PER_SECOND)
    start, end = ns_from_utc(open_utc), ns_from_utc(close_utc)
    return np.arange(start, end, step, dtype=np.int64)


def round_to_tick(values: np.ndarray, tick: float) -> np.ndarray:
    """Values on the ``tick`` grid, written with as few decimals as the tick needs."""
    return np.round(np.round(values / tick) * tick, tick_decimals(tick))


def tick_decimals(tick: float) -> int:
    """Decimals needed to write multiples of ``tick`` exactly (0.05 -> 2)."""
    for decimals in range(10):
        if abs(round(tick, decimals) - tick) < 1e-12:
            return decimals
    return 10


def standalone_level(index: IndexConfig, sim: SimConfig, day: date) -> float:
    """A deterministic opening level for a day simulated without a previous close.

    Slow waves around ``index.base_level`` (within about +-9%) so that neighbouring standalone
    days, e.g. warm-up sessions, open at plausible, nearby levels.
    """
    phase_rng = np.random.default_rng([sim.seed % 2**63, stable_hash(index.name)])
    phases = phase_rng.uniform(0.0, 2.0 * np.pi, size=len(LEVEL_WAVES))
    x = sum(amp * np.sin(2.0 * np.pi * day.toordinal() / period + phase)
            for (amp, period), phase in zip(LEVEL_WAVES, phases, strict=True))
    return float(index.base_level * np.exp(x))


def intraday_vol_weights(n_ticks: int) -> np.ndarray:
    """Relative per-tick volatility, U-shaped over the session, with mean square 1."""
    u = (np.arange(n_ticks) + 0.5) / n_ticks
    w = 1.0 + OPEN_BOOST * np.exp(-u / OPEN_DECAY) + CLOSE_BOOST * np.exp(-(1.0 - u) / CLOSE_DECAY)
    return w / np.sqrt(np.mean(w * w))


@dataclass(frozen=True)
class Regime:
    """Ticks ``[start, stop)`` of the day; ``direction`` +1/-1 for a trend, 0 for chop."""

    start: int
    stop: int
    direction: int


def draw_regimes(sim: SimConfig, n_ticks: int, rng: np.random.Generator) -> list[Regime]:
    """Consecutive regimes covering the day, each trending (up or down) or choppy."""
    ticks_per_minute = 60.0 / sim.tick_seconds
    regimes: list[Regime] = []
    start = 0
    while start < n_ticks:
        minutes = sim.regime_minutes * rng.uniform(1 - REGIME_LENGTH_SPREAD,
                                                   1 + REGIME_LENGTH_SPREAD)
        stop = min(n_ticks, start + max(1, round(minutes * ticks_per_minute)))
        trending = rng.random() < sim.trend_probability
        direction = int(rng.choice((-1, 1))) if trending else 0
        regimes.append(Regime(start, stop, direction))
        start = stop
    return regimes


def synthetic_path(index: IndexConfig, sim: SimConfig, n_ticks: int, start_level: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, list[Regime]]:
    """Index prices (rounded to the index tick) for ``n_ticks`` ticks from ``start_level``,
    and the regimes the day went through."""
    day_sigma = index.annual_vol / np.sqrt(TRADING_DAYS_PER_YEAR)
    session_ticks = SESSION_MINUTES * 60.0 / sim.tick_seconds
    sigma = day_sigma / np.sqrt(session_ticks) * intraday_vol_weights(n_ticks)
    shocks = sigma * rng.standard_normal(n_ticks)
    log_path = np.empty(n_ticks)
    level = 0.0
    regimes = draw_regimes(sim, n_ticks, rng)
    for regime in regimes:
        part = slice(regime.start, regime.stop)
        log_path[part] = level + _regime_moves(regime, shocks[part], sigma[part],
                                               sim.trend_strength)
        level = log_path[regime.stop - 1]
    log_path += np.cumsum(_jumps(sim, n_ticks, rng))
    log_path -= log_path[0]  # the first tick is the start level itself
    return round_to_tick(start_level * np.exp(log_path), index.tick_size), regimes


def _regime_moves(regime: Regime, shocks: np.ndarray, sigma: np.ndarray,
                  strength: float) -> np.ndarray:
    """Log moves within one regime relative to its opening level."""
    n = shocks.size
    if regime.direction:
        # The drift adds up to ``strength`` standard deviations of the regime's own noise.
        drift = regime.direction * strength * np.sqrt(np.sum(sigma * sigma)) / n
        return np.cumsum(shocks + drift)
    keep = np.exp(-np.log(2.0) / max(1.0, CHOP_HALF_LIFE * n))
    # AR(1) deviation from the opening level: d_t = keep * d_{t-1} + shock_t.
    return lfilter([1.0], [1.0, -keep], shocks)


def _jumps(sim: SimConfig, n_ticks: int, rng: np.random.Generator) -> np.ndarray:
    jumps = np.zeros(n_ticks)
    count = rng.poisson(sim.jump_per_day * n_ticks * sim.tick_seconds / (SESSION_MINUTES * 60))
    if count:
        at = rng.integers(1, max(2, n_ticks), size=count)
        np.add.at(jumps, at, rng.normal(0.0, sim.jump_size_sigma, size=count))
    return jumps


@dataclass(frozen=True)
class Bars:
    """One day's 1m bars of one instrument (ts = bar start, int64 ns UTC), sorted by ts."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def bridge_path(bars: Bars, ticks_per_bar: int, tick_seconds: float, tick: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tick instants and prices through every bar: O first, H and L at random ticks, C last.

    Each bar is a Brownian bridge through its four knots (high before low or after, at
    random), clipped to [low, high] and rounded to ``tick``; the knots keep the bar's exact
    values. Vectorised over all bars at once.
    """
    n, m = bars.ts.size, ticks_per_bar
    picks = np.sort(rng.random((n, m - 2)).argsort(axis=1)[:, :2] + 1, axis=1)
    high_first = rng.random(n) < 0.5
    knot_pos = np.column_stack([np.zeros(n, np.int64), picks, np.full(n, m - 1)])
    knot_val = np.column_stack([bars.open, np.where(high_first, bars.high, bars.low),
                                np.where(high_first, bars.low, bars.high), bars.close])
    k = np.arange(m)[None, :]
    seg = np.minimum((k >= picks[:, :1]).astype(np.int64) + (k >= picks[:, 1:]), 2)
    left_pos, right_pos = (np.take_along_axis(knot_pos, s, 1) for s in (seg, seg + 1))
    left_val, right_val = (np.take_along_axis(knot_val, s, 1) for s in (seg, seg + 1))
    frac = (k - left_pos) / (right_pos - left_pos)
    walk = np.cumsum(rng.standard_normal((n, m)), axis=1)
    w_left, w_right = (np.take_along_axis(walk, p, 1) for p in (left_pos, right_pos))
    noise = (walk - w_left - frac * (w_right - w_left)) * (
        BRIDGE_NOISE * (bars.high - bars.low)[:, None] / np.sqrt(m))
    path = round_to_tick(left_val + frac * (right_val - left_val) + noise, tick)
    path = np.clip(path, bars.low[:, None], bars.high[:, None])
    np.put_along_axis(path, knot_pos, knot_val, axis=1)
    step = round(tick_seconds * NS_PER_SECOND)
    ts = bars.ts[:, None] + np.arange(m, dtype=np.int64)[None, :] * step
    return ts.ravel(), path.ravel()


def require_ticks_per_bar(sim: SimConfig) -> int:
    """Ticks in one 1m bar; the bridge needs four (open, high, low, close)."""
    per_bar = 60.0 / sim.tick_seconds
    if per_bar < 4 or abs(per_bar - round(per_bar)) > 1e-9:
        raise ConfigError(f"sim.tick_seconds={sim.tick_seconds}: a path through 1m bars needs a "
                          "whole number of at least 4 ticks per minute (tick_seconds <= 15)")
    return round(per_bar)
