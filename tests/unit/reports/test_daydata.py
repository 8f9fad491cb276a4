"""Exit levels along a premium path, run settings from a stored config, catalog reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.clock import ist_to_utc, ns_from_utc
from core.errors import MalformedDataError
from feeds.catalog import Catalog
from reports.daydata import (
    PricePath,
    RunSettings,
    exit_levels,
    index_day,
    premium_paths,
    run_settings,
)
from strategies.logic.indicators import supertrend
from strategies.records import TradeRecord

DAY = date(2024, 10, 9)
NAN = float("nan")
SETTINGS = RunSettings(capital=100_000.0, index_security_id=13, primary_minutes=1,
                       supertrend_period=3, supertrend_multiplier=2.0, sl_pct=0.3, tp_pct=0.6,
                       breakeven_trigger_pct=0.1, trail_pct=0.03)
ENTRY = ist_to_utc(DAY, time(10, 0))


def held_trade(minutes: int) -> TradeRecord:
    return TradeRecord(
        day=DAY, security_id=7, symbol="NIFTY 2024-10-10 24500 CE", option_type="CE",
        strike=24500.0, expiry=date(2024, 10, 10), lots=1, quantity=25, entry_at=ENTRY,
        entry_price=100.0, exit_at=ENTRY + timedelta(minutes=minutes), exit_price=115.0,
        exit_reason="trailing_stop", exit_tag="trailing_stop_3pct", entry_tag="e",
        gross_pnl=375.0, charges=40.0, net_pnl=335.0, hwm=120.0, breakeven_locked=True)


def minutes_after_entry(*minutes: int) -> np.ndarray:
    return ns_from_utc(ENTRY) + np.array(minutes, dtype=np.int64) * 60 * 10**9


def test_exit_levels_switch_from_stop_to_trail_after_the_lock() -> None:
    # Entry 100: stop 70, target 160, lock at >= 110 (from the next point), trail 3% of HWM.
    path = PricePath(minutes_after_entry(-1, 1, 2, 3, 4, 9), np.array(
        [99.0, 105.0, 111.0, 120.0, 115.0, 130.0]), "LTP ticks")
    levels = exit_levels(path, held_trade(minutes=4), SETTINGS)
    assert levels.ts.tolist() == [ns_from_utc(ENTRY), *minutes_after_entry(1, 2, 3, 4)]
    np.testing.assert_allclose(levels.stop, [70, 70, 70, NAN, NAN])
    np.testing.assert_allclose(levels.trail, [NAN, NAN, NAN, 116.4, 116.4])
    assert (levels.stop_level, levels.target) == pytest.approx((70.0, 160.0))


@pytest.mark.parametrize(("trail_pct", "trail"), [
    (0.03, 106.7),  # 110 * 0.97
    (0.2, 100.0),  # 110 * 0.8 = 88 is below the entry: the stop stays at breakeven
])
def test_exit_levels_trail_at_exactly_the_trigger(trail_pct: float, trail: float) -> None:
    path = PricePath(minutes_after_entry(1, 2), np.array([110.0, 101.0]), "LTP ticks")
    levels = exit_levels(path, held_trade(minutes=2), replace(SETTINGS, trail_pct=trail_pct))
    np.testing.assert_allclose(levels.trail, [NAN, NAN, trail])


def test_exit_levels_without_prices_inside_the_holding() -> None:
    path = PricePath(minutes_after_entry(-5, 30), np.array([99.0, 98.0]), "1m bar closes")
    levels = exit_levels(path, held_trade(minutes=2), SETTINGS)
    assert levels.ts.tolist() == [ns_from_utc(ENTRY)]
    np.testing.assert_allclose(levels.stop, [70.0])


def test_run_settings_read_the_stored_config_with_defaults() -> None:
    settings = run_settings("risk:\n  sl_pct: 0.2\n  capital: 5e5\nstrategy:\n"
                            "  supertrend_period: 7\n", "r1")
    assert (settings.sl_pct, settings.capital, settings.supertrend_period) == (0.2, 5e5, 7)
    assert (settings.tp_pct, settings.index_security_id) == (0.6, 13)


@pytest.mark.parametrize("text", ["risk: [unclosed", "- a list", "risk:\n  sl_pct: abc\n"])
def test_run_settings_reject_a_bad_config(text: str) -> None:
    with pytest.raises(MalformedDataError, match="run r9"):
        run_settings(text, "r9")


def index_bars(day: date, closes: np.ndarray) -> dict[str, np.ndarray]:
    ts = ns_from_utc(ist_to_utc(day, time(9, 15))) + np.arange(closes.size) * 60 * 10**9
    return {"ts": ts, "security_id": np.full(closes.size, 13), "open": closes,
            "high": closes + 2, "low": closes - 2, "close": closes,
            "volume": np.zeros(closes.size, dtype=np.int64),
            "oi": np.zeros(closes.size, dtype=np.int64)}


def test_index_day_warms_the_supertrend_on_the_previous_session(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    before, today = np.linspace(24000, 24100, 20), np.linspace(24100, 24050, 30)
    catalog.write_bars("NIFTY", DAY - timedelta(days=1), index_bars(DAY - timedelta(days=1),
                                                                    before))
    catalog.write_bars("NIFTY", DAY, index_bars(DAY, today))
    day = index_day(catalog, "NIFTY", DAY, SETTINGS)
    assert day is not None
    assert day.close.tolist() == today.tolist()
    both = np.concatenate([before, today])
    expected = supertrend(both + 2, both - 2, both, 3, 2.0)
    np.testing.assert_allclose(day.line, expected.line[20:])
    assert np.isfinite(day.line).all()  # warm from the first bar of the day
    assert index_day(catalog, "NIFTY", DAY + timedelta(days=1), SETTINGS) is None
    assert index_day(Catalog(tmp_path / "empty"), "NIFTY", DAY, SETTINGS) is None


def test_premium_paths_read_ticks_then_fall_back_to_bars(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    contracts = [{"security_id": sid, "segment": "NSE_FNO", "symbol": f"NIFTY X {sid}",
                  "underlying": "NIFTY", "instrument": "OPTIDX", "expiry": date(2024, 10, 10),
                  "strike": 24500.0, "option_type": "CE", "lot_size": 25, "tick_size": 0.05,
                  "freeze_qty": 1800} for sid in (7, 8)]
    ts = minutes_after_entry(0, 1, 2)
    catalog.write_ticks("NIFTY", DAY, {
        "ts": ts, "security_id": np.array([7, 7, 7]), "ltp": np.array([100.0, 101.0, 102.0]),
        "bid": np.array([99.9] * 3), "ask": np.array([100.1] * 3),
        "ltq": np.ones(3, dtype=np.int32), "bid_qty": np.ones(3, dtype=np.int32),
        "ask_qty": np.ones(3, dtype=np.int32), "volume": np.ones(3, dtype=np.int64),
        "oi": np.ones(3, dtype=np.int64)}, contracts)
    bars = index_bars(DAY, np.array([50.0, 51.0]))
    catalog.write_bars("NIFTY", DAY, bars | {"security_id": np.array([8, 8])})
    paths = premium_paths(catalog, "NIFTY", DAY, [7, 8])
    assert (paths[7].source, paths[7].price.tolist()) == ("LTP ticks", [100.0, 101.0, 102.0])
    assert (paths[8].source, paths[8].price.tolist()) == ("1m bar closes", [50.0, 51.0])
    assert paths[8].ts.tolist() == (bars["ts"] + 60 * 10**9).tolist()  # at the bar's end
    assert paths[8].low is not None
    assert paths[8].low.tolist() == [48.0, 49.0]
    assert set(premium_paths(catalog, "NIFTY", DAY, [7, 8], prefer_bars=True)) == {7, 8}
    assert premium_paths(catalog, "NIFTY", DAY, [99]) == {}
