"""The synthetic market: one day of index and option ticks, deterministic by seed.

:func:`simulate_day` draws an index path (:mod:`sim.paths`) and prices the day's option chain
along it (:mod:`sim.quotes`); :func:`model_day_from_bars` does the same on a path threaded
through real 1m index bars (``data.options=model``). :func:`write_days` fills a catalog.
Every random draw comes from a generator seeded by (``sim.seed``, index name, date), so any
day reproduces on its own, byte for byte, and different days or seeds differ.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from core.calendar import TradingCalendar
from core.clock import NS_PER_SECOND, ns_from_utc, utc_from_ns
from core.config import IndexConfig, SimConfig
from core.errors import ConfigError, MalformedDataError, MissingDataError
from core.instruments import IndexRules
from feeds.catalog import Catalog
from sim.paths import (
    Bars,
    bridge_path,
    day_rng,
    require_ticks_per_bar,
    standalone_level,
    synthetic_path,
    tick_grid,
)
from sim.quotes import (
    build_options,
    contract_rows,
    merge_index_rows,
    option_rows,
    years_to_expiry,
)

logger = logging.getLogger(__name__)

NS_PER_MINUTE = 60 * NS_PER_SECOND
OPTION_SOURCES = ("synthetic", "model")


@dataclass(frozen=True)
class SimulatedDay:
    """One day of market data: catalog tick columns, contract rows and the index close."""

    underlying: str
    day: date
    ticks: dict[str, np.ndarray]
    contracts: list[dict]
    close: float


def simulate_day(index: IndexConfig, sim: SimConfig, calendar: TradingCalendar, day: date,
                 prev_close: float | None = None, n_expiries: int = 1) -> SimulatedDay:
    """A synthetic day: the index from ``prev_close`` (else a level derived from the date).

    Ticks every ``sim.tick_seconds`` from 09:15:00 IST to before 15:30; options on the
    nearest ``n_expiries`` listed expiries.
    """
    _check_session(calendar, day)
    if prev_close is not None and not (np.isfinite(prev_close) and prev_close > 0):
        raise ValueError(f"prev_close must be a positive price, got {prev_close!r}")
    start = prev_close if prev_close is not None else standalone_level(index, sim, day)
    ts = tick_grid(calendar, day, sim.tick_seconds)
    spot, _ = synthetic_path(index, sim, ts.size, start, day_rng(sim, index.name, day, "index"))
    return _priced_day(index, sim, calendar, day, ts, spot, n_expiries)


def model_day_from_bars(index: IndexConfig, sim: SimConfig, calendar: TradingCalendar,
                        day: date, bars: Mapping[str, np.ndarray],
                        n_expiries: int = 1) -> SimulatedDay:
    """Synthetic options on a real index day: a tick path through each 1m bar's O, H, L, C.

    ``bars`` holds numpy columns ts (bar start, int64 ns UTC or datetime64), open, high, low,
    close and optionally security_id (rows of other ids are ignored), e.g. from
    ``Catalog.read_bars``. Bars outside the session are dropped (logged).
    """
    _check_session(calendar, day)
    day_bars = _session_bars(index, calendar, day, bars)
    ts, spot = bridge_path(day_bars, require_ticks_per_bar(sim), sim.tick_seconds,
                           index.tick_size, day_rng(sim, index.name, day, "bridge"))
    return _priced_day(index, sim, calendar, day, ts, spot, n_expiries)


def _priced_day(index: IndexConfig, sim: SimConfig, calendar: TradingCalendar, day: date,
                ts: np.ndarray, spot: np.ndarray, n_expiries: int) -> SimulatedDay:
    rules = IndexRules(index, calendar)
    options = build_options(index, rules, day, float(spot.min()), float(spot.max()),
                            sim.strikes_each_side, n_expiries)
    t_years = years_to_expiry(calendar, ts, options.expiries)
    rng = day_rng(sim, index.name, day, "quotes")
    updates, fields = option_rows(index, sim, options, ts, spot, t_years, rng)
    ticks = merge_index_rows(index, options, ts, spot, updates, fields)
    return SimulatedDay(index.name, day, ticks, contract_rows(index, options), float(spot[-1]))


def minute_bars_from_ticks(ticks: Mapping[str, np.ndarray],
                           security_id: int) -> dict[str, np.ndarray]:
    """1m OHLC bars (ts = bar start, int64 ns UTC) of one instrument's ``ltp``.

    ``volume`` is the sum of ``ltq`` in the minute, ``oi`` the last value (0 when absent).
    Minutes without a tick have no bar.
    """
    chosen = np.asarray(ticks["security_id"]) == security_id
    if not chosen.any():
        raise MissingDataError(f"no ticks of security_id {security_id} to build bars from")
    ts = _as_ns(np.asarray(ticks["ts"])[chosen])
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    ltp = np.asarray(ticks["ltp"], dtype=np.float64)[chosen][order]
    minute = ts - ts % NS_PER_MINUTE  # IST is UTC+05:30, so UTC minutes are IST minutes
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], ts.size] - 1

    def column(name: str) -> np.ndarray:
        if name not in ticks:
            return np.zeros(ts.size, dtype=np.int64)
        return np.asarray(ticks[name], dtype=np.int64)[chosen][order]

    return {"ts": minute[starts], "security_id": np.full(starts.size, security_id, np.int64),
            "open": ltp[starts], "high": np.maximum.reduceat(ltp, starts),
            "low": np.minimum.reduceat(ltp, starts), "close": ltp[ends],
            "volume": np.add.reduceat(column("ltq"), starts), "oi": column("oi")[ends]}


def write_days(catalog: Catalog, index: IndexConfig, sim: SimConfig, calendar: TradingCalendar,
               days: list[date], options: str = "synthetic", overwrite: bool = False,
               n_expiries: int = 1) -> list[date]:
    """Write each day's ticks and contracts (and, for synthetic days, the index's 1m bars).

    ``synthetic``: each day starts from the close of the previous session's index bars when
    the catalog has them (so days written in one call, or in several calls in date order,
    chain), else from :func:`~sim.paths.standalone_level`. ``model``: options priced on the
    real index bars of the day from the catalog's bar partition (MissingDataError naming the
    day when absent); those bars are left as they are. Days already present are skipped
    unless ``overwrite`` (logged). Returns the days whose ticks were written.
    """
    if options not in OPTION_SOURCES:
        raise ConfigError(f"data.options={options!r}: the simulator writes one of "
                          f"{list(OPTION_SOURCES)}")
    written: list[date] = []
    for day in sorted(set(days)):
        if not overwrite and _already_present(catalog, index, day, options):
            continue
        if options == "model":
            made = model_day_from_bars(index, sim, calendar, day,
                                       _real_bars(catalog, index, day), n_expiries)
            catalog.write_ticks(index.name, day, made.ticks, made.contracts)
        else:
            prev_close = _previous_close(catalog, index, calendar, day)
            made = simulate_day(index, sim, calendar, day, prev_close, n_expiries)
            # Ticks first: a crash in between leaves ticks without bars, which is repaired
            # from the ticks on the next run (see _already_present).
            catalog.write_ticks(index.name, day, made.ticks, made.contracts)
            catalog.write_bars(index.name, day,
                               minute_bars_from_ticks(made.ticks, index.security_id))
        logger.info("wrote %s %s (%s): %d rows, %d contracts", index.name, day, options,
                    made.ticks["ts"].size, len(made.contracts))
        written.append(day)
    return written


def _already_present(catalog: Catalog, index: IndexConfig, day: date, options: str) -> bool:
    """True when the day must not be (re)written without ``overwrite``; logs why."""
    name = index.name
    has_ticks, has_bars = catalog.has_ticks(name, day), catalog.has_bars(name, day)
    if has_ticks:
        logger.info("skipping %s %s: ticks already in the catalog (overwrite=False)", name, day)
        if options == "synthetic" and not has_bars:
            ticks = catalog.read_ticks(name, day, [index.security_id], ["ts", "security_id",
                                                                      "ltp"])
            catalog.write_bars(name, day, minute_bars_from_ticks(ticks, index.security_id))
            logger.info("rebuilt missing 1m bars of %s %s from its ticks", name, day)
        return True
    if options == "synthetic" and has_bars:
        logger.warning("skipping %s %s: 1m bars exist without ticks (real bars?); not "
                       "replacing them (use data.options=model, or overwrite)", name, day)
        return True
    return False


def _previous_close(catalog: Catalog, index: IndexConfig, calendar: TradingCalendar,
                    day: date) -> float | None:
    prev = calendar.previous_session(day)
    if not catalog.has_bars(index.name, prev):
        return None
    bars = catalog.read_bars(index.name, prev, prev, [index.security_id])
    return float(bars["close"][-1]) if bars["close"].size else None


def _real_bars(catalog: Catalog, index: IndexConfig, day: date) -> dict[str, np.ndarray]:
    try:
        bars = catalog.read_bars(index.name, day, day, [index.security_id])
    except MissingDataError as e:
        raise MissingDataError(
            f"data.options=model needs real 1m {index.name} bars for {day}, and the catalog "
            f"has none ({e}); import them first") from e
    if not bars["ts"].size:
        raise MissingDataError(f"data.options=model: no 1m bars of {index.name} "
                               f"(security_id {index.security_id}) on {day} in the catalog")
    return bars


def _check_session(calendar: TradingCalendar, day: date) -> None:
    if not calendar.is_session(day):
        raise MissingDataError(f"{day} is not a trading session: nothing to simulate")


def _as_ns(values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]").astype(np.int64)
    return values.astype(np.int64)


def _session_bars(index: IndexConfig, calendar: TradingCalendar, day: date,
                  bars: Mapping[str, np.ndarray]) -> Bars:
    """The index's bars of ``day`` inside the session, sorted and checked."""
    missing = [k for k in ("ts", "open", "high", "low", "close") if k not in bars]
    if missing:
        raise MalformedDataError(f"{index.name} {day} bars: missing column(s) {missing}")
    keep = np.ones(len(bars["ts"]), dtype=bool)
    if "security_id" in bars:
        keep &= np.asarray(bars["security_id"]) == index.security_id
    ts = _as_ns(np.asarray(bars["ts"]))
    open_utc, close_utc = calendar.session_bounds(day)
    inside = (ts >= ns_from_utc(open_utc)) & (ts < ns_from_utc(close_utc))
    if (keep & ~inside).any():
        logger.info("%s %s: ignoring %d bar(s) outside the session", index.name, day,
                    int((keep & ~inside).sum()))
    keep &= inside
    if not keep.any():
        raise MissingDataError(f"no 1m bars of {index.name} (security_id "
                               f"{index.security_id}) inside the session of {day}")
    order = np.argsort(ts[keep], kind="stable")
    cols = {k: np.asarray(bars[k], dtype=np.float64)[keep][order]
            for k in ("open", "high", "low", "close")}
    checked = Bars(ts[keep][order], cols["open"], cols["high"], cols["low"], cols["close"])
    _check_bars(index, day, checked)
    return checked


def _check_bars(index: IndexConfig, day: date, bars: Bars) -> None:
    where = f"{index.name} {day} bars"
    bad_ts = np.flatnonzero((bars.ts % NS_PER_MINUTE != 0)
                            | np.r_[False, bars.ts[1:] == bars.ts[:-1]])
    if bad_ts.size:
        raise MalformedDataError(f"{where}: bar at {utc_from_ns(int(bars.ts[bad_ts[0]]))} is "
                                 "a duplicate or does not start on a minute")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(bars.open) & np.isfinite(bars.close)
                & (bars.low <= np.minimum(bars.open, bars.close))
                & (bars.high >= np.maximum(bars.open, bars.close)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MalformedDataError(
            f"{where}: bar at {utc_from_ns(int(bars.ts[i]))} has inconsistent OHLC "
            f"{bars.open[i]}, {bars.high[i]}, {bars.low[i]}, {bars.close[i]}")
