"""What the per-day charts need from a run's config and the catalog.

Everything is recomputed from the run's own resolved config (``RunRow.config_yaml``), not
from the config of the process building the report, so a rebuilt report of an old run
draws the Supertrend and the exit levels that run traded with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import yaml

from core.clock import ns_from_utc
from core.config import IndexConfig, RiskConfig, StrategyConfig
from core.errors import DataError, MalformedDataError
from feeds.catalog import Catalog
from strategies.logic.indicators import ist_day_numbers, resample_ohlc, supertrend
from strategies.records import TradeRecord

log = logging.getLogger(__name__)

# Calendar days of bars read before a charted day so the Supertrend is warm at 09:15
# (a long weekend plus a holiday still leaves a previous session inside).
WARMUP_CALENDAR_DAYS = 7
BAR_NS = 60 * 10**9
PRICE_EPS = 1e-9  # as in strategies/logic/exits: a price exactly at a level reaches it


@dataclass(frozen=True)
class RunSettings:
    """The parts of a run's config the report uses."""

    capital: float
    index_security_id: int
    primary_minutes: int
    supertrend_period: int
    supertrend_multiplier: float
    sl_pct: float
    tp_pct: float
    breakeven_trigger_pct: float
    trail_pct: float


@dataclass(frozen=True)
class IndexDay:
    """One session of the index on the strategy's primary timeframe, with its Supertrend."""

    ts: np.ndarray  # bar start, UTC ns
    close: np.ndarray
    line: np.ndarray
    direction: np.ndarray  # +1 up, -1 down, NaN warm-up


@dataclass(frozen=True)
class PricePath:
    """A traded contract's prices through a session."""

    ts: np.ndarray  # UTC ns: tick time, or bar END (a close is known when its bar ends)
    price: np.ndarray
    source: str  # "LTP ticks" or "1m bar closes"
    low: np.ndarray | None = None  # bars only: each bar's range, ending at ``ts``
    high: np.ndarray | None = None


@dataclass(frozen=True)
class ExitLevels:
    """Stop, target and trailing stop at each price point while the trade was held."""

    ts: np.ndarray
    stop: np.ndarray  # the fixed stop, NaN once the breakeven lock is on
    stop_level: float  # entry * (1 - sl)
    target: float
    trail: np.ndarray  # max(entry, HWM * (1 - trail)), NaN before the lock


def run_settings(config_yaml: str, run_id: str) -> RunSettings:
    """Read the settings from a run's resolved YAML config (missing keys: today's defaults)."""
    try:
        config = yaml.safe_load(config_yaml) or {}
    except yaml.YAMLError as error:
        raise MalformedDataError(f"run {run_id}: config_yaml is not YAML: {error}") from error
    if not isinstance(config, dict):
        raise MalformedDataError(f"run {run_id}: config_yaml is not a mapping")
    risk, strategy, index = (_section(config, name) for name in ("risk", "strategy", "index"))
    defaults_risk, defaults_strategy = RiskConfig(), StrategyConfig()
    try:
        return RunSettings(
            capital=float(risk.get("capital", defaults_risk.capital)),
            index_security_id=int(index.get("security_id", IndexConfig().security_id)),
            primary_minutes=int(strategy.get("primary_minutes",
                                             defaults_strategy.primary_minutes)),
            supertrend_period=int(strategy.get("supertrend_period",
                                               defaults_strategy.supertrend_period)),
            supertrend_multiplier=float(strategy.get("supertrend_multiplier",
                                                     defaults_strategy.supertrend_multiplier)),
            sl_pct=float(risk.get("sl_pct", defaults_risk.sl_pct)),
            tp_pct=float(risk.get("tp_pct", defaults_risk.tp_pct)),
            breakeven_trigger_pct=float(risk.get("breakeven_trigger_pct",
                                                 defaults_risk.breakeven_trigger_pct)),
            trail_pct=float(risk.get("trail_pct", defaults_risk.trail_pct)),
        )
    except (TypeError, ValueError) as error:
        raise MalformedDataError(f"run {run_id}: config_yaml: {error}") from error


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    section = config.get(name) or {}
    return section if isinstance(section, dict) else {}


def index_day(catalog: Catalog, underlying: str, day: date,
              settings: RunSettings) -> IndexDay | None:
    """The index on ``day`` with its Supertrend (warmed up on earlier sessions); None when
    the catalog has no 1m index bars for the day."""
    try:
        bars = catalog.read_bars(underlying, day - timedelta(days=WARMUP_CALENDAR_DAYS), day,
                                 security_ids=[settings.index_security_id])
    except DataError as error:
        log.info("no index chart for %s %s: %s", underlying, day, error)
        return None
    if settings.primary_minutes > 1:
        bars = resample_ohlc(bars["ts"], bars["open"], bars["high"], bars["low"],
                             bars["close"], settings.primary_minutes)
    result = supertrend(bars["high"], bars["low"], bars["close"],
                        settings.supertrend_period, settings.supertrend_multiplier)
    on_day = ist_day_numbers(bars["ts"]) == (day - date(1970, 1, 1)).days
    if not on_day.any():
        log.info("no index chart for %s %s: no bars on that day", underlying, day)
        return None
    return IndexDay(ts=bars["ts"][on_day], close=bars["close"][on_day],
                    line=result.line[on_day], direction=result.direction[on_day])


def premium_paths(catalog: Catalog, underlying: str, day: date, security_ids: Sequence[int],
                  prefer_bars: bool = False) -> dict[int, PricePath]:
    """Each contract's LTP ticks on ``day``, else its 1m bar closes (bars first with
    ``prefer_bars``: a bar backtest's exits saw bars, not ticks); absent ones left out."""
    paths: dict[int, PricePath] = {}
    wanted = sorted(set(security_ids))
    readers = (_bar_paths, _tick_paths) if prefer_bars else (_tick_paths, _bar_paths)
    for read in readers:
        missing = [sid for sid in wanted if sid not in paths]
        if not missing:
            break
        try:
            paths |= read(catalog, underlying, day, missing)
        except DataError as error:
            log.info("no %s for %s %s: %s", read.__name__[1:], underlying, day, error)
    return paths


def _tick_paths(catalog: Catalog, underlying: str, day: date,
                security_ids: list[int]) -> dict[int, PricePath]:
    ticks = catalog.read_ticks(underlying, day, security_ids=security_ids,
                               columns=["ts", "security_id", "ltp"])
    return _split(ticks, "ltp", "LTP ticks")


def _bar_paths(catalog: Catalog, underlying: str, day: date,
               security_ids: list[int]) -> dict[int, PricePath]:
    bars = catalog.read_bars(underlying, day, day, security_ids=security_ids)
    return _split(bars | {"ts": bars["ts"] + BAR_NS}, "close", "1m bar closes")


def _split(columns: dict[str, np.ndarray], price: str, source: str) -> dict[int, PricePath]:
    paths = {}
    for sid in np.unique(columns["security_id"]).tolist():
        rows = (columns["security_id"] == sid) & np.isfinite(columns[price]) & (
            columns[price] > 0)
        if rows.any():
            low, high = (columns[name][rows] if name in columns else None
                         for name in ("low", "high"))
            paths[int(sid)] = PricePath(columns["ts"][rows], columns[price][rows], source,
                                        low, high)
    return paths


def exit_levels(path: PricePath, trade: TradeRecord, settings: RunSettings) -> ExitLevels:
    """The exit rules' levels along ``path`` from entry to exit (``strategies/logic/exits``):
    stop = entry * (1 - sl) until the price reaches entry * (1 + breakeven trigger); from
    the next point on, the trailing stop max(entry, HWM * (1 - trail))."""
    entry, start, end = trade.entry_price, ns_from_utc(trade.entry_at), ns_from_utc(trade.exit_at)
    held = (path.ts > start) & (path.ts <= end)
    # The fill opens the holding, so every line starts at the entry.
    ts = np.concatenate([[start], path.ts[held]])
    prices = np.concatenate([[entry], path.price[held]])
    hwm = np.maximum.accumulate(prices)
    trigger = entry * (1.0 + settings.breakeven_trigger_pct) - PRICE_EPS
    triggered = np.flatnonzero(prices >= trigger)
    locked = np.zeros(prices.size, dtype=bool)
    if triggered.size:
        locked[triggered[0] + 1:] = True
    stop_level = entry * (1.0 - settings.sl_pct)
    stop = np.where(locked, np.nan, stop_level)
    trail = np.where(locked, np.maximum(entry, hwm * (1.0 - settings.trail_pct)), np.nan)
    return ExitLevels(ts=ts, stop=stop, stop_level=stop_level,
                      target=entry * (1.0 + settings.tp_pct), trail=trail)
