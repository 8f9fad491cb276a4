"""The synthetic option chain of a day: contracts, then quotes along an index path.

Pricing convention (what a local IV solver must assume to get the model's IV back):
Black-76 on the forward ``F = S * exp(r * T)`` (no dividends), discounted by ``exp(-r * T)``,
so put-call parity reads ``C - P = exp(-r T) (F - K)`` and
:func:`core.black76.implied_forward` on a CE/PE pair recovers ``F``. ``T`` is trading time
(:meth:`core.calendar.TradingCalendar.trading_years` at the tick), ``r`` is
``sim.risk_free_rate``.

Volatility: ``iv = atm(t) * (1 + sim.smile_curvature * m^2 + sim.smile_skew * m)`` with
``m = log(K/F) / (sqrt(T) + SMILE_EPS)`` clipped to +-SMILE_M_MAX. ``atm(t)`` is
``sim.iv_level`` times a day factor, a slow intraday wander and a spot-vol term (IV rises
when the index falls).

Quotes are produced only where a contract updates: near-ATM strikes (within NEAR_STRIKES
steps of spot) every ``sim.near_quote_seconds`` on average, slowing linearly to
``sim.far_quote_seconds`` at ``sim.strikes_each_side`` steps. Every update is a trade at a
price between bid and ask, so ``volume`` rises with every option row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from core import black76
from core.calendar import SESSION_MINUTES, TRADING_DAYS_PER_YEAR, TradingCalendar
from core.clock import NS_PER_SECOND, utc_from_ns
from core.config import IndexConfig, SimConfig
from core.instruments import IndexRules, contract_name
from sim.paths import round_to_tick, stable_hash

# Option security ids live in [FIRST_OPTION_ID, 2^31): above every index id and inside the
# int32 that Dhan's binary feed uses for security ids.
FIRST_OPTION_ID = 10_000_000
LAST_OPTION_ID = 2**31 - 1
SMILE_EPS = 0.01
SMILE_M_MAX = 1.5
IV_FLOOR_FRACTION = 0.3  # never quote a vol below this fraction of the ATM vol
IV_DAY_SD = 0.04  # day-to-day relative change of the ATM vol level
IV_WANDER_SD_PER_MINUTE = 0.002  # slow intraday random walk of log ATM vol
SPOT_VOL_BETA = 3.0  # d log(iv) / d log(spot) = -beta: a 1% fall lifts IV by ~3%
NEAR_STRIKES = 2.0  # strikes this many steps from spot quote at the near rate
EXTRA_SPREAD_TICK_P = 0.3  # chance a quote is one tick wider than its floor
# Open interest (units = lots x lot size): peak near ATM, thin in the money, thick out of it.
OI_PEAK_LOTS = 50_000
OI_ITM_WIDTH, OI_OTM_WIDTH = 2.4, 15.0  # Gaussian widths in strike steps
OI_ROUND_STRIKE_BOOST = 1.6  # strikes on a multiple of two steps carry more OI
OI_NOISE_SD = 0.3
OI_ADD_P = 0.55  # a trade opens (vs closes) a position with this probability
DEPTH_LOTS = 60  # top-of-book size up to this many lots where OI is at its peak
TRADE_LOTS_P = 0.4  # trade size in lots is geometric with this parameter


@dataclass(frozen=True)
class OptionSet:
    """The day's option contracts as parallel arrays, sorted by security id."""

    security_id: np.ndarray  # int64
    strike: np.ndarray  # float64
    is_call: np.ndarray  # bool
    expiry_index: np.ndarray  # int64, into ``expiries``
    lot_size: np.ndarray  # int64
    expiries: tuple[date, ...]


def option_security_id(underlying: str, expiry: date, strike: float, option_type: str,
                       salt: int = 0) -> int:
    """A stable id for a contract, the same on every day it is listed."""
    key = f"{underlying}|{expiry.isoformat()}|{strike:.2f}|{option_type}|{salt}"
    return FIRST_OPTION_ID + stable_hash(key) % (LAST_OPTION_ID - FIRST_OPTION_ID)


def build_options(index: IndexConfig, rules: IndexRules, day: date, low: float, high: float,
                  strikes_each_side: int, n_expiries: int = 1) -> OptionSet:
    """CE and PE on every strike from ATM(low) - k steps to ATM(high) + k steps."""
    step = index.strike_step
    first = max(step, rules.atm_strike(low) - strikes_each_side * step)
    last = rules.atm_strike(high) + strikes_each_side * step
    strikes = np.arange(first, last + step / 2, step, dtype=float)
    rows: list[tuple[int, float, bool, int, int]] = []
    used = {index.security_id}
    expiries = tuple(rules.listed_expiries(day, n_expiries))
    for e, expiry in enumerate(expiries):
        lot = rules.lot_size(expiry)
        for strike in strikes:
            for option_type in ("CE", "PE"):
                salt = 0
                sid = option_security_id(index.name, expiry, strike, option_type)
                while sid in used:  # a hash collision: rare, resolved deterministically
                    salt += 1
                    sid = option_security_id(index.name, expiry, strike, option_type, salt)
                used.add(sid)
                rows.append((sid, float(strike), option_type == "CE", e, lot))
    rows.sort()
    sid, strike, call, exp_i, lot = (np.array(col) for col in zip(*rows, strict=True))
    return OptionSet(sid.astype(np.int64), strike.astype(float), call.astype(bool),
                     exp_i.astype(np.int64), lot.astype(np.int64), expiries)


def contract_rows(index: IndexConfig, options: OptionSet) -> list[dict]:
    """Catalog contract metadata: the index row, then options by expiry, strike and type."""
    index_row = {"security_id": index.security_id, "segment": "IDX_I", "symbol": index.name,
                 "underlying": index.name, "instrument": "INDEX", "expiry": None,
                 "strike": None, "option_type": None, "lot_size": 1,
                 "tick_size": index.tick_size, "freeze_qty": None}
    rows: list[dict] = []
    for sid, strike, call, e, lot in zip(options.security_id, options.strike, options.is_call,
                                         options.expiry_index, options.lot_size, strict=True):
        expiry, kind = options.expiries[e], "CE" if call else "PE"
        rows.append({"security_id": int(sid), "segment": index.options_segment,
                     "symbol": contract_name(index.name, expiry, float(strike), kind),
                     "underlying": index.name, "instrument": "OPTIDX", "expiry": expiry,
                     "strike": float(strike), "option_type": kind, "lot_size": int(lot),
                     "tick_size": index.tick_size, "freeze_qty": index.freeze_qty})
    rows.sort(key=lambda row: (row["expiry"], row["strike"], row["option_type"]))
    return [index_row, *rows]


def years_to_expiry(calendar: TradingCalendar, ts: np.ndarray,
                    expiries: tuple[date, ...]) -> np.ndarray:
    """Trading years to each expiry's close at every tick, shape (expiries, ticks)."""
    ns_per_year = TRADING_DAYS_PER_YEAR * SESSION_MINUTES * 60 * NS_PER_SECOND
    first = utc_from_ns(int(ts[0]))
    elapsed = (ts - ts[0]) / ns_per_year
    start = np.array([calendar.trading_years(first, e) for e in expiries])
    return np.maximum(start[:, None] - elapsed[None, :], 0.0)


def option_rows(index: IndexConfig, sim: SimConfig, options: OptionSet, ts: np.ndarray,
                spot: np.ndarray, t_years: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The update mask (ticks x options) and every option row's fields, in time-major order."""
    distance = np.abs(options.strike[None, :] - spot[:, None]) / index.strike_step
    updates = _update_mask(sim, distance, rng)
    at_t, at_c = np.nonzero(updates)
    t_pt = t_years[options.expiry_index[at_c], at_t]
    forward = spot[at_t] * np.exp(sim.risk_free_rate * t_pt)
    vol = _smile(sim, options.strike[at_c], forward, t_pt,
                 _atm_vol_path(sim, ts, spot, rng)[at_t])
    model = black76.price(forward, options.strike[at_c], t_pt, vol, sim.risk_free_rate,
                          options.is_call[at_c])
    fields = _book(index, sim, model, distance[at_t, at_c], rng)
    oi_shape = _oi_shape(options, spot[0], index.strike_step)
    fields.update(_trades(options, oi_shape, at_c, rng))
    depth = 1 + np.rint(DEPTH_LOTS * oi_shape[at_c]).astype(np.int64)
    lot = options.lot_size[at_c]
    fields["bid_qty"] = (lot * rng.integers(1, depth + 1)).astype(np.int32)
    fields["ask_qty"] = (lot * rng.integers(1, depth + 1)).astype(np.int32)
    return updates, fields


def _update_mask(sim: SimConfig, distance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    far_at = max(float(sim.strikes_each_side), NEAR_STRIKES + 1.0)
    ramp = np.clip((distance - NEAR_STRIKES) / (far_at - NEAR_STRIKES), 0.0, 1.0)
    interval = sim.near_quote_seconds + (sim.far_quote_seconds - sim.near_quote_seconds) * ramp
    updates = rng.random(distance.shape) < sim.tick_seconds / interval
    updates[0, :] = True  # every contract has a quote from the first tick
    return updates


def _atm_vol_path(sim: SimConfig, ts: np.ndarray, spot: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """ATM vol at every tick: day level x slow wander x spot-vol response."""
    minutes = np.arange(SESSION_MINUTES + 1) * 60 * NS_PER_SECOND + ts[0]
    wander = np.cumsum(rng.normal(0.0, IV_WANDER_SD_PER_MINUTE, minutes.size))
    log_vol = (rng.normal(0.0, IV_DAY_SD) + np.interp(ts, minutes, wander)
               - SPOT_VOL_BETA * np.log(spot / spot[0]))
    return sim.iv_level * np.exp(log_vol)


def _smile(sim: SimConfig, strike: np.ndarray, forward: np.ndarray, t_years: np.ndarray,
           atm_vol: np.ndarray) -> np.ndarray:
    m = np.clip(np.log(strike / forward) / (np.sqrt(t_years) + SMILE_EPS),
                -SMILE_M_MAX, SMILE_M_MAX)
    factor = 1.0 + sim.smile_curvature * m * m + sim.smile_skew * m
    return atm_vol * np.maximum(factor, IV_FLOOR_FRACTION)


def _book(index: IndexConfig, sim: SimConfig, model: np.ndarray, distance: np.ndarray,
          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bid, ask and a last trade between them, all on the tick grid; bid >= one tick."""
    tick = index.tick_size
    far_at = max(float(sim.strikes_each_side), NEAR_STRIKES + 1.0)
    farness = np.clip((distance - NEAR_STRIKES) / (far_at - NEAR_STRIKES), 0.0, 1.0)
    pct_ticks = np.ceil(sim.spread_pct_far * farness * model / tick - 1e-9)
    width = np.maximum(sim.base_spread_ticks, pct_ticks).astype(np.int64)
    width += rng.random(model.size) < EXTRA_SPREAD_TICK_P
    bid = np.maximum(np.rint(model / tick - width / 2.0).astype(np.int64), 1)
    last = bid + rng.integers(0, width + 1)
    return {name: round_to_tick(ticks * tick, tick)
            for name, ticks in (("bid", bid), ("ask", bid + width), ("ltp", last))}


def _oi_shape(options: OptionSet, spot: float, step: float) -> np.ndarray:
    """OI relative to the peak, by moneyness at the open: thin ITM, thick OTM."""
    otm_steps = np.where(options.is_call, options.strike - spot, spot - options.strike) / step
    width = np.where(otm_steps < 0, OI_ITM_WIDTH, OI_OTM_WIDTH)
    shape = np.exp(-0.5 * (otm_steps / width) ** 2)
    round_strike = np.isclose(np.mod(options.strike, 2 * step), 0.0)
    return shape * np.where(round_strike, 1.0, 1.0 / OI_ROUND_STRIKE_BOOST)


def _trades(options: OptionSet, oi_shape: np.ndarray, at_c: np.ndarray,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Trade size, cumulative volume and open interest at every update."""
    lot = options.lot_size
    ltq = lot[at_c] * rng.geometric(TRADE_LOTS_P, at_c.size)
    opening_lots = np.rint(OI_PEAK_LOTS * oi_shape
                           * rng.lognormal(0.0, OI_NOISE_SD, lot.size)).astype(np.int64)
    oi_change = np.where(rng.random(at_c.size) < OI_ADD_P, ltq, -ltq)
    oi = np.maximum(opening_lots[at_c] * lot[at_c] + _cumsum_by(at_c, oi_change), lot[at_c])
    return {"ltq": ltq.astype(np.int32), "volume": _cumsum_by(at_c, ltq), "oi": oi}


def _cumsum_by(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each ``group``, in the arrays' own order."""
    order = np.argsort(group, kind="stable")
    ordered = values[order]
    running = np.cumsum(ordered)
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    before = (running - ordered)[first]
    out = np.empty_like(running)
    out[order] = running - before[np.cumsum(first) - 1]
    return out


def merge_index_rows(index: IndexConfig, options: OptionSet, ts: np.ndarray, spot: np.ndarray,
                     updates: np.ndarray, fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Index rows at every tick plus option rows at updates, sorted by (ts, security_id)."""
    column = int(np.searchsorted(options.security_id, index.security_id))
    full = np.insert(updates, column, True, axis=1)
    at_t, at_c = np.nonzero(full)  # time-major, then by column = by security id
    is_index = at_c == column
    ids = np.insert(options.security_id, column, index.security_id)
    n = at_t.size
    out: dict[str, np.ndarray] = {"ts": ts[at_t], "security_id": ids[at_c]}
    for name, dtype in (("ltp", np.float64), ("bid", np.float64), ("ask", np.float64),
                        ("ltq", np.int32), ("bid_qty", np.int32), ("ask_qty", np.int32),
                        ("volume", np.int64), ("oi", np.int64)):
        values = np.full(n, np.nan) if name in ("bid", "ask") else np.zeros(n, dtype=dtype)
        values[~is_index] = fields[name]
        out[name] = values
    out["ltp"][is_index] = spot[at_t[is_index]]
    return out
