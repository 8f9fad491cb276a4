"""Multi-day runs on Dask workers: simulated tick days in-process, on 1 and on 2 workers.

Prints wall time, speed-up over the in-process run and peak RSS per worker process. For memory
2 workers also run half the days once and the same half-days twice over (twice the days per
worker, same day sizes): a worker holds one day at a time, so its peak should not grow with
the number of days. Target: >= 1.7x on a 2-core machine. Timings are for the days themselves
on warm workers (modules imported); the cluster start is printed apart. Fixed daily capital,
so the days are independent and every run must trade the same.

    python bench/bench_workers.py [DAYS] [TICK_SECONDS]     # default 20 days, 1 s ticks

Heavy imports live inside functions: worker processes are spawned and re-import this module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = date(2024, 9, 2)


def overrides(root: Path, days: int, tick_seconds: float) -> list[str]:
    from core.calendar import TradingCalendar

    sessions = TradingCalendar().sessions(START, date(2024, 12, 31))[:days]
    return ["mode=replay", f"data.root={root}", f"data.days={sessions[0]}:{sessions[-1]}",
            f"sim.tick_seconds={tick_seconds}", "risk.capital_mode=fixed"]


def tasks_for(root: Path, days: int, tick_seconds: float, repeat: int = 1) -> list:
    from core.config_check import compose_config
    from jobs.data_jobs import calendar_for, run_days
    from jobs.daytasks import DayTask, order_numbers_per_day, with_absolute_root

    app = with_absolute_root(compose_config(overrides(root, days, tick_seconds)))
    sessions = run_days(app, calendar_for(app))
    per_day = order_numbers_per_day(len(sessions))
    return [DayTask(app, day, i, app.risk.capital, per_day, "b1", label=f"r{k}")
            for k in range(repeat) for i, day in enumerate(sessions)]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """CPU time this process has used (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def warm_up() -> float:
    """Import what a day needs (on a worker), so timings compare days with days."""
    import jobs.daytasks  # noqa: F401
    import strategies.engine  # noqa: F401

    return peak_rss_mb()


def in_process(root: Path, days: int, tick_seconds: float) -> dict:
    """The in-process run (this is a child process: its peak RSS is the run's own)."""
    from jobs.daytasks import run_day_task

    tasks = tasks_for(root, days, tick_seconds)
    warm_up()
    started, cpu = time.perf_counter(), cpu_seconds()
    outcomes = [run_day_task(task) for task in tasks]
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu,
            "trades": sum(len(o.journal.trades) for o in outcomes),
            "net": round(sum(o.net_pnl for o in outcomes), 2),
            "missing": sum(o.result is None for o in outcomes), "peak_mb": [peak_rss_mb()]}


def on_workers(root: Path, days: int, tick_seconds: float, workers: int,
               repeat: int = 1) -> dict:
    """A fresh LocalCluster of ``workers`` processes; peak RSS read from each worker."""
    from core.config import RunConfig
    from jobs.multiday import dask_client, map_days

    tasks = tasks_for(root, days, tick_seconds, repeat)
    outcomes: list = []
    started = time.perf_counter()
    with dask_client(RunConfig(workers=workers)) as client:
        client.run(warm_up)
        startup = time.perf_counter() - started
        cpu = client.run(cpu_seconds)
        started = time.perf_counter()
        map_days(client, tasks, outcomes.append)
        seconds = time.perf_counter() - started
        cpu_used = sum(after - cpu[worker] for worker, after in client.run(cpu_seconds).items())
        peaks = sorted(client.run(peak_rss_mb).values())
    return {"seconds": seconds, "startup": startup, "cpu": cpu_used,
            "trades": sum(len(o.journal.trades) for o in outcomes),
            "net": round(sum(o.net_pnl for o in outcomes), 2),
            "missing": sum(o.result is None for o in outcomes), "peak_mb": peaks}


def child(kind: str, root: Path, days: int, tick_seconds: float, workers: int = 1,
          repeat: int = 1) -> dict:
    """Run one measurement in a fresh interpreter (clean peak RSS, no shared warm caches)."""
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(root), str(days),
                           str(tick_seconds), str(workers), str(repeat)], check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def simulate(root: Path, days: int, tick_seconds: float) -> float:
    from core.config_check import compose_config
    from jobs.data_jobs import calendar_for, days_with_warmup, ensure_simulated

    app = compose_config(overrides(root, days, tick_seconds))
    started = time.perf_counter()
    ensure_simulated(app, days_with_warmup(app, calendar_for(app)))
    return time.perf_counter() - started


def report(days: int, runs: dict[str, tuple[int, dict]]) -> None:
    seq, two = runs["in-process (1 worker)"][1], runs["Dask, 2 workers"][1]
    print(f"{'run':<34} {'days':>4} {'seconds':>8} {'s/day':>6} {'speed-up':>8} "
          f"{'cores':>5} {'trades':>6} {'net P&L':>11}  peak RSS per process (MB)")
    per_day = seq["seconds"] / days
    for name, (n, r) in runs.items():
        print(f"{name:<34} {n:>4} {r['seconds']:>8.1f} {r['seconds'] / n:>6.2f} "
              f"{per_day * n / r['seconds']:>7.2f}x {r['cpu'] / r['seconds']:>5.2f} "
              f"{r['trades']:>6} {r['net']:>11,.2f}  "
              f"{', '.join(f'{m:.0f}' for m in r['peak_mb'])}")
    print("cores = CPU seconds the day runs got / wall seconds: below the worker count, other "
          "processes were using the cores")
    print(f"cluster start (processes up, modules imported): 1 worker "
          f"{runs['Dask, 1 worker'][1]['startup']:.1f} s, 2 workers {two['startup']:.1f} s")
    speedup = seq["seconds"] / two["seconds"]
    print(f"speed-up on 2 workers: {speedup:.2f}x (target >= 1.7x, ratio {speedup / 1.7:.2f})")
    once, twice = (max(runs[k][1]["peak_mb"]) for k in ("Dask, 2 workers, half", HALF_TWICE))
    print(f"peak RSS per worker, {days // 2} vs the same {days // 2} days twice over: "
          f"{once:.0f} vs {twice:.0f} MB (x{twice / once:.2f}; flat = 1.00)")
    one = runs["Dask, 1 worker"][1]
    same = seq["trades"] == one["trades"] == two["trades"] and seq["net"] == two["net"]
    print(f"same trades and net P&L in-process and on workers: {same}")


HALF_TWICE = "Dask, 2 workers, half, twice over"


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        kind, root, days, tick, workers, repeat = sys.argv[2:8]
        result = (in_process(Path(root), int(days), float(tick)) if kind == "seq" else
                  on_workers(Path(root), int(days), float(tick), int(workers), int(repeat)))
        print(json.dumps(result))
        return
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tick = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"simulated {days} tick days ({tick:g} s ticks) + warm-up in "
              f"{simulate(root, days, tick):.1f} s")
        load = os.getloadavg()
        runs = {
            "in-process (1 worker)": (days, child("seq", root, days, tick)),
            "Dask, 1 worker": (days, child("dask", root, days, tick, 1)),
            "Dask, 2 workers": (days, child("dask", root, days, tick, 2)),
            "Dask, 2 workers, half": (days // 2, child("dask", root, days // 2, tick, 2)),
            HALF_TWICE: (2 * (days // 2), child("dask", root, days // 2, tick, 2, 2)),
        }
        print(f"cpus: {os.cpu_count()}; load average before the runs {load}, after "
              f"{os.getloadavg()} (a load above 0 is other processes sharing the cores)")
        report(days, runs)


if __name__ == "__main__":
    main()
