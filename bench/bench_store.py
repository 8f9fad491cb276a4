"""Bar-mode day stores: build time per day, and the cost of the option chain it serves.

A bar backtest builds one ``ReplayStore(..., source="bars")`` per day (read the day's bars and
contracts, group the bar-path quotes per contract, read the warm-up session's index bars) and
asks it for a chain on every entry check. Prints ms/day for the build and us per chain call
(the nearest expiry, 4 strikes each side, every 5 minutes of the session).

    python bench/bench_store.py [CATALOG_ROOT] [DAYS]

CATALOG_ROOT: a catalog whose bars partition already holds option bars (as a first bar
backtest leaves it); its first DAYS NIFTY bar days (default 60) are used. Without it, 20
synthetic sessions are simulated into a temporary catalog first (not timed).
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for, simulate  # noqa: E402
from core.calendar import TradingCalendar  # noqa: E402
from core.config import AppConfig  # noqa: E402
from feeds.bar_book import day_bars  # noqa: E402
from feeds.catalog import Catalog  # noqa: E402
from feeds.replay import ReplayStore  # noqa: E402

REPEATS = 5
CHAIN_STRIKES_EACH_SIDE = 4
CHAIN_EVERY = timedelta(minutes=5)


def build_all(app: AppConfig, catalog: Catalog, calendar: TradingCalendar,
              days: list[date]) -> tuple[float, list[ReplayStore]]:
    """Seconds to build every day's store (best of REPEATS passes) and the last pass's stores."""
    timings, stores = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        stores = [ReplayStore(catalog, app.index, calendar, day, app.strategy.warmup_sessions,
                              "bars", app.broker.bar_half_spread_ticks) for day in days]
        timings.append(time.perf_counter() - started)
    return min(timings), stores


def chain_calls(store: ReplayStore) -> list[tuple[date, datetime]]:
    """(expiry, instant) pairs a day's entry checks might ask, every CHAIN_EVERY."""
    expiry = next(e for e in store.expiries if e >= store.day)
    session_open, session_close = store.calendar.session_bounds(store.day)
    at = session_open + CHAIN_EVERY
    calls = []
    while at < session_close:
        calls.append((expiry, at))
        at += CHAIN_EVERY
    return calls


def time_chains(stores: list[ReplayStore]) -> tuple[float, int, int]:
    """(best seconds for all calls, calls, quotes returned per pass)."""
    work = [(store, expiry, at) for store in stores for expiry, at in chain_calls(store)]
    timings, quotes = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        quotes = sum(len(store.chain(expiry, at, CHAIN_STRIKES_EACH_SIDE).quotes)
                     for store, expiry, at in work)
        timings.append(time.perf_counter() - started)
    return min(timings), len(work), quotes


def synthetic_catalog(root: Path) -> list[date]:
    app = app_for(root, "sim.tick_seconds=5")
    calendar = TradingCalendar(app.data.extra_sessions)
    days = calendar.sessions(date(2024, 10, 1), date(2024, 10, 31))[:20]
    simulate(app, days)
    catalog = Catalog(root)
    for day in days:
        day_bars(catalog, app.index, day)  # cache option bars, as a first backtest would
    return days


def run(root: Path, days: list[date] | None, limit: int) -> None:
    app = app_for(root, "mode=backtest")
    catalog = Catalog(root)
    calendar = TradingCalendar(app.data.extra_sessions)
    if days is None:  # the first bar day is only a warm-up session
        days = [d for _, d in catalog.bar_days(app.index.name)][1:limit + 1]
    build_s, stores = build_all(app, catalog, calendar, days)
    chain_s, calls, quotes = time_chains(stores)
    bars = statistics.mean(len(s.book.index.ts) for s in stores) / 4
    print(f"{len(days)} days ({days[0]}..{days[-1]}), ~{bars:.0f} index bars/day")
    print(f"store: {1000 * build_s / len(days):.1f} ms/day (best of {REPEATS})")
    print(f"chain: {1e6 * chain_s / calls:.0f} us/call, {quotes / calls:.1f} quotes/call, "
          f"{1000 * chain_s / len(days):.2f} ms/day at {calls / len(days):.0f} calls/day")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    if len(sys.argv) > 1:
        run(Path(sys.argv[1]), None, limit)
        return
    with tempfile.TemporaryDirectory() as tmp:
        days = synthetic_catalog(Path(tmp))
        run(Path(tmp), days, limit)


if __name__ == "__main__":
    main()
