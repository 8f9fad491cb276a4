"""Benchmark: simulate one default NIFTY day, write it to a temp catalog, read it back.

Run from the repo root: PYTHONPATH=. .venv/bin/python bench/bench_simulate.py [YYYY-MM-DD]
Prints each figure with its target and the ratio figure/target (below 1.0 is within target).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from typing import TypeVar

from core.calendar import TradingCalendar
from core.config_check import compose_config
from feeds.catalog import PART_FILE, Catalog
from sim.market import simulate_day

T = TypeVar("T")

SIMULATE_TARGET_S = 10.0
READ_TARGET_S = 0.5
REPEATS = 3


def _best_of(repeats: int, action: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``repeats`` runs of ``action`` and the last result."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    day = date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else date(2024, 10, 9)
    app = compose_config(["index=nifty"])
    calendar = TradingCalendar(app.data.extra_sessions)
    calendar.is_session(day)  # load the exchange calendar outside the timed part
    simulate_s, made = _best_of(REPEATS, lambda: simulate_day(app.index, app.sim, calendar,
                                                              day))
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(tmp)
        start = time.perf_counter()
        folder = catalog.write_ticks("NIFTY", day, made.ticks, made.contracts)
        write_s = time.perf_counter() - start
        size = (folder / PART_FILE).stat().st_size
        read_s, ticks = _best_of(REPEATS, lambda: catalog.read_ticks("NIFTY", day))
    rows = made.ticks["ts"].size
    assert ticks["ts"].size == rows
    print(f"NIFTY {day}, default SimConfig (tick {app.sim.tick_seconds} s, "
          f"{app.sim.strikes_each_side} strikes each side), best of {REPEATS}")
    print(f"  contracts        {len(made.contracts) - 1} options + 1 index")
    print(f"  rows             {rows:,}")
    print(f"  simulate         {simulate_s:.3f} s   target < {SIMULATE_TARGET_S} s   "
          f"ratio {simulate_s / SIMULATE_TARGET_S:.3f}")
    print(f"  write parquet    {write_s:.3f} s   (one run)")
    print(f"  parquet size     {size / 1e6:.1f} MB   ({size / rows:.1f} bytes/row)")
    print(f"  read back numpy  {read_s:.3f} s   target < {READ_TARGET_S} s   "
          f"ratio {read_s / READ_TARGET_S:.3f}")


if __name__ == "__main__":
    main()
