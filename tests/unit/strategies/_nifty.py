"""The real NIFTY 2024 1m bars from ../shared/realdata, as numpy arrays (tests skip if absent)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

NIFTY_1M = (Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata" / "index_1m"
            / "NIFTY_2024_1m.csv")
_IST_OFFSET_NS = 19_800 * 10**9
_NS_PER_MINUTE = 60 * 10**9


@lru_cache(maxsize=1)
def _load() -> dict[str, np.ndarray]:
    frame = pd.read_csv(NIFTY_1M, dtype={"Date": str, "Time": str})
    # Rows at or after 15:30 are junk (the 2024-01-20 special session has flat filler bars).
    frame = frame[frame["Time"] < "15:30"]
    days = pd.to_datetime(frame["Date"], format="%Y%m%d").to_numpy().astype("datetime64[D]")
    hours = frame["Time"].str.slice(0, 2).astype(int).to_numpy()
    minutes = frame["Time"].str.slice(3, 5).astype(int).to_numpy()
    ist_minutes = days.astype(np.int64) * 1440 + hours * 60 + minutes
    bars = {
        "ts": ist_minutes * _NS_PER_MINUTE - _IST_OFFSET_NS,
        "open": frame["Open"].to_numpy(np.float64),
        "high": frame["High"].to_numpy(np.float64),
        "low": frame["Low"].to_numpy(np.float64),
        "close": frame["Close"].to_numpy(np.float64),
        "date": frame["Date"].to_numpy(str),
    }
    for values in bars.values():
        values.setflags(write=False)
    return bars


def nifty_1m() -> dict[str, np.ndarray]:
    """ts (UTC ns, bar start), open, high, low, close, date (YYYYMMDD) of every session bar."""
    if not NIFTY_1M.is_file():
        pytest.skip(f"real data absent: {NIFTY_1M}")
    return _load()
