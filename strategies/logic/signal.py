"""The index signal (Supertrend + ADX on two timeframes) and its entry validation (SPEC 2).

:func:`evaluate_signal` turns the latest closed-bar readings of the primary (1m) and the
confirmation (5m) timeframe into bullish / bearish / avoid. :func:`validate_entry` applies the
preset's calendar, time and IV-rank checks. Both return every check, passed or failed, for the
decision log. :func:`iv_rank` ranks ATM IV when there is some, else a realised-volatility
proxy, and says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

import numpy as np

from core.calendar import SESSION_CLOSE, SESSION_OPEN
from core.clock import parse_hhmm, to_ist
from core.errors import ConfigError, MalformedDataError
from strategies.logic.realised_vol import RealisedVolSeries, check_prices
from strategies.logic.types import Check, Direction

NO_ENTRIES_AFTER = time(15, 0)


@dataclass(frozen=True)
class SignalParams:
    adx_min_primary: float = 18.0
    adx_min_confirm: float = 20.0
    require_confirmation: bool = True  # the confirmation timeframe's direction must agree


@dataclass(frozen=True)
class TimeframeReading:
    """The last closed bar of one timeframe; NaN = that indicator is not warmed up yet."""

    close: float
    supertrend_line: float
    supertrend_direction: float
    adx: float


@dataclass(frozen=True)
class SignalResult:
    direction: Direction
    checks: tuple[Check, ...]


def _num(value: float) -> str:
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text


def _trend(reading: TimeframeReading) -> Direction:
    """Close above the Supertrend line is bullish, below bearish, on it neither."""
    if reading.close > reading.supertrend_line:
        return Direction.BULLISH
    if reading.close < reading.supertrend_line:
        return Direction.BEARISH
    return Direction.AVOID


_WARMUP_READY = Check("warmup", True, "indicators ready")
_RELATION = {Direction.BULLISH: ">", Direction.BEARISH: "<", Direction.AVOID: "=="}


def _warmup_check(primary: TimeframeReading, confirm: TimeframeReading) -> Check:
    finite = math.isfinite
    if (finite(primary.close) and finite(primary.supertrend_line) and finite(primary.adx)
            and finite(confirm.close) and finite(confirm.supertrend_line)
            and finite(confirm.adx)):
        return _WARMUP_READY  # checks are immutable: every ready bar can share this one
    missing = [
        f"{label} {name}"
        for label, reading in (("primary", primary), ("confirm", confirm))
        for name, value in (("close", reading.close), ("supertrend", reading.supertrend_line),
                            ("adx", reading.adx))
        if not math.isfinite(value)
    ]
    return Check("warmup", False, "not ready: " + ", ".join(missing))


def _shown_limit(limit: float) -> str:
    """:func:`_num` of a configured limit, formatted once per value."""
    # 0.0 and -0.0 are one cache key but print differently: zero is never cached.
    return _cached_num(limit) if limit else _num(limit)


@lru_cache(maxsize=64)
def _cached_num(value: float) -> str:
    return _num(value)


def _adx_check(name: str, value: float, minimum: float) -> Check:
    if value >= minimum:
        return Check(name, True, f"{_num(value)} >= {_shown_limit(minimum)}")
    return Check(name, False, f"{_num(value)} < {_shown_limit(minimum)}")


def _trend_check(name: str, reading: TimeframeReading, trend: Direction) -> Check:
    detail = (f"close {_num(reading.close)} {_RELATION[trend]} "
              f"line {_num(reading.supertrend_line)}")
    return Check(name, trend is not Direction.AVOID, f"{detail} ({trend})")


@lru_cache(maxsize=64)
def _confirmation_check(primary_trend: Direction, confirm_trend: Direction,
                        required: bool) -> Check:
    """Nine direction pairs, two settings: built once each, then shared (checks are frozen)."""
    agree = primary_trend is confirm_trend and primary_trend is not Direction.AVOID
    agreement = f"primary {primary_trend}, confirm {confirm_trend}"
    return Check("confirmation", agree or not required,
                 agreement if required else f"not required ({agreement})")


def evaluate_signal(primary: TimeframeReading, confirm: TimeframeReading,
                    params: SignalParams) -> SignalResult:
    """Bullish / bearish from the primary timeframe when every check passes, else AVOID.

    Checks: ``warmup`` (any NaN reading: AVOID with only this check), ``trend_primary``
    (close not on the line), ``adx_primary``, ``adx_confirm``, ``confirmation`` (both
    timeframes agree; passes with "not required" when the preset turns it off).
    """
    warmup = _warmup_check(primary, confirm)
    if not warmup.passed:
        return SignalResult(Direction.AVOID, (warmup,))
    primary_trend, confirm_trend = _trend(primary), _trend(confirm)
    trend = _trend_check("trend_primary", primary, primary_trend)
    adx_primary = _adx_check("adx_primary", primary.adx, params.adx_min_primary)
    adx_confirm = _adx_check("adx_confirm", confirm.adx, params.adx_min_confirm)
    confirmation = _confirmation_check(primary_trend, confirm_trend,
                                       params.require_confirmation)
    checks = (warmup, trend, adx_primary, adx_confirm, confirmation)
    passed = trend.passed and adx_primary.passed and adx_confirm.passed and confirmation.passed
    return SignalResult(primary_trend if passed else Direction.AVOID, checks)


class IvSource(StrEnum):
    ATM_IV = "atm_iv"
    REALISED_VOL_PROXY = "realised_vol_proxy"


@dataclass(frozen=True)
class IvRank:
    """Where the current volatility sits in its recent distribution (0 lowest, 1 highest)."""

    value: float
    source: IvSource
    samples: int  # size of the distribution ranked against


@dataclass(frozen=True)
class IvRankParams:
    rv_window: int = 30  # 1m log returns per realised-volatility sample
    min_samples: int = 20  # fewer samples in the distribution -> no rank from that source

    def __post_init__(self) -> None:
        if self.rv_window < 2:
            raise ConfigError(f"iv rank rv_window must be >= 2, got {self.rv_window}")
        if self.min_samples < 1:
            raise ConfigError(f"iv rank min_samples must be >= 1, got {self.min_samples}")


def percentile_rank(value: float, history: np.ndarray) -> float:
    """Share of ``history`` below ``value``, ties counting half: 0..1."""
    if history.size == 0:
        raise ValueError("percentile_rank of an empty history")
    below = np.count_nonzero(history < value)
    ties = np.count_nonzero(history == value)
    return float((below + 0.5 * ties) / history.size)


def realised_vol_series(closes: np.ndarray, window: int,
                        day_numbers: np.ndarray | None = None) -> np.ndarray:
    """Rolling sample std of 1m log returns, one value per window end (oldest first).

    Returns across two days (``day_numbers`` differ) are dropped so overnight gaps do not
    read as volatility. (The strategy keeps a :class:`RealisedVolSeries` instead, extended
    bar by bar with identical values.)
    """
    prices = np.asarray(closes, dtype=np.float64)
    return _realised_vol_from_scratch(prices, window, None if day_numbers is None
                                      else np.asarray(day_numbers))


def _realised_vol_from_scratch(prices: np.ndarray, window: int,
                               days: np.ndarray | None) -> np.ndarray:
    check_prices(prices)
    returns = np.diff(np.log(prices))
    if days is not None:
        if days.shape != prices.shape:
            raise MalformedDataError(f"realised vol: {days.size} day numbers for "
                                     f"{prices.size} closes")
        returns = returns[days[1:] == days[:-1]]
    if returns.size < window:
        return np.zeros(0)
    # Windowed sums from cumulative sums: O(n) per call, precise enough at 1m return sizes.
    sums = np.concatenate(([0.0], np.cumsum(returns)))
    squares = np.concatenate(([0.0], np.cumsum(returns * returns)))
    s1 = sums[window:] - sums[:-window]
    s2 = squares[window:] - squares[:-window]
    variance = np.maximum((s2 - s1 * s1 / window) / (window - 1), 0.0)
    return np.sqrt(variance)


def iv_rank(atm_iv: float | None, atm_iv_history: Sequence[float] | np.ndarray,
            closes: np.ndarray, params: IvRankParams,
            day_numbers: np.ndarray | None = None,
            realised: RealisedVolSeries | None = None) -> IvRank | None:
    """IV rank of now, from ATM IV when it and its history exist, else the realised-vol proxy.

    ``atm_iv_history``: ATM IVs of the recent sessions (the lookback); ``closes``: the 1m
    index closes of the same lookback up to now. The proxy ranks the latest realised-vol
    sample among every sample of the lookback. ``None`` when neither source has
    ``params.min_samples`` samples. ``realised``: the caller's series of the same closes so
    far, caught up here with the closes it has not seen (instead of a full recompute).
    """
    history = np.asarray(atm_iv_history, dtype=np.float64)
    history = history[np.isfinite(history)]
    if atm_iv is not None and math.isfinite(atm_iv) and history.size >= params.min_samples:
        return IvRank(percentile_rank(atm_iv, history), IvSource.ATM_IV, int(history.size))
    if realised is None:
        vols = realised_vol_series(closes, params.rv_window, day_numbers)
    else:
        if realised.window != params.rv_window or realised.with_days is (day_numbers is None):
            raise ValueError("iv_rank: the realised-vol series does not match rv_window/days")
        seen = realised.bars
        realised.extend(np.asarray(closes[seen:], dtype=np.float64),
                        None if day_numbers is None else np.asarray(day_numbers[seen:]))
        vols = realised.values
    if vols.size < params.min_samples:
        return None
    return IvRank(percentile_rank(float(vols[-1]), vols), IvSource.REALISED_VOL_PROXY,
                  int(vols.size))


@dataclass(frozen=True)
class ValidationParams:
    """A validation preset plus the session facts; times are IST wall clock."""

    iv_rank_min: float
    iv_rank_max: float
    theta_cutoff: time  # no entries at or after
    no_entries_after: time = NO_ENTRIES_AFTER  # the global stop, every preset
    entry_start: time | None = None  # None: from the open (the signal's warm-up gates it)
    iv_rank_required: bool = True  # no IV rank at all blocks entries (fail safe)
    session_open: time = SESSION_OPEN
    session_close: time = SESSION_CLOSE

    def __post_init__(self) -> None:
        if not 0.0 <= self.iv_rank_min <= self.iv_rank_max <= 1.0:
            raise ConfigError(f"iv rank band {self.iv_rank_min}-{self.iv_rank_max} must satisfy "
                              "0 <= iv_rank_min <= iv_rank_max <= 1")
        if self.session_open >= self.session_close:
            raise ConfigError(f"session open {self.session_open} is not before its close "
                              f"{self.session_close}")


def validate_entry(now: datetime, is_session: bool, iv_rank: IvRank | None,
                   params: ValidationParams) -> tuple[Check, ...]:
    """Calendar, time-of-day and IV-rank checks for a new entry at ``now`` (tz-aware).

    ``is_session``: the trading calendar says today is a session (holidays and weekends are
    not; special sessions are). Checks: ``market_open``, ``entry_start``, ``theta_cutoff``,
    ``no_entries_after``, ``iv_rank``. A cutoff blocks entries from that minute on.
    """
    wall = to_ist(now).time()
    shown = wall.strftime("%H:%M:%S")
    return (
        _market_check(wall, shown, is_session, params),
        _start_check(wall, shown, params.entry_start),
        _before_check("theta_cutoff", wall, shown, params.theta_cutoff),
        _before_check("no_entries_after", wall, shown, params.no_entries_after),
        _iv_rank_check(iv_rank, params),
    )


@lru_cache(maxsize=64)
def _hhmm(value: time) -> str:
    """``HH:MM`` of a configured (naive) time, formatted once per value (strftime is slow)."""
    return f"{value:%H:%M}"


def _market_check(wall: time, shown: str, is_session: bool, params: ValidationParams) -> Check:
    hours = f"{_hhmm(params.session_open)}-{_hhmm(params.session_close)}"
    if not is_session:
        return Check("market_open", False, "not a trading session (holiday or weekend)")
    if params.session_open <= wall < params.session_close:
        return Check("market_open", True, f"{shown} IST within {hours}")
    return Check("market_open", False, f"{shown} IST outside {hours}")


def _start_check(wall: time, shown: str, start: time | None) -> Check:
    if start is None:
        return Check("entry_start", True, "from the session open")
    if wall >= start:
        return Check("entry_start", True, f"{shown} >= {_hhmm(start)}")
    return Check("entry_start", False, f"{shown} < {_hhmm(start)}")


def _before_check(name: str, wall: time, shown: str, cutoff: time) -> Check:
    if wall < cutoff:
        return Check(name, True, f"{shown} < {_hhmm(cutoff)}")
    return Check(name, False, f"{shown} >= {_hhmm(cutoff)}")


def _iv_rank_check(rank: IvRank | None, params: ValidationParams) -> Check:
    band = f"{_shown_limit(params.iv_rank_min)}-{_shown_limit(params.iv_rank_max)}"
    if rank is None:
        verdict = "required" if params.iv_rank_required else "not required"
        return Check("iv_rank", not params.iv_rank_required, f"no iv data ({verdict})")
    inside = params.iv_rank_min <= rank.value <= params.iv_rank_max
    relation = "within" if inside else "outside"
    return Check("iv_rank", inside, f"{rank.value:.3f} ({rank.source}) {relation} {band}")


class PresetLike(Protocol):
    """The fields of a validation preset (``core.config.ValidationPreset`` has them)."""

    adx_min_primary: float
    adx_min_confirm: float
    iv_rank_min: float
    iv_rank_max: float
    theta_cutoff: str
    trend_confirmation: bool


def signal_params_from_preset(preset: PresetLike) -> SignalParams:
    return SignalParams(adx_min_primary=preset.adx_min_primary,
                        adx_min_confirm=preset.adx_min_confirm,
                        require_confirmation=preset.trend_confirmation)


def validation_params_from_preset(preset: PresetLike, no_entries_after: str = "15:00",
                                  entry_start: str | None = None,
                                  iv_rank_required: bool = True) -> ValidationParams:
    """ValidationParams from a preset and the strategy-wide times (``HH:MM`` IST)."""
    try:
        return ValidationParams(
            iv_rank_min=preset.iv_rank_min, iv_rank_max=preset.iv_rank_max,
            theta_cutoff=parse_hhmm(preset.theta_cutoff),
            no_entries_after=parse_hhmm(no_entries_after),
            entry_start=parse_hhmm(entry_start) if entry_start else None,
            iv_rank_required=iv_rank_required)
    except ValueError as e:
        raise ConfigError(f"strategy validation preset: {e}") from e
