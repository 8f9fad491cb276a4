"""Signal rules, validation presets and IV rank, table-driven."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from core.calendar import TradingCalendar
from core.clock import IST, ist_to_utc
from core.config import ValidationPreset
from core.errors import ConfigError, MalformedDataError
from strategies.logic.indicators import ist_day_numbers
from strategies.logic.signal import (
    IvRank,
    IvRankParams,
    IvSource,
    SignalParams,
    TimeframeReading,
    ValidationParams,
    evaluate_signal,
    iv_rank,
    percentile_rank,
    realised_vol_series,
    signal_params_from_preset,
    validate_entry,
    validation_params_from_preset,
)
from strategies.logic.types import Check, Direction
from tests.unit.strategies._nifty import nifty_1m

NAN = math.nan
STRATEGY_YAML = Path(__file__).resolve().parents[3] / "conf" / "strategy" / "default.yaml"
BALANCED = SignalParams(adx_min_primary=18.0, adx_min_confirm=20.0, require_confirmation=True)


def preset(name: str) -> ValidationPreset:
    """A preset exactly as conf/strategy/default.yaml defines it."""
    values = OmegaConf.to_container(OmegaConf.load(STRATEGY_YAML).presets[name])
    return ValidationPreset(**values)  # type: ignore[arg-type]


def reading(close: float = 100.0, line: float = 99.0, adx: float = 30.0) -> TimeframeReading:
    direction = 1.0 if close > line else -1.0
    return TimeframeReading(close=close, supertrend_line=line, supertrend_direction=direction,
                            adx=adx)


def by_name(checks: tuple[Check, ...]) -> dict[str, Check]:
    return {c.name: c for c in checks}


# --- evaluate_signal -------------------------------------------------------------------------

UP, DOWN = {"close": 100.0, "line": 99.0}, {"close": 98.0, "line": 99.0}


@pytest.mark.parametrize(("primary", "confirm", "params", "direction", "failed"), [
    (reading(**UP), reading(**UP), BALANCED, Direction.BULLISH, set()),
    (reading(**DOWN), reading(**DOWN), BALANCED, Direction.BEARISH, set()),
    (reading(**UP), reading(**DOWN), BALANCED, Direction.AVOID, {"confirmation"}),
    (reading(**DOWN), reading(**UP), BALANCED, Direction.AVOID, {"confirmation"}),
    (reading(**UP, adx=17.9), reading(**UP), BALANCED, Direction.AVOID, {"adx_primary"}),
    (reading(**UP, adx=18.0), reading(**UP), BALANCED, Direction.BULLISH, set()),
    (reading(**UP), reading(**UP, adx=19.9), BALANCED, Direction.AVOID, {"adx_confirm"}),
    (reading(**UP), reading(**UP, adx=20.0), BALANCED, Direction.BULLISH, set()),
    (reading(**DOWN, adx=10.0), reading(**UP, adx=5.0), BALANCED, Direction.AVOID,
     {"adx_primary", "adx_confirm", "confirmation"}),
    (reading(100.0, 100.0), reading(**UP), BALANCED, Direction.AVOID,
     {"trend_primary", "confirmation"}),
    # confirmation off (aggressive): the primary decides, the 5m ADX still has to be strong
    (reading(**DOWN), reading(**UP), SignalParams(15, 18, False), Direction.BEARISH, set()),
    (reading(**DOWN), reading(**UP, adx=17.9), SignalParams(15, 18, False), Direction.AVOID,
     {"adx_confirm"}),
])
def test_signal_rules(primary: TimeframeReading, confirm: TimeframeReading,
                      params: SignalParams, direction: Direction, failed: set[str]) -> None:
    result = evaluate_signal(primary, confirm, params)
    assert result.direction is direction
    assert {c.name for c in result.checks if not c.passed} == failed
    assert [c.name for c in result.checks] == [
        "warmup", "trend_primary", "adx_primary", "adx_confirm", "confirmation"]


@pytest.mark.parametrize(("name", "adx_value", "minimum", "passed", "detail"), [
    ("adx_primary", 17.9, 18.0, False, "17.9 < 18.0"),
    ("adx_primary", 18.0, 18.0, True, "18.0 >= 18.0"),
    ("adx_confirm", 19.9, 20.0, False, "19.9 < 20.0"),
    ("adx_confirm", 20.0, 20.0, True, "20.0 >= 20.0"),
    ("adx_confirm", 19.95, 20.0, False, "19.95 < 20.0"),
])
def test_adx_check_details(name: str, adx_value: float, minimum: float, passed: bool,
                           detail: str) -> None:
    primary = reading(adx=adx_value if name == "adx_primary" else 50.0)
    confirm = reading(adx=adx_value if name == "adx_confirm" else 50.0)
    params = SignalParams(adx_min_primary=minimum, adx_min_confirm=minimum)
    check = by_name(evaluate_signal(primary, confirm, params).checks)[name]
    assert check == Check(name, passed, detail)


@pytest.mark.parametrize(("primary", "confirm", "detail"), [
    (reading(adx=NAN), reading(), "not ready: primary adx"),
    (reading(line=NAN), reading(), "not ready: primary supertrend"),
    (reading(), reading(adx=NAN), "not ready: confirm adx"),
    (reading(), TimeframeReading(NAN, NAN, NAN, NAN),
     "not ready: confirm close, confirm supertrend, confirm adx"),
])
def test_nan_readings_are_warmup(primary: TimeframeReading, confirm: TimeframeReading,
                                 detail: str) -> None:
    result = evaluate_signal(primary, confirm, BALANCED)
    assert result.direction is Direction.AVOID
    assert result.checks == (Check("warmup", False, detail),)


def test_confirmation_detail_names_both_directions() -> None:
    checks = by_name(evaluate_signal(reading(**UP), reading(**DOWN), BALANCED).checks)
    assert checks["confirmation"].detail == "primary bullish, confirm bearish"
    off = by_name(evaluate_signal(reading(**UP), reading(**DOWN),
                                  SignalParams(require_confirmation=False)).checks)
    assert off["confirmation"] == Check("confirmation", True,
                                        "not required (primary bullish, confirm bearish)")


@pytest.mark.parametrize(("name", "primary_min", "confirm_min", "confirmation"), [
    ("conservative", 25, 30, True), ("balanced", 18, 20, True), ("aggressive", 15, 18, False)])
def test_signal_params_from_config_presets(name: str, primary_min: float, confirm_min: float,
                                           confirmation: bool) -> None:
    assert signal_params_from_preset(preset(name)) == SignalParams(
        primary_min, confirm_min, confirmation)


# --- validate_entry --------------------------------------------------------------------------

MONDAY = date(2024, 3, 4)
RANK_MID = IvRank(0.5, IvSource.REALISED_VOL_PROXY, 300)


def at(hhmm: str, day: date = MONDAY) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return ist_to_utc(day, time(hours, minutes))


def failed_names(checks: tuple[Check, ...]) -> set[str]:
    return {c.name for c in checks if not c.passed}


@pytest.mark.parametrize(("preset_name", "hhmm", "failed"), [
    ("balanced", "09:15", set()),
    ("balanced", "14:29", set()),
    ("balanced", "14:30", {"theta_cutoff"}),
    ("conservative", "13:59", set()),
    ("conservative", "14:00", {"theta_cutoff"}),
    ("aggressive", "14:59", set()),
    ("aggressive", "15:00", {"theta_cutoff", "no_entries_after"}),
    ("aggressive", "15:29", {"theta_cutoff", "no_entries_after"}),
    ("balanced", "09:14", {"market_open"}),
    ("balanced", "15:30", {"market_open", "theta_cutoff", "no_entries_after"}),
])
def test_preset_cutoffs(preset_name: str, hhmm: str, failed: set[str]) -> None:
    params = validation_params_from_preset(preset(preset_name))
    checks = validate_entry(at(hhmm), True, RANK_MID, params)
    assert failed_names(checks) == failed
    assert [c.name for c in checks] == [
        "market_open", "entry_start", "theta_cutoff", "no_entries_after", "iv_rank"]


def test_cutoff_details_and_seconds() -> None:
    params = validation_params_from_preset(preset("balanced"))
    just_before = ist_to_utc(MONDAY, time(14, 29, 59))
    checks = by_name(validate_entry(just_before, True, RANK_MID, params))
    assert checks["theta_cutoff"] == Check("theta_cutoff", True, "14:29:59 < 14:30")
    late = by_name(validate_entry(at("14:30"), True, RANK_MID, params))
    assert late["theta_cutoff"] == Check("theta_cutoff", False, "14:30:00 >= 14:30")


def test_global_stop_binds_a_later_theta_cutoff() -> None:
    params = ValidationParams(iv_rank_min=0.0, iv_rank_max=1.0, theta_cutoff=time(15, 10))
    assert failed_names(validate_entry(at("14:59"), True, RANK_MID, params)) == set()
    assert failed_names(validate_entry(at("15:00"), True, RANK_MID, params)) == {
        "no_entries_after"}


@pytest.mark.parametrize(("day", "is_session"), [
    (date(2024, 1, 26), False),  # Republic Day, a Friday
    (date(2024, 1, 27), False),  # Saturday
    (date(2024, 1, 28), False),  # Sunday
    (date(2024, 1, 20), True),  # special Saturday session (extra_sessions)
    (date(2024, 1, 29), True),
])
def test_calendar_decides_market_open(day: date, is_session: bool) -> None:
    calendar = TradingCalendar(extra_sessions=["2024-01-20"])
    assert calendar.is_session(day) is is_session
    params = validation_params_from_preset(preset("balanced"))
    market = by_name(validate_entry(at("10:00", day), calendar.is_session(day), RANK_MID,
                                    params))["market_open"]
    assert market.passed is is_session
    if not is_session:
        assert market.detail == "not a trading session (holiday or weekend)"


def test_market_hours_use_ist_whatever_the_input_zone() -> None:
    params = validation_params_from_preset(preset("balanced"))
    utc_now = datetime(2024, 3, 4, 4, 0, tzinfo=UTC)  # 09:30 IST
    checks = by_name(validate_entry(utc_now, True, RANK_MID, params))
    assert checks["market_open"].detail == "09:30:00 IST within 09:15-15:30"
    ist_now = datetime(2024, 3, 4, 9, 14, tzinfo=IST)
    assert not by_name(validate_entry(ist_now, True, RANK_MID, params))["market_open"].passed
    with pytest.raises(ValueError, match="naive"):
        validate_entry(datetime(2024, 3, 4, 10, 0), True, RANK_MID, params)  # noqa: DTZ001


@pytest.mark.parametrize(("hhmm", "passed"), [("09:29", False), ("09:30", True)])
def test_entry_start(hhmm: str, passed: bool) -> None:
    params = validation_params_from_preset(preset("balanced"), entry_start="09:30")
    assert by_name(validate_entry(at(hhmm), True, RANK_MID, params))["entry_start"].passed \
        is passed


@pytest.mark.parametrize(("preset_name", "value", "passed"), [
    ("balanced", 0.09, False), ("balanced", 0.10, True), ("balanced", 0.80, True),
    ("balanced", 0.81, False), ("conservative", 0.14, False), ("conservative", 0.15, True),
    ("conservative", 0.60, True), ("conservative", 0.61, False), ("aggressive", 0.04, False),
    ("aggressive", 0.05, True), ("aggressive", 0.90, True), ("aggressive", 0.91, False),
])
def test_iv_rank_bands(preset_name: str, value: float, passed: bool) -> None:
    params = validation_params_from_preset(preset(preset_name))
    rank = IvRank(value, IvSource.ATM_IV, 20)
    check = by_name(validate_entry(at("10:00"), True, rank, params))["iv_rank"]
    assert check.passed is passed
    assert "(atm_iv)" in check.detail


@pytest.mark.parametrize(("required", "passed", "detail"), [
    (True, False, "no iv data (required)"), (False, True, "no iv data (not required)")])
def test_missing_iv_rank(required: bool, passed: bool, detail: str) -> None:
    params = validation_params_from_preset(preset("balanced"), iv_rank_required=required)
    check = by_name(validate_entry(at("10:00"), True, None, params))["iv_rank"]
    assert check == Check("iv_rank", passed, detail)


def test_bad_validation_params_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="iv rank band"):
        ValidationParams(iv_rank_min=0.9, iv_rank_max=0.1, theta_cutoff=time(14, 30))
    bad = ValidationPreset(theta_cutoff="14h30")
    with pytest.raises(ConfigError, match="14h30"):
        validation_params_from_preset(bad)


# --- IV rank ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "rank"), [
    (0.05, 0.0), (0.10, 0.025), (0.195, 0.5), (0.20, 0.525), (0.29, 0.975), (0.5, 1.0)])
def test_percentile_rank(value: float, rank: float) -> None:
    history = np.round(np.arange(0.10, 0.30, 0.01), 2)  # 20 values
    assert percentile_rank(value, history) == pytest.approx(rank)


def test_iv_rank_prefers_atm_iv_and_falls_back_to_the_proxy() -> None:
    params = IvRankParams(rv_window=5, min_samples=20)
    history = np.round(np.arange(0.10, 0.30, 0.01), 2)
    closes = 100.0 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 1e-3, 60)))
    assert iv_rank(0.20, history, closes, params) == IvRank(0.525, IvSource.ATM_IV, 20)
    proxy = iv_rank(0.20, history[:19], closes, params)
    assert proxy is not None
    assert (proxy.source, proxy.samples) == (IvSource.REALISED_VOL_PROXY, 55)
    assert iv_rank(None, history, closes, params) == proxy
    assert iv_rank(NAN, [*history, NAN], closes, params) == proxy
    assert iv_rank(None, [], closes[:24], params) is None  # 23 returns -> 19 samples


def test_realised_vol_series_matches_a_direct_std() -> None:
    returns = np.random.default_rng(7).normal(0, 1e-3, 200)
    closes = 20_000.0 * np.exp(np.concatenate(([0.0], np.cumsum(returns))))
    got = realised_vol_series(closes, 30)
    windows = np.lib.stride_tricks.sliding_window_view(np.diff(np.log(closes)), 30)
    np.testing.assert_allclose(got, windows.std(axis=1, ddof=1), rtol=1e-9)


def test_overnight_gap_is_not_volatility() -> None:
    calm = 20_000.0 + np.tile([0.0, 1.0], 40)
    closes = np.concatenate((calm, calm + 400.0))  # a 2% gap between the two days
    days = np.repeat([1, 2], 80)
    with_gap = realised_vol_series(closes, 10)
    without_gap = realised_vol_series(closes, 10, days)
    assert with_gap.size == without_gap.size + 1  # one return (the gap) dropped
    assert with_gap.max() > 10 * without_gap.max()
    with pytest.raises(MalformedDataError, match="day numbers"):
        realised_vol_series(closes, 10, days[:-1])
    with pytest.raises(MalformedDataError, match=r"closes\[3\]"):
        realised_vol_series(np.array([1.0, 2.0, 3.0, 0.0]), 2)


@pytest.mark.parametrize("calm_last", [True, False])
def test_proxy_ranks_calm_low_and_wild_high(calm_last: bool) -> None:
    rng = np.random.default_rng(3)
    # A long regime, then 40 minutes of the other one: the latest sample is an outlier.
    long_calm, short_wild = rng.normal(0, 2e-4, 300), rng.normal(0, 2e-3, 40)
    long_wild, short_calm = rng.normal(0, 2e-3, 300), rng.normal(0, 2e-4, 40)
    returns = np.concatenate(
        (long_wild, short_calm) if calm_last else (long_calm, short_wild))
    closes = 20_000.0 * np.exp(np.concatenate(([0.0], np.cumsum(returns))))
    rank = iv_rank(None, [], closes, IvRankParams(rv_window=30))
    assert rank is not None
    assert (rank.value < 0.1) if calm_last else (rank.value > 0.9)


def test_proxy_on_real_data_ranks_within_the_lookback() -> None:
    bars = nifty_1m()
    days = ist_day_numbers(bars["ts"])
    unique = np.unique(days)
    window = np.isin(days, unique[20:40])  # 20 sessions of lookback
    closes, day_ids = bars["close"][window], days[window]
    rank = iv_rank(None, [], closes, IvRankParams(rv_window=30), day_ids)
    assert rank is not None
    assert rank.source is IvSource.REALISED_VOL_PROXY
    returns = np.diff(np.log(closes))[day_ids[1:] == day_ids[:-1]]
    vols = np.lib.stride_tricks.sliding_window_view(returns, 30).std(axis=1, ddof=1)
    assert rank.samples == vols.size == 20 * 374 - 29
    expected = (np.sum(vols < vols[-1]) + 0.5 * np.sum(vols == vols[-1])) / vols.size
    assert rank.value == pytest.approx(expected, abs=1e-3)
    assert 0.0 <= rank.value <= 1.0


def test_a_band_edge_of_zero_keeps_its_sign_in_the_detail() -> None:
    rank = IvRank(0.5, IvSource.REALISED_VOL_PROXY, 40)
    for low, shown in ((0.0, "0.0"), (-0.0, "-0.0"), (0.0, "0.0")):
        params = ValidationParams(iv_rank_min=low, iv_rank_max=0.8, theta_cutoff=time(14, 30))
        check = by_name(validate_entry(at("10:00"), True, rank, params))["iv_rank"]
        assert check.detail == f"0.500 (realised_vol_proxy) within {shown}-0.8"
