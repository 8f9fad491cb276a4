"""One simulated NIFTY tick day through the full strategy vs bare backtrader.

Baseline (DESIGN section 4): bare backtrader, one PandasData feed per instrument (index and
every option contract), an empty strategy, runonce off, over the same ticks. It is run on the
first hour and scaled by rows to the whole day. Target: the full strategy >= 50x faster.

    python bench/bench_replay.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for, simulate  # noqa: E402
from core.calendar import TradingCalendar  # noqa: E402
from feeds.catalog import Catalog  # noqa: E402
from strategies.engine import run_day  # noqa: E402
from strategies.records import MemoryJournal  # noqa: E402
from strategies.setup import build_setup  # noqa: E402

DAY = date(2024, 10, 9)
BASELINE_SECONDS = 3600


class _Empty(bt.Strategy):
    def next(self) -> None:
        pass


def baseline_seconds(ticks: dict[str, np.ndarray], until_ns: int,
                     preload: bool) -> tuple[float, int]:
    """Bare backtrader over the ticks before ``until_ns``: (seconds, rows pushed)."""
    cerebro = bt.Cerebro(stdstats=False, runonce=False, preload=preload)
    keep = ticks["ts"] < until_ns
    rows = 0
    for sid in np.unique(ticks["security_id"][keep]):
        mine = keep & (ticks["security_id"] == sid)
        px = ticks["ltp"][mine]
        frame = pd.DataFrame({"open": px, "high": px, "low": px, "close": px,
                              "volume": 0.0, "openinterest": 0.0},
                             index=pd.to_datetime(ticks["ts"][mine]))
        cerebro.adddata(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Ticks))
        rows += len(frame)
    cerebro.addstrategy(_Empty)
    started = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - started, rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # DESIGN section 4 shape: ~20 contracts all quoting every second (~470k ticks).
        app = app_for(Path(tmp), "mode=replay", "sim.strikes_each_side=2",
                      "sim.far_quote_seconds=1.0")
        sim_s = simulate(app, [DAY])
        catalog = Catalog(app.data.root)
        calendar = TradingCalendar(app.data.extra_sessions)
        ticks = catalog.read_ticks(app.index.name, DAY)
        contracts = len(catalog.read_contracts(app.index.name, DAY)) - 1
        setup = build_setup(app, "b1")
        runs = []
        for _ in range(3):
            journal = MemoryJournal()
            started = time.perf_counter()
            result = run_day(app, setup, catalog, calendar, DAY, app.risk.capital, journal)
            runs.append(time.perf_counter() - started)
        full = min(runs)
        open_ns = int(ticks["ts"].min())
        until = open_ns + BASELINE_SECONDS * 10**9
        baselines = {preload: baseline_seconds(ticks, until, preload)
                     for preload in (True, False)}
    print(f"day {DAY}: {len(ticks['ts']):,} ticks, {contracts} option contracts "
          f"(simulated in {sim_s:.2f} s incl. warm-up day)")
    print(f"full strategy (replay, ticks): best {full:.2f} s of {len(runs)} runs "
          f"({', '.join(f'{r:.2f}' for r in runs)}); {result.trades} trades")
    for preload, (base_s, base_rows) in baselines.items():
        scaled = base_s * len(ticks["ts"]) / base_rows
        print(f"bare backtrader, runonce=False preload={preload}: {base_s:.2f} s for the first "
              f"hour ({base_rows:,} rows), scaled to the day {scaled:.1f} s -> full strategy "
              f"is {scaled / full:.1f}x faster (target >= 50x)")


if __name__ == "__main__":
    main()
