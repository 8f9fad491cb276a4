"""A year of 1m bars through the full strategy (``mode=backtest``). Target: under 15 s.

Data: the real NIFTY 2024 1m bars from ../shared/realdata (156 sessions) with options priced
by the model on that path; without ../shared, 250 synthetic sessions. Preparing the data
(import, option model, option bars) is timed separately: it happens once per catalog.

    python bench/bench_year_bars.py [--workers N]

The machine's speed drifts (a shared 2-core host): the same run also times bare backtrader
stepping the same days' index 1m bars (one PandasData feed, an empty strategy) and prints
the full strategy's time as a multiple of it, a figure that drifts much less.

``--workers N`` also runs the same days with fixed daily capital (``risk.capital_mode=fixed``,
so the days are independent) in-process and on a LocalCluster of N Dask workers: a different
run from the compounding default, printed apart, for sweeps and walk-forwards.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import backtrader as bt
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for, peak_rss_mb  # noqa: E402
from core.calendar import TradingCalendar  # noqa: E402
from feeds.bar_book import day_bars  # noqa: E402
from feeds.bars_csv import import_bars_csv  # noqa: E402
from feeds.catalog import Catalog  # noqa: E402
from sim.market import write_days  # noqa: E402
from strategies.engine import run_days  # noqa: E402
from strategies.records import MemoryJournal  # noqa: E402
from strategies.setup import build_setup  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "index_1m"
REAL_CSV = REAL / "NIFTY_2024_1m.csv"


def prepare(root: Path) -> tuple[list[date], str, float]:
    """Fill the catalog; returns (days to run, data description, seconds)."""
    started = time.perf_counter()
    app = app_for(root, "sim.tick_seconds=5")
    calendar = TradingCalendar(app.data.extra_sessions)
    catalog = Catalog(root)
    if REAL_CSV.exists():
        report = import_bars_csv(REAL_CSV, catalog, {"NIFTY": 13})
        days = [d for _, d in catalog.bar_days("NIFTY")]
        write_days(catalog, app.index, app.sim, calendar, days, options="model")
        described = f"real NIFTY 1m bars ({report.days_written} sessions), modelled options"
    else:
        days = calendar.sessions(date(2024, 1, 1), date(2024, 12, 31))
        write_days(catalog, app.index, app.sim, calendar, days)
        described = f"{len(days)} synthetic sessions (../shared absent)"
    for day in days:
        day_bars(catalog, app.index, day)  # cache option bars, as a first backtest would
    return days[1:], described, time.perf_counter() - started


class _Empty(bt.Strategy):
    def next(self) -> None:
        pass


def bare_engine_seconds(catalog: Catalog, days: list[date], index_id: int) -> float:
    """Bare backtrader over the days' index 1m bars: the machine-speed reference."""
    bars = catalog.read_bars("NIFTY", days[0], days[-1], security_ids=[index_id])
    frame = pd.DataFrame({"open": bars["open"], "high": bars["high"], "low": bars["low"],
                          "close": bars["close"], "volume": 0.0, "openinterest": 0.0},
                         index=pd.to_datetime(bars["ts"]))
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    cerebro.addstrategy(_Empty)
    started = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - started


def fixed_capital_runs(root: Path, days: list[date], workers: int) -> None:
    """The days with fixed daily capital, in-process and on ``workers`` Dask workers."""
    from core.config import RunConfig
    from jobs.daytasks import DayTask, order_numbers_per_day, run_day_task, with_absolute_root
    from jobs.multiday import dask_client, map_days

    app = with_absolute_root(app_for(root, "mode=backtest", "sim.tick_seconds=5",
                                     "risk.capital_mode=fixed"))
    per_day = order_numbers_per_day(len(days))
    tasks = [DayTask(app, day, i, app.risk.capital, per_day, "y1", keep_journal=False)
             for i, day in enumerate(days)]
    started = time.perf_counter()
    alone = [run_day_task(task) for task in tasks]
    alone_s = time.perf_counter() - started
    spread: list = []
    with dask_client(RunConfig(workers=workers)) as client:
        client.run(_import_engine)
        started = time.perf_counter()
        map_days(client, tasks, spread.append)
        spread_s = time.perf_counter() - started
    trades = [sum(len(o.journal.trades) for o in runs) for runs in (alone, spread)]
    for name, seconds, n in (("in-process", alone_s, trades[0]),
                             (f"{workers} Dask workers", spread_s, trades[1])):
        print(f"fixed capital, {name}: {len(days)} days, {n} trades in {seconds:.1f} s -> "
              f"{250 * seconds / len(days):.1f} s per 250 days")
    print(f"speed-up on {workers} workers: {alone_s / spread_s:.2f}x; same trades: "
          f"{trades[0] == trades[1]}")


def _import_engine() -> None:
    import jobs.daytasks  # noqa: F401  (timings compare days, not imports)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        days, described, prep_s = prepare(root)
        app = app_for(root, "mode=backtest", "sim.tick_seconds=5")
        calendar = TradingCalendar(app.data.extra_sessions)
        journal = MemoryJournal()
        started = time.perf_counter()
        results = run_days(app, build_setup(app, "y1"), Catalog(root), calendar, days, journal)
        elapsed = time.perf_counter() - started
        counts = len(results), len(journal.trades), len(journal.decisions)
        steps = sum(r.engine_steps for r in results)
        # The day tasks collect garbage after each day: a full collection would walk this
        # run's journal (~60k decision records) every time, which a real run does not hold.
        del journal, results
        bare_s = bare_engine_seconds(Catalog(root), days, app.index.security_id)
        if workers:
            fixed_capital_runs(root, days, workers)
    per_day = elapsed / max(counts[0], 1)
    print(f"data: {described}; prepared in {prep_s:.1f} s (once per catalog)")
    print(f"backtest: {counts[0]} days, {counts[1]} trades, "
          f"{counts[2]} decisions in {elapsed:.1f} s ({1000 * per_day:.0f} ms/day); "
          f"{steps} backtrader steps (bars are taken by the strategy, slots driven)")
    print(f"a 250-day year at this rate: {250 * per_day:.1f} s (target < 15 s, ratio "
          f"{250 * per_day / 15:.2f}); peak RSS {peak_rss_mb():.0f} MB")
    print(f"machine-speed reference: bare backtrader steps the same {counts[0]} days' index "
          f"1m bars in {bare_s:.1f} s; the full strategy takes {elapsed / bare_s:.2f}x that")


if __name__ == "__main__":
    main()
