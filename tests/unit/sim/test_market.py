"""The synthetic market: determinism, index path shape, option sanity, bars bridge, catalog."""

from __future__ import annotations

import csv
import dataclasses
from datetime import date, time
from pathlib import Path

import numpy as np
import pytest

from core import black76
from core.calendar import TradingCalendar
from core.clock import IST, ist_to_utc, ns_from_utc, utc_from_ns
from core.config import AppConfig, SimConfig
from core.config_check import compose_config
from core.errors import MalformedDataError, MissingDataError
from core.instruments import IndexRules, contract_name
from feeds.catalog import Catalog
from sim.market import (
    SimulatedDay,
    minute_bars_from_ticks,
    model_day_from_bars,
    simulate_day,
    write_days,
)
from sim.paths import day_rng, round_to_tick, standalone_level, synthetic_path, tick_grid

REAL_CSV = (Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata" / "index_1m"
            / "NIFTY_2024_1m.csv")
DAY = date(2024, 10, 9)  # a Wednesday; the NIFTY weekly expired on Thursday 2024-10-10
NIFTY_ID = 13
MINUTE_NS = 60_000_000_000


@pytest.fixture(scope="module")
def app() -> AppConfig:
    return compose_config(["index=nifty"])


@pytest.fixture(scope="module")
def calendar(app: AppConfig) -> TradingCalendar:
    return TradingCalendar(app.data.extra_sessions)


@pytest.fixture(scope="module")
def small(app: AppConfig) -> SimConfig:
    """A cheap config: one tick every 5 s, two strikes each side."""
    return dataclasses.replace(app.sim, tick_seconds=5.0, strikes_each_side=2)


@pytest.fixture(scope="module")
def full_day(app: AppConfig, calendar: TradingCalendar) -> SimulatedDay:
    """One default NIFTY day (1 s ticks, 5 strikes each side), shared by several tests."""
    return simulate_day(app.index, app.sim, calendar, DAY)


def index_rows(day: SimulatedDay) -> tuple[np.ndarray, np.ndarray]:
    rows = day.ticks["security_id"] == day.contracts[0]["security_id"]
    return day.ticks["ts"][rows], day.ticks["ltp"][rows]


def option_rows(day: SimulatedDay) -> dict[str, np.ndarray]:
    keep = day.ticks["security_id"] != NIFTY_ID
    return {k: v[keep] for k, v in day.ticks.items()}


def on_grid(values: np.ndarray, tick: float = 0.05) -> bool:
    return bool(np.all(np.abs(values / tick - np.round(values / tick)) < 1e-6))


def ist_ns(day: date, hour: int, minute: int, second: int = 0) -> int:
    return ns_from_utc(ist_to_utc(day, time(hour, minute, second)))


def same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype
                                        and a[k].tobytes() == b[k].tobytes() for k in a)


# ----- determinism ---------------------------------------------------------------------------

def test_same_seed_and_day_give_byte_identical_days(app, calendar, small) -> None:
    first = simulate_day(app.index, small, calendar, DAY)
    again = simulate_day(app.index, small, calendar, DAY)
    assert same_arrays(first.ticks, again.ticks)
    assert first.contracts == again.contracts
    assert first.close == again.close


def test_other_seed_or_day_gives_a_different_day(app, calendar, small) -> None:
    base = simulate_day(app.index, small, calendar, DAY)
    other_seed = simulate_day(app.index, dataclasses.replace(small, seed=8), calendar, DAY)
    next_day = simulate_day(app.index, small, calendar, date(2024, 10, 10))
    _, base_path = index_rows(base)
    assert not np.array_equal(base_path, index_rows(other_seed)[1])
    assert not np.array_equal(base_path, index_rows(next_day)[1])


# ----- index path ------------------------------------------------------------------------------

def test_full_day_covers_the_session_on_the_tick_grid(full_day) -> None:
    ts, spot = index_rows(full_day)
    assert ts.size == 22_500
    assert utc_from_ns(int(ts[0])).astimezone(IST).time() == time(9, 15, 0)
    assert utc_from_ns(int(ts[-1])).astimezone(IST).time() == time(15, 29, 59)
    assert np.all(np.diff(ts) == 1_000_000_000)
    assert on_grid(spot)
    assert full_day.close == spot[-1]
    rows = full_day.ticks["security_id"] == NIFTY_ID
    assert np.isnan(full_day.ticks["bid"][rows]).all()
    assert np.isnan(full_day.ticks["ask"][rows]).all()
    for name in ("ltq", "bid_qty", "ask_qty", "volume", "oi"):
        assert not full_day.ticks[name][rows].any()


def test_rows_are_sorted_by_ts_then_security_id(full_day) -> None:
    ts, sid = full_day.ticks["ts"], full_day.ticks["security_id"]
    step = np.diff(ts)
    assert np.all((step > 0) | ((step == 0) & (np.diff(sid) > 0)))
    assert ts.size > 200_000


def test_volatility_is_u_shaped_over_ten_days(app, calendar) -> None:
    early, late, middle = [], [], []
    for day in calendar.sessions(date(2024, 9, 2), date(2024, 9, 13)):
        ts = tick_grid(calendar, day, app.sim.tick_seconds)
        spot, _ = synthetic_path(app.index, app.sim, ts.size, 24_000.0,
                                 day_rng(app.sim, "NIFTY", day, "index"))
        minute_abs = np.abs(np.diff(np.log(spot[::60])))  # 374 one-minute returns
        early.append(minute_abs[:30].mean())
        late.append(minute_abs[-30:].mean())
        middle.append(minute_abs[105:285].mean())  # 11:00-14:00
    assert np.mean(early) > 1.3 * np.mean(middle)
    assert np.mean(late) > 1.05 * np.mean(middle)


def test_trending_and_choppy_regimes_both_occur(app, calendar) -> None:
    trend_moves, chop_moves = [], []
    for day in calendar.sessions(date(2024, 9, 2), date(2024, 9, 13)):
        ts = tick_grid(calendar, day, app.sim.tick_seconds)
        spot, regimes = synthetic_path(app.index, app.sim, ts.size, 24_000.0,
                                       day_rng(app.sim, "NIFTY", day, "index"))
        for regime in regimes:
            move = np.log(spot[regime.stop - 1] / spot[regime.start])
            if regime.direction:
                trend_moves.append(regime.direction * move)
            else:
                chop_moves.append(abs(move))
    directions = {r.direction for r in regimes}
    assert len(trend_moves) >= 10
    assert len(chop_moves) >= 10
    assert directions <= {-1, 0, 1}
    # Trends go their way on average; chop ends nearer its start than trends travel.
    assert np.mean(trend_moves) > 0
    assert np.mean(chop_moves) < np.mean(np.abs(trend_moves))


def test_prev_close_continues_the_path_and_standalone_levels_are_plausible(
        app, calendar, small) -> None:
    chained = simulate_day(app.index, small, calendar, DAY, prev_close=25_012.35)
    assert index_rows(chained)[1][0] == 25_012.35
    sessions = calendar.sessions(date(2024, 9, 2), date(2024, 10, 31))
    levels = [standalone_level(app.index, app.sim, d) for d in sessions]
    assert all(0.9 * 24_000 < level < 1.1 * 24_000 for level in levels)
    gaps = np.diff([d.toordinal() for d in sessions])
    assert np.all(np.abs(np.diff(np.log(levels))) < 0.005 * gaps)  # < 0.5% a calendar day
    assert len(set(levels)) == len(levels)
    standalone = simulate_day(app.index, small, calendar, DAY)
    level = standalone_level(app.index, small, DAY)
    assert index_rows(standalone)[1][0] == round_to_tick(np.array([level]), 0.05)[0]


def test_a_day_that_is_not_a_session_is_refused(app, calendar, small) -> None:
    with pytest.raises(MissingDataError, match="2024-10-13 is not a trading session"):
        simulate_day(app.index, small, calendar, date(2024, 10, 13))


# ----- contracts -------------------------------------------------------------------------------

@pytest.mark.parametrize(("index", "day", "expiry", "lot"), [
    ("nifty", date(2024, 10, 9), date(2024, 10, 10), 25),
    ("nifty", date(2024, 12, 2), date(2024, 12, 5), 75),
    ("nifty", date(2026, 1, 6), date(2026, 1, 6), 65),
    ("banknifty", date(2024, 10, 9), date(2024, 10, 9), 15),
    ("sensex", date(2024, 10, 9), date(2024, 10, 11), 10),
])
def test_contracts_follow_the_dated_rules(index, day, expiry, lot, calendar, small) -> None:
    config = compose_config([f"index={index}"]).index
    made = simulate_day(config, small, calendar, day)
    rules = IndexRules(config, calendar)
    head, options = made.contracts[0], made.contracts[1:]
    assert head == {"security_id": config.security_id, "segment": "IDX_I",
                    "symbol": config.name, "underlying": config.name, "instrument": "INDEX",
                    "expiry": None, "strike": None, "option_type": None, "lot_size": 1,
                    "tick_size": 0.05, "freeze_qty": None}
    assert rules.nearest_expiry(day) == expiry
    assert {c["expiry"] for c in options} == {expiry}
    assert {c["lot_size"] for c in options} == {lot}
    assert {c["segment"] for c in options} == {config.options_segment}
    assert all(c["symbol"] == contract_name(config.name, expiry, c["strike"], c["option_type"])
               for c in options)
    _, spot = index_rows(made)
    strikes = sorted({c["strike"] for c in options})
    step = config.strike_step
    assert np.all(np.diff(strikes) == step)
    assert strikes[0] == rules.atm_strike(spot.min()) - 2 * step
    assert strikes[-1] == rules.atm_strike(spot.max()) + 2 * step
    assert len(options) == 2 * len(strikes)
    ids = [c["security_id"] for c in made.contracts]
    assert len(set(ids)) == len(ids)
    assert all(config.security_id < i < 2**31 for i in ids[1:])


def test_a_contract_keeps_its_security_id_across_days(app, calendar, small) -> None:
    one = simulate_day(app.index, small, calendar, date(2024, 10, 8), prev_close=24_000.0)
    two = simulate_day(app.index, small, calendar, date(2024, 10, 9), prev_close=24_000.0)
    ids_one = {c["symbol"]: c["security_id"] for c in one.contracts}
    ids_two = {c["symbol"]: c["security_id"] for c in two.contracts}
    shared = ids_one.keys() & ids_two.keys()
    assert len(shared) >= 5
    assert all(ids_one[s] == ids_two[s] for s in shared)


def test_more_expiries_on_request_and_later_ones_cost_more(app, calendar, small) -> None:
    made = simulate_day(app.index, small, calendar, DAY, n_expiries=2)
    near, far = IndexRules(app.index, calendar).listed_expiries(DAY, 2)
    assert (near, far) == (date(2024, 10, 10), date(2024, 10, 17))
    ts, spot = index_rows(made)
    atm = IndexRules(app.index, calendar).atm_strike(spot[0])
    first_ask = {}
    for c in made.contracts[1:]:
        if c["strike"] == atm and c["option_type"] == "CE":
            row = np.flatnonzero(made.ticks["security_id"] == c["security_id"])[0]
            assert made.ticks["ts"][row] == ts[0]
            first_ask[c["expiry"]] = made.ticks["ask"][row]
    assert first_ask.keys() == {near, far}
    assert first_ask[far] > first_ask[near] * 1.5


def test_default_nifty_day_has_a_moderate_chain(full_day) -> None:
    assert 20 <= len(full_day.contracts) - 1 <= 50
    ticked = set(np.unique(full_day.ticks["security_id"]).tolist())
    assert ticked == {c["security_id"] for c in full_day.contracts}


# ----- option quotes ---------------------------------------------------------------------------

def test_quotes_are_sane_books_on_the_tick_grid(full_day) -> None:
    opt = option_rows(full_day)
    assert np.all(opt["bid"] < opt["ask"])
    assert np.all(opt["bid"] >= 0.05)
    assert np.all((opt["bid"] <= opt["ltp"]) & (opt["ltp"] <= opt["ask"]))
    for name in ("bid", "ask", "ltp"):
        assert on_grid(opt[name])
    lots = {c["security_id"]: c["lot_size"] for c in full_day.contracts}
    lot = np.array([lots[s] for s in opt["security_id"]])
    for name in ("ltq", "bid_qty", "ask_qty"):
        assert np.all(opt[name] > 0)
        assert np.all(opt[name] % lot == 0)


def test_volume_rises_and_oi_is_thick_near_atm_thin_far_in_the_money(full_day) -> None:
    opt = option_rows(full_day)
    open_spot = index_rows(full_day)[1][0]
    near_oi, all_last_oi = [], []
    for c in full_day.contracts[1:]:
        rows = opt["security_id"] == c["security_id"]
        volume = opt["volume"][rows]
        assert np.all(np.diff(volume) > 0)
        assert volume[0] == opt["ltq"][rows][0]
        all_last_oi.append(opt["oi"][rows][0])
        if abs(c["strike"] - open_spot) <= 50:
            near_oi.append(opt["oi"][rows][0])
    assert near_oi
    assert min(near_oi) >= 50_000
    assert min(all_last_oi) < 50_000  # deep in-the-money strikes fail the OI filter
    assert max(all_last_oi) <= 10_000_000


def test_far_strikes_update_less_often_than_atm(full_day) -> None:
    opt = option_rows(full_day)
    mean_spot = index_rows(full_day)[1].mean()
    counts = {c["strike"]: int((opt["security_id"] == c["security_id"]).sum())
              for c in full_day.contracts[1:] if c["option_type"] == "CE"}
    atm = min(counts, key=lambda k: abs(k - mean_spot))
    farthest = max(counts, key=lambda k: abs(k - mean_spot))
    assert counts[atm] > 10_000  # about one quote a second for most of the day
    assert counts[farthest] < counts[atm] / 2


def test_call_prices_follow_the_index(full_day) -> None:
    ts, spot = index_rows(full_day)
    opt = option_rows(full_day)
    atm = min((c for c in full_day.contracts[1:]),
              key=lambda c: abs(c["strike"] - spot.mean()) + (c["option_type"] == "PE"))
    rows = opt["security_id"] == atm["security_id"]
    mid = (opt["bid"][rows] + opt["ask"][rows]) / 2
    spot_then = spot[np.searchsorted(ts, opt["ts"][rows])]
    assert np.corrcoef(mid, spot_then)[0, 1] > 0.8


def _pair_at(day: SimulatedDay, when: int,
             strike: float) -> tuple[int, dict[str, tuple[float, float]]]:
    """The last instant at or before ``when`` where the CE and PE of ``strike`` both quoted,
    and their (mid, spread) then."""
    rows = {c["option_type"]: np.flatnonzero((day.ticks["security_id"] == c["security_id"])
                                             & (day.ticks["ts"] <= when))
            for c in day.contracts[1:] if c["strike"] == strike}
    common = np.intersect1d(day.ticks["ts"][rows["CE"]], day.ticks["ts"][rows["PE"]])[-1]
    out = {}
    for kind, found in rows.items():
        i = found[np.searchsorted(day.ticks["ts"][found], common)]
        bid, ask = day.ticks["bid"][i], day.ticks["ask"][i]
        out[kind] = ((bid + ask) / 2, ask - bid)
    return int(common), out


@pytest.mark.parametrize(("hour", "minute"), [(9, 30), (11, 0), (13, 30), (15, 0)])
def test_put_call_parity_and_atm_iv_hold_on_mids(full_day, app, calendar, hour,
                                                 minute) -> None:
    ts, spot = index_rows(full_day)
    rate, expiry = app.sim.risk_free_rate, full_day.contracts[1]["expiry"]
    atm = round(spot[np.searchsorted(ts, ist_ns(DAY, hour, minute))] / 50) * 50
    for k in (atm + d for d in (-100, -50, 0, 50, 100)):
        at, pair = _pair_at(full_day, ist_ns(DAY, hour, minute), k)
        t_years = calendar.trading_years(utc_from_ns(at), expiry)
        forward = spot[np.searchsorted(ts, at)] * np.exp(rate * t_years)  # F = S e^{rT}
        (call, call_spread), (put, put_spread) = pair["CE"], pair["PE"]
        # Each mid is within half a tick of the model price; parity is exact in the model.
        parity = np.exp(-rate * t_years) * (forward - k)
        assert abs((call - put) - parity) <= 0.05 + 1e-9
        assert call_spread + put_spread <= 1.0
        if k != atm:
            continue
        implied_forward = black76.implied_forward(call, put, k, t_years, rate)
        assert implied_forward == pytest.approx(forward, abs=0.1)
        for mid, is_call in ((call, True), (put, False)):
            vol = black76.implied_vol(mid, implied_forward, k, t_years, rate, is_call)
            assert vol == pytest.approx(app.sim.iv_level, abs=0.02)


# ----- minute bars and the real-path model -----------------------------------------------------

def test_minute_bars_from_ticks_by_hand() -> None:
    base = ist_ns(DAY, 9, 15)
    ticks = {"ts": np.array([base, base + 10**9, base + 59 * 10**9, base + MINUTE_NS,
                             base + MINUTE_NS, base + 3 * MINUTE_NS], dtype=np.int64),
             "security_id": np.array([13, 13, 13, 13, 99, 13], dtype=np.int64),
             "ltp": np.array([100.0, 101.5, 99.0, 100.5, 7.0, 98.0]),
             "ltq": np.array([0, 0, 0, 0, 5, 0], dtype=np.int32),
             "oi": np.array([0, 0, 0, 0, 10, 0], dtype=np.int64)}
    bars = minute_bars_from_ticks(ticks, 13)
    assert bars["ts"].tolist() == [base, base + MINUTE_NS, base + 3 * MINUTE_NS]
    assert bars["open"].tolist() == [100.0, 100.5, 98.0]
    assert bars["high"].tolist() == [101.5, 100.5, 98.0]
    assert bars["low"].tolist() == [99.0, 100.5, 98.0]
    assert bars["close"].tolist() == [99.0, 100.5, 98.0]
    assert bars["security_id"].tolist() == [13, 13, 13]
    other = minute_bars_from_ticks(ticks, 99)
    assert other["volume"].tolist() == [5]
    assert other["oi"].tolist() == [10]
    with pytest.raises(MissingDataError, match="security_id 42"):
        minute_bars_from_ticks(ticks, 42)


def _random_bars(day: date, count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = ist_ns(day, 9, 15) + np.arange(count, dtype=np.int64) * MINUTE_NS
    close = np.round((24_000 + np.cumsum(rng.normal(0, 8, count))) / 0.05) * 0.05
    opens = np.r_[24_000.0, close[:-1]]
    high = np.maximum(opens, close) + np.round(rng.uniform(0, 6, count) / 0.05) * 0.05
    low = np.minimum(opens, close) - np.round(rng.uniform(0, 6, count) / 0.05) * 0.05
    opens[3], opens[4] = high[3], low[4]  # bars that open at their high / low
    return {"ts": ts, "security_id": np.full(count, NIFTY_ID), "open": np.round(opens, 2),
            "high": np.round(high, 2), "low": np.round(low, 2), "close": np.round(close, 2)}


def _assert_bars_reproduced(day: SimulatedDay, bars: dict[str, np.ndarray]) -> None:
    rebuilt = minute_bars_from_ticks(day.ticks, NIFTY_ID)
    for name in ("ts", "open", "high", "low", "close"):
        np.testing.assert_array_equal(rebuilt[name], bars[name], err_msg=name)


def test_model_day_passes_through_every_bar(app, calendar, small) -> None:
    bars = _random_bars(DAY, 60, seed=1)
    noise = {k: np.r_[v, v[:1]] for k, v in bars.items()}  # another id's bar is ignored
    noise["security_id"][-1] = 25
    made = model_day_from_bars(app.index, small, calendar, DAY, noise)
    _assert_bars_reproduced(made, bars)
    ts, spot = index_rows(made)
    assert ts.size == 60 * 12
    assert on_grid(spot)
    assert made.close == bars["close"][-1]
    again = model_day_from_bars(app.index, small, calendar, DAY, noise)
    assert same_arrays(made.ticks, again.ticks)


def test_model_day_rejects_inconsistent_bars(app, calendar, small) -> None:
    bars = _random_bars(DAY, 10, seed=2)
    bars["high"][5] = bars["low"][5] - 1
    with pytest.raises(MalformedDataError, match="inconsistent OHLC"):
        model_day_from_bars(app.index, small, calendar, DAY, bars)


def _real_day_bars(day: date) -> dict[str, np.ndarray]:
    stamp = day.strftime("%Y%m%d")
    rows = []
    with REAL_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Date"] == stamp:
                hour, minute = (int(x) for x in row["Time"].split(":"))
                rows.append((ist_ns(day, hour, minute),
                             *(float(row[k]) for k in ("Open", "High", "Low", "Close"))))
    return {"ts": np.array([r[0] for r in rows], dtype=np.int64),
            **{k: np.array([r[i + 1] for r in rows])
               for i, k in enumerate(("open", "high", "low", "close"))}}


@pytest.mark.realdata
def test_model_day_on_a_real_nifty_day(app, calendar) -> None:
    if not REAL_CSV.is_file():
        pytest.skip(f"real NIFTY 1m bars absent: {REAL_CSV}")
    bars = _real_day_bars(date(2024, 1, 15))
    assert bars["ts"].size == 375
    made = model_day_from_bars(app.index, app.sim, calendar, date(2024, 1, 15), bars)
    _assert_bars_reproduced(made, bars)
    assert {c["lot_size"] for c in made.contracts[1:]} == {50}
    assert made.contracts[1]["expiry"] == date(2024, 1, 18)


# ----- the catalog -----------------------------------------------------------------------------

def test_write_days_round_trips_chains_and_reproduces_files(app, calendar, small,
                                                            tmp_path) -> None:
    days = [date(2024, 10, 8), date(2024, 10, 9)]
    first, second = Catalog(tmp_path / "a"), Catalog(tmp_path / "b")
    assert write_days(first, app.index, small, calendar, days) == days
    assert write_days(second, app.index, small, calendar, days) == days
    assert write_days(first, app.index, small, calendar, days) == []  # present: skipped
    expected = simulate_day(app.index, small, calendar, days[0])
    chained = simulate_day(app.index, small, calendar, days[1], prev_close=expected.close)
    for day, made in zip(days, (expected, chained), strict=True):
        read = _without_recv(first.read_ticks("NIFTY", day))
        for name, values in made.ticks.items():
            np.testing.assert_array_equal(read[name], values, err_msg=name)
        assert first.read_contracts("NIFTY", day).num_rows == len(made.contracts)
        bars = first.read_bars("NIFTY", day, day, [NIFTY_ID])
        assert bars["close"][-1] == made.close
        for sub in (first.tick_dir("NIFTY", day), first.bar_dir("NIFTY", day)):
            twin = tmp_path / "b" / sub.relative_to(tmp_path / "a")
            for file in sub.iterdir():
                assert file.read_bytes() == (twin / file.name).read_bytes(), file
    before = (first.tick_dir("NIFTY", days[1]) / "part-0.parquet").read_bytes()
    assert write_days(first, app.index, small, calendar, days, overwrite=True) == days
    assert (first.tick_dir("NIFTY", days[1]) / "part-0.parquet").read_bytes() == before


def _without_recv(ticks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in ticks.items() if k != "recv_ts"}


def test_write_days_model_uses_the_catalog_bars(app, calendar, small, tmp_path) -> None:
    catalog = Catalog(tmp_path)
    with pytest.raises(MissingDataError, match="2024-10-09"):
        write_days(catalog, app.index, small, calendar, [DAY], options="model")
    bars = _random_bars(DAY, 30, seed=3)
    zeros = np.zeros(30, dtype=np.int64)
    catalog.write_bars("NIFTY", DAY, bars | {"volume": zeros, "oi": zeros})
    stored = (catalog.bar_dir("NIFTY", DAY) / "part-0.parquet").read_bytes()
    assert write_days(catalog, app.index, small, calendar, [DAY], options="model") == [DAY]
    _assert_bars_reproduced(SimulatedDay("NIFTY", DAY, catalog.read_ticks("NIFTY", DAY), [],
                                         0.0), bars)
    assert (catalog.bar_dir("NIFTY", DAY) / "part-0.parquet").read_bytes() == stored


def test_synthetic_write_never_replaces_bars_without_ticks(app, calendar, small,
                                                           tmp_path) -> None:
    catalog = Catalog(tmp_path)
    bars = _random_bars(DAY, 30, seed=4)
    zeros = np.zeros(30, dtype=np.int64)
    catalog.write_bars("NIFTY", DAY, bars | {"volume": zeros, "oi": zeros})
    stored = (catalog.bar_dir("NIFTY", DAY) / "part-0.parquet").read_bytes()
    assert write_days(catalog, app.index, small, calendar, [DAY]) == []
    assert not catalog.has_ticks("NIFTY", DAY)
    assert (catalog.bar_dir("NIFTY", DAY) / "part-0.parquet").read_bytes() == stored


def test_missing_bars_of_a_stored_day_are_rebuilt_from_its_ticks(app, calendar, small,
                                                                 tmp_path) -> None:
    catalog = Catalog(tmp_path)
    made = simulate_day(app.index, small, calendar, DAY)
    catalog.write_ticks("NIFTY", DAY, made.ticks, made.contracts)
    assert write_days(catalog, app.index, small, calendar, [DAY]) == []
    bars = catalog.read_bars("NIFTY", DAY, DAY)
    assert bars["ts"].size == 375
    assert bars["close"][-1] == made.close
