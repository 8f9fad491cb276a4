"""Write and read back one synthetic NIFTY day of ~500k ticks; prints timings and size.

Run from the repo root: PYTHONPATH=. .venv/bin/python bench/bench_catalog.py
"""

from __future__ import annotations

import tempfile
import time as wall
from datetime import date, time

import numpy as np

from core.clock import ist_to_utc, ns_from_utc
from feeds.catalog import Catalog

DAY = date(2024, 10, 9)
ROWS = 500_000
INDEX_ID = 13


def synthetic_day(rows: int, n_options: int = 80) -> tuple[dict[str, np.ndarray], list[dict]]:
    rng = np.random.default_rng(7)
    start = ns_from_utc(ist_to_utc(DAY, time(9, 15)))
    span = ns_from_utc(ist_to_utc(DAY, time(15, 30))) - start
    ids = np.array([INDEX_ID] + [40_000 + i for i in range(n_options)], dtype=np.int64)
    sid = rng.choice(ids, rows)
    ltp = rng.uniform(50, 300, rows)
    is_index = sid == INDEX_ID
    ticks = {
        "ts": np.sort(start + rng.integers(0, span, rows)),
        "security_id": sid,
        "ltp": ltp,
        "bid": np.where(is_index, np.nan, ltp - 0.05),
        "ask": np.where(is_index, np.nan, ltp + 0.05),
        "ltq": rng.integers(0, 1000, rows).astype(np.int32),
        "bid_qty": rng.integers(0, 5000, rows).astype(np.int32),
        "ask_qty": rng.integers(0, 5000, rows).astype(np.int32),
        "volume": np.cumsum(rng.integers(0, 100, rows)),
        "oi": rng.integers(0, 10_000_000, rows),
    }
    contracts = [dict(security_id=INDEX_ID, segment="IDX_I", symbol="NIFTY", underlying="NIFTY",
                      instrument="INDEX", lot_size=1, tick_size=0.05)]
    for i, s in enumerate(ids[1:]):
        strike = 24000 + 50 * (i // 2)
        kind = "CE" if i % 2 == 0 else "PE"
        contracts.append(dict(security_id=int(s), segment="NSE_FNO", underlying="NIFTY",
                              symbol=f"NIFTY 2024-10-10 {strike} {kind}", instrument="OPTIDX",
                              expiry=date(2024, 10, 10), strike=float(strike), option_type=kind,
                              lot_size=25, tick_size=0.05, freeze_qty=1800))
    return ticks, contracts


def main() -> None:
    ticks, contracts = synthetic_day(ROWS)
    with tempfile.TemporaryDirectory() as root:
        catalog = Catalog(root)
        t0 = wall.perf_counter()
        folder = catalog.write_ticks("NIFTY", DAY, ticks, contracts)
        t1 = wall.perf_counter()
        size = sum(f.stat().st_size for f in folder.iterdir())
        print(f"write {ROWS:,} ticks: {t1 - t0:.3f} s, {size / 1e6:.1f} MB")
        for label, ids in (("all ids", None), ("3 ids", [INDEX_ID, 40_000, 40_001])):
            best = min(_timed(catalog, ids) for _ in range(5))
            print(f"read {label}: best of 5 {best:.3f} s")


def _timed(catalog: Catalog, ids: list[int] | None) -> float:
    t0 = wall.perf_counter()
    catalog.read_ticks("NIFTY", DAY, security_ids=ids)
    return wall.perf_counter() - t0


if __name__ == "__main__":
    main()
