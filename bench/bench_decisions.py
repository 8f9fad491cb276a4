"""Per-call cost of the strategy's pure decision work on a real chain (mode=backtest data).

Builds a small catalog (real NIFTY 1m bars from ../shared/realdata with model-priced options;
synthetic sessions when ../shared is absent), opens one day's ``ReplayStore`` and times, in
microseconds per call:

- ``plan_entry`` for a bullish signal at every minute of the session (store chain lookup,
  Black-76 IV/delta enrichment, strike selection, guard, sizing), and its stages alone;
- ``exits.on_tick`` over a held option's bar-close path;
- ``evaluate_signal``, ``Timeframe.update`` and ``iv_rank`` as the scalper calls them.

    python bench/bench_decisions.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for  # noqa: E402
from core.calendar import TradingCalendar  # noqa: E402
from core.clock import utc_from_ns  # noqa: E402
from feeds.bars_csv import import_bars_csv  # noqa: E402
from feeds.catalog import Catalog  # noqa: E402
from feeds.replay import ReplayStore  # noqa: E402
from sim.market import write_days  # noqa: E402
from strategies.entries import _snapshot, plan_entry  # noqa: E402
from strategies.logic import exits  # noqa: E402
from strategies.logic.greeks import enrich_chain  # noqa: E402
from strategies.logic.guard import GuardState  # noqa: E402
from strategies.logic.signal import (  # noqa: E402
    IvRank,
    IvSource,
    SignalResult,
    evaluate_signal,
    iv_rank,
    validate_entry,
)
from strategies.logic.strikes import candidate_filter, select_strikes  # noqa: E402
from strategies.logic.types import Check, Direction  # noqa: E402
from strategies.setup import StrategySetup, build_setup  # noqa: E402
from strategies.timeframes import IST_OFFSET_NS, NS_PER_DAY, Timeframe, warm_up  # noqa: E402

REAL_CSV = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "index_1m" \
    / "NIFTY_2024_1m.csv"
REPEATS = 3  # best of: the machine is shared and noisy


def build_store(root: Path) -> tuple[ReplayStore, StrategySetup, str]:
    app = app_for(root, "mode=backtest", "sim.tick_seconds=5")
    calendar = TradingCalendar(app.data.extra_sessions)
    catalog = Catalog(root)
    if REAL_CSV.exists():
        import_bars_csv(REAL_CSV, catalog, {"NIFTY": 13})
        days = [d for _, d in catalog.bar_days("NIFTY")][40:43]
        write_days(catalog, app.index, app.sim, calendar, days, options="model")
        described = f"real NIFTY bars of {days[-1]}, model-priced options"
    else:
        days = calendar.sessions(date(2024, 3, 1), date(2024, 3, 10))[:3]
        write_days(catalog, app.index, app.sim, calendar, days)
        described = f"synthetic session {days[-1]} (../shared absent)"
    store = ReplayStore(catalog, app.index, calendar, days[-1], app.strategy.warmup_sessions,
                        "bars", app.broker.bar_half_spread_ticks)
    return store, build_setup(app, "b1"), described


def best_us(run: Callable[[], int]) -> float:
    """Best-of-REPEATS microseconds per call; ``run`` returns how many calls it made."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        calls = run()
        best = min(best, (time.perf_counter() - started) / max(calls, 1))
    return best * 1e6


def session_minutes(store: ReplayStore) -> list[datetime]:
    closes = np.asarray(store.index_bars["ts"]) + 60 * 1_000_000_000
    return [utc_from_ns(int(ns)) for ns in closes]


def time_entries(store: ReplayStore, setup: StrategySetup) -> dict[str, float]:
    minutes = session_minutes(store)
    bullish = SignalResult(Direction.BULLISH, (Check("warmup", True, "bench"),))
    guard = GuardState()
    middle = (setup.validation.iv_rank_min + setup.validation.iv_rank_max) / 2
    rank = IvRank(middle, IvSource.REALISED_VOL_PROXY, 100)
    # Only the minutes the validation lets through reach the chain; time those.
    minutes = [now for now in minutes
               if all(c.passed for c in validate_entry(now, True, rank, setup.validation))]
    snapshots = [_snapshot(store, setup, now, Direction.BULLISH) for now in minutes]
    raw = [store.chain(s.expiry, now, setup.chain_strikes_each_side)
           for s, now in zip(snapshots, minutes, strict=True)]
    t_years = [store.trading_years(now, s.expiry) for s, now in zip(snapshots, minutes,
                                                                    strict=True)]

    def plan() -> int:
        for k, now in enumerate(minutes):
            plan_entry(bullish, rank, store, guard, 500_000.0, setup, now, k)
        return len(minutes)

    def enrich_all() -> int:
        for snap, years in zip(raw, t_years, strict=True):
            enrich_chain(snap, years, setup.risk_free_rate)
        return len(raw)

    def enrich_candidates() -> int:
        for snap, years in zip(raw, t_years, strict=True):
            enrich_chain(snap, years, setup.risk_free_rate,
                         only=candidate_filter(snap, Direction.BULLISH, setup.strikes))
        return len(raw)

    def select() -> int:
        for snap, now in zip(snapshots, minutes, strict=True):
            select_strikes(snap, Direction.BULLISH, setup.strikes, now)
        return len(snapshots)

    return {f"plan_entry (bullish, {len(minutes)} minutes)": best_us(plan),
            "  enrich_chain (whole chain)": best_us(enrich_all),
            "  enrich_chain (candidates only, as plan_entry)": best_us(enrich_candidates),
            "  select_strikes": best_us(select)}


def time_exits(store: ReplayStore, setup: StrategySetup) -> dict[str, float]:
    minutes = session_minutes(store)
    snapshot = _snapshot(store, setup, minutes[30], Direction.BULLISH)
    pick = select_strikes(snapshot, Direction.BULLISH, setup.strikes, minutes[30]).picks[0]
    series = store.series(pick.contract.security_id)
    assert series is not None
    # The held option's quotes as ticks, five seconds apart from the entry on.
    prices = [p for p in np.asarray(series.ltp, dtype=float).tolist() if p > 0][:2000]
    times = [minutes[30] + timedelta(seconds=5 * k) for k in range(len(prices))]
    # A wide stop and target so the position stays open through the whole path.
    params = exits.ExitParams(sl_pct=0.99, tp_pct=100.0, exit_price="ltp")
    opened = exits.PositionState.opened(pick.contract.security_id, 75, prices[0], times[0])

    def ticks() -> int:
        state = opened
        for price, now in zip(prices, times, strict=True):
            state, _ = exits.on_tick(state, price, None, now, params)
        return len(prices)

    return {f"exits.on_tick ({len(prices)} ticks)": best_us(ticks)}


def time_signal(store: ReplayStore, setup: StrategySetup) -> dict[str, float]:
    warm = store.warmup_bars
    bars = store.index_bars
    rows = list(zip(np.asarray(bars["high"]).tolist(), np.asarray(bars["low"]).tolist(),
                    np.asarray(bars["close"]).tolist(), np.asarray(bars["ts"]).tolist(),
                    strict=True))
    tf1, tf5 = Timeframe(setup), Timeframe(setup)
    closes: list[float] = []
    days: list[int] = []
    warm_up(tf1, tf5, closes, days, warm, setup.confirm_minutes)

    def update() -> int:
        tf = Timeframe(setup)
        for high, low, close, _ in rows:
            tf.update(high, low, close)
        return len(rows)

    def signal() -> int:
        for _ in rows:
            evaluate_signal(tf1.reading, tf5.reading, setup.signal)
        return len(rows)

    # The scalper keeps its history in growing arrays and passes views: so does this.
    all_closes = np.array(closes + [close for _, _, close, _ in rows])
    all_days = np.array(days + [(ts + 60_000_000_000 + IST_OFFSET_NS) // NS_PER_DAY
                                for _, _, _, ts in rows])

    def rank() -> int:
        for end in range(len(closes) + 1, len(all_closes) + 1):
            iv_rank(None, (), all_closes[:end], setup.iv_rank, all_days[:end])
        return len(rows)

    return {"Timeframe.update": best_us(update), "evaluate_signal": best_us(signal),
            f"iv_rank (growing history, {len(closes)} warm-up bars)": best_us(rank)}


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        store, setup, described = build_store(Path(tmp))
        print(f"data: {described}; {len(store.index_bars['ts'])} session bars")
        figures = (time_entries(store, setup) | time_exits(store, setup)
                   | time_signal(store, setup))
    for name, micros in figures.items():
        print(f"{name:<48} {micros:9.1f} us/call")


if __name__ == "__main__":
    main()
