"""Peak memory of a 20-day tick replay (one day in memory at a time). Target: < 600 MB.

Simulation runs in a separate process first, so the figure is the replay's own peak RSS.

    python bench/bench_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for, peak_rss_mb, simulate  # noqa: E402
from core.calendar import TradingCalendar  # noqa: E402
from feeds.catalog import Catalog  # noqa: E402
from strategies.engine import run_days  # noqa: E402
from strategies.records import MemoryJournal  # noqa: E402
from strategies.setup import build_setup  # noqa: E402

DAYS = 20
START = date(2024, 9, 2)


def replay(root: Path) -> None:
    app = app_for(root, "mode=replay")
    calendar = TradingCalendar(app.data.extra_sessions)
    days = calendar.sessions(START, date(2024, 12, 31))[:DAYS]
    before = peak_rss_mb()
    started = time.perf_counter()
    journal = MemoryJournal()
    results = run_days(app, build_setup(app, "m1"), Catalog(root), calendar, days, journal)
    elapsed = time.perf_counter() - started
    print(f"replayed {len(results)} tick days ({len(journal.trades)} trades) in {elapsed:.1f} s "
          f"({elapsed / len(results):.2f} s/day)")
    print(f"peak RSS {peak_rss_mb():.0f} MB (after imports {before:.0f} MB); target < 600 MB, "
          f"ratio {peak_rss_mb() / 600:.2f}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--replay":
        replay(Path(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        app = app_for(Path(tmp))
        calendar = TradingCalendar(app.data.extra_sessions)
        days = calendar.sessions(START, date(2024, 12, 31))[:DAYS]
        print(f"simulated {DAYS} days + warm-up in {simulate(app, days):.1f} s")
        subprocess.run([sys.executable, __file__, "--replay", tmp], check=True)


if __name__ == "__main__":
    main()
