"""Per-bar cost of the live signal path over a year of real NIFTY 1m bars.

For every closed 1m bar: the incremental 1m Supertrend + ADX, the 5m ones when a 5m bar
closes, then evaluate_signal. Also times one realised-vol IV-rank proxy over a 20-session
lookback. Skips (exit 0) when ../shared/realdata is absent.

Run from the repo root: PYTHONPATH=. .venv/bin/python bench/bench_signal.py
"""

from __future__ import annotations

import math
import sys
import time as wall
from pathlib import Path

import numpy as np
import pandas as pd

from strategies.logic.indicators import AdxState, SupertrendState, ist_day_numbers
from strategies.logic.signal import (
    IvRankParams,
    SignalParams,
    TimeframeReading,
    evaluate_signal,
    iv_rank,
)

CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata" / "index_1m" \
    / "NIFTY_2024_1m.csv"
IST_OFFSET_NS = 19_800 * 10**9


def load() -> dict[str, np.ndarray]:
    frame = pd.read_csv(CSV, dtype={"Date": str, "Time": str})
    frame = frame[frame["Time"] < "15:30"]  # junk filler bars after the close
    days = pd.to_datetime(frame["Date"], format="%Y%m%d").to_numpy().astype("datetime64[D]")
    minute = (frame["Time"].str.slice(0, 2).astype(int) * 60
              + frame["Time"].str.slice(3, 5).astype(int)).to_numpy()
    ts = (days.astype(np.int64) * 1440 + minute) * 60 * 10**9 - IST_OFFSET_NS
    return {"ts": ts, "minute": minute, "high": frame["High"].to_numpy(np.float64),
            "low": frame["Low"].to_numpy(np.float64),
            "close": frame["Close"].to_numpy(np.float64)}


def run_signal_path(bars: dict[str, np.ndarray]) -> tuple[float, int, dict[str, int]]:
    st1, adx1, st5, adx5 = SupertrendState(), AdxState(), SupertrendState(), AdxState()
    params = SignalParams()
    counts: dict[str, int] = {}
    confirm = TimeframeReading(math.nan, math.nan, math.nan, math.nan)
    high5 = low5 = math.nan
    rows = zip(bars["high"].tolist(), bars["low"].tolist(), bars["close"].tolist(),
               bars["minute"].tolist(), strict=True)
    started = wall.perf_counter()
    for high, low, close, minute in rows:
        line, direction = st1.update(high, low, close)
        adx_value = adx1.update(high, low, close)[0]
        high5 = high if (minute - 555) % 5 == 0 else max(high5, high)
        low5 = low if (minute - 555) % 5 == 0 else min(low5, low)
        if (minute - 555) % 5 == 4:  # the 5m bar closes with its fifth minute
            line5, direction5 = st5.update(high5, low5, close)
            confirm = TimeframeReading(close, line5, direction5,
                                       adx5.update(high5, low5, close)[0])
        primary = TimeframeReading(close, line, direction, adx_value)
        result = evaluate_signal(primary, confirm, params)
        counts[result.direction] = counts.get(result.direction, 0) + 1
    return wall.perf_counter() - started, len(bars["close"]), counts


def time_iv_rank(bars: dict[str, np.ndarray]) -> float:
    days = ist_day_numbers(bars["ts"])
    keep = np.isin(days, np.unique(days)[:20])
    closes, day_ids = bars["close"][keep], days[keep]
    params = IvRankParams()
    repeats = 200
    started = wall.perf_counter()
    for _ in range(repeats):
        iv_rank(None, (), closes, params, day_ids)
    return (wall.perf_counter() - started) / repeats


def main() -> int:
    if not CSV.is_file():
        print(f"skipped: real data absent ({CSV})")
        return 0
    bars = load()
    seconds, n, counts = run_signal_path(bars)
    print(f"signal path: {n} 1m bars in {seconds:.3f} s = {seconds / n * 1e6:.1f} us/bar "
          "(incremental 1m+5m Supertrend/ADX + evaluate_signal; budget 100,000 us)")
    print("directions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    per_call = time_iv_rank(bars)
    print(f"iv_rank realised-vol proxy over 20 sessions (7,500 bars): {per_call * 1e6:.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
