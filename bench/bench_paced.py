"""The paper runtime: /health latency while the engine runs flat out, and pacing accuracy.

1. A simulated NIFTY day (1 s ticks) at ``data.speed=max`` while another thread requests
   ``GET /health`` back to back: latency percentiles of the answers given during the run
   (target: under 100 ms).
2. 09:15-10:15 at ``data.speed=60``: one replayed hour should take about a minute of wall
   time (``--skip-paced`` leaves this out).

    python bench/bench_paced.py [--skip-paced]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_for, simulate  # noqa: E402
from runtime.supervisor import PaperRuntime  # noqa: E402

DAY = date(2024, 10, 9)


def paper_overrides(root: Path, name: str, *extra: str) -> list[str]:
    return ["mode=paper", f"data.days={DAY}", f"db.url=sqlite:///{root}/{name}.db",
            f"paper.kill_file={root}/{name}.kill", f"paper.log_dir={root}/logs",
            "paper.health_port=0", *extra]


def health_latency(root: Path) -> None:
    runtime = PaperRuntime(app_for(root, *paper_overrides(root, "latency")))
    latencies: list[float] = []
    feeds: list[int] = []

    def poll() -> None:
        runtime.ready.wait(120)
        while runtime.status is not None and runtime.status.state in ("starting", "running"):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{runtime.health.url}/health", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                return
            if body["state"] == "running":
                latencies.append(time.perf_counter() - started)
                feeds.append(len(body["feeds"]))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.perf_counter()
    runtime.run()
    engine_s = time.perf_counter() - started
    poller.join(10)
    if not latencies:
        print("no /health answer during the run")
        return
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    print(f"max-speed day in {engine_s:.1f} s; /health answered {len(ms)} times while running "
          f"({max(feeds)} feeds max)")
    print(f"  /health latency ms: median {statistics.median(ms):.1f}  p95 {p95:.1f}  "
          f"max {ms[-1]:.1f}  (target < 100)")


def paced_hour(root: Path) -> None:
    runtime = PaperRuntime(app_for(root, *paper_overrides(
        root, "paced", "data.speed=60", "paper.stop_at=10:15")))
    started = time.perf_counter()
    runtime.run()
    wall = time.perf_counter() - started
    print(f"09:15-10:15 at data.speed=60: {wall:.1f} s wall (ideal 60.0 s, "
          f"ratio {wall / 60.0:.3f}), engine steps {runtime.gate.steps}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app = app_for(root, f"data.days={DAY}")
        print(f"simulated {DAY} (+ warm-up) in {simulate(app, [DAY]):.1f} s")
        health_latency(root)
        if "--skip-paced" not in sys.argv:
            paced_hour(root)


if __name__ == "__main__":
    main()
