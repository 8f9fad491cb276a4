"""Coarser bars built one finer bar at a time: the strategy's confirmation timeframe.

The incremental twin of :func:`strategies.logic.indicators.resample_ohlc` (which prepares the
warm-up): same buckets, aligned to the IST session open, never spanning two IST days. A
bucket is complete, and handed out, when a bar closing on its right edge arrives; a bucket
left short by missing bars is handed out when the first bar of a later bucket arrives, as
backtrader's resampler does. The live, paper and replay engines all go through this one
rule, so warm-up and session bars are bucketed alike whatever the confirmation minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

_NS_PER_MINUTE = 60_000_000_000
_IST_OFFSET_NS = 19_800_000_000_000  # IST = UTC + 05:30
_MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Bucket:
    """One coarse bar: ``ts`` its start (UTC ns), ``count`` the finer bars in it."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    count: int


class BarBuckets:
    """Accumulates ``minutes``-wide buckets from 1m bars given in time order."""

    def __init__(self, minutes: int, session_open: time = time(9, 15),
                 bar_minutes: int = 1) -> None:
        if int(minutes) != minutes or minutes < 1:
            raise ValueError(f"bucket minutes must be a positive integer, got {minutes!r}")
        self.minutes = minutes
        self.bar_minutes = bar_minutes
        self._open_minute = session_open.hour * 60 + session_open.minute
        self._key = -1
        self._start_ns = 0
        self._end_minute = 0
        self._ohlc = (0.0, 0.0, 0.0, 0.0)
        self._count = 0
        self.emitted = 0

    def add(self, start_ns: int, open_: float, high: float, low: float,
            close: float) -> tuple[Bucket, ...]:
        """Add the bar starting at ``start_ns``; returns the buckets it completes (0-2)."""
        ist_minute = (start_ns + _IST_OFFSET_NS) // _NS_PER_MINUTE
        day = ist_minute // _MINUTES_PER_DAY
        index = (ist_minute - day * _MINUTES_PER_DAY - self._open_minute) // self.minutes
        key = day * _MINUTES_PER_DAY + index
        done: tuple[Bucket, ...] = ()
        if key != self._key:
            if self._count:
                done = (self._take(),)
            bucket_minute = day * _MINUTES_PER_DAY + self._open_minute + index * self.minutes
            self._key, self._count = key, 0
            self._start_ns = bucket_minute * _NS_PER_MINUTE - _IST_OFFSET_NS
            self._end_minute = bucket_minute + self.minutes
        if self._count:
            o, h, lo, _ = self._ohlc
            self._ohlc = (o, max(h, high), min(lo, low), close)
        else:
            self._ohlc = (open_, high, low, close)
        self._count += 1
        if ist_minute + self.bar_minutes >= self._end_minute:  # closes on the right edge
            done += (self._take(),)
        return done

    def _take(self) -> Bucket:
        o, h, lo, c = self._ohlc
        bucket = Bucket(self._start_ns, o, h, lo, c, self._count)
        self._count = 0
        self.emitted += 1
        return bucket
