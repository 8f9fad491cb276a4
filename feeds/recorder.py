"""Record the live feed into the catalog: the index plus a band of strikes around ATM.

The band is ATM +/- ``strikes_each_side`` strikes of the chosen expiries, recomputed on every
index tick and only ever widened (a strike once recorded stays subscribed, so the day's
series of a contract has no holes made by the band moving). Each row keeps the exchange time
(the packet's last-trade time, an IST wall clock read as UTC by
:func:`brokers.dhan.parsing.utc_from_ltt`) and the receive time. Every ``flush_s`` seconds
the whole day so far is rewritten through :meth:`feeds.catalog.Catalog.write_ticks` (atomic:
a reader sees the previous flush or this one, never a part). Outages are written as gaps
(start, end) to a sidecar JSON file, never filled in.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from brokers.dhan.parsing import FullPacket, Packet, QuotePacket, TickerPacket, utc_from_ltt
from core.clock import ns_from_utc
from feeds.catalog import Catalog

log = logging.getLogger(__name__)

TICK_COLUMNS = ("ts", "recv_ts", "security_id", "ltp", "bid", "ask", "ltq", "bid_qty",
                "ask_qty", "volume", "oi")


@dataclass(frozen=True)
class BandSpec:
    index_security_id: int
    strike_step: float
    strikes_each_side: int
    expiries: tuple[date, ...]


@dataclass
class Gap:
    start_ns: int
    end_ns: int | None = None


@dataclass
class TickRecorder:
    """Collects packets as catalog rows; :meth:`wanted` says what to subscribe."""

    catalog: Catalog
    underlying: str
    day: date
    contracts: list[dict[str, Any]]  # CONTRACT_SCHEMA rows of the day (scrip master)
    band: BandSpec
    rows: dict[str, list] = field(default_factory=lambda: {c: [] for c in TICK_COLUMNS})
    gaps: list[Gap] = field(default_factory=list)
    _recorded: set[int] = field(default_factory=set)
    _oi: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wanted(self, index_ltp: float) -> list[tuple[str, int]]:
        """Index plus the band around ``index_ltp`` (widened, never narrowed)."""
        atm = round(index_ltp / self.band.strike_step) * self.band.strike_step
        reach = self.band.strikes_each_side * self.band.strike_step + 1e-6
        for row in self.contracts:
            if row["security_id"] == self.band.index_security_id or (
                    row.get("expiry") in self.band.expiries
                    and abs(float(row["strike"]) - atm) <= reach):
                self._recorded.add(int(row["security_id"]))
        segments = {int(r["security_id"]): r["segment"] for r in self.contracts}
        return sorted((segments[sid], sid) for sid in self._recorded)

    def on_packet(self, packet: Packet, receive_ns: int) -> None:
        """Add a price packet as a row (OI packets update the contract's open interest)."""
        if isinstance(packet, QuotePacket | FullPacket | TickerPacket):
            row = _row(packet, receive_ns, self._oi.get(packet.security_id, 0))
            with self._lock:
                for name, value in zip(TICK_COLUMNS, row, strict=True):
                    self.rows[name].append(value)
        elif hasattr(packet, "oi"):
            self._oi[packet.security_id] = int(packet.oi)  # type: ignore[attr-defined]

    def gap_started(self, at_ns: int) -> None:
        if not self.gaps or self.gaps[-1].end_ns is not None:
            self.gaps.append(Gap(at_ns))

    def gap_ended(self, at_ns: int) -> None:
        if self.gaps and self.gaps[-1].end_ns is None:
            self.gaps[-1].end_ns = at_ns

    def flush(self) -> int:
        """Write everything recorded so far (atomically); the number of rows written."""
        with self._lock:
            columns = {name: np.asarray(values) for name, values in self.rows.items()}
        count = len(columns["ts"])
        if count:
            ids = set(columns["security_id"].tolist())
            contracts = [r for r in self.contracts if r["security_id"] in ids]
            columns["ts"] = columns["ts"].astype("datetime64[ns]")
            columns["recv_ts"] = columns["recv_ts"].astype("datetime64[ns]")
            self.catalog.write_ticks(self.underlying, self.day, columns, contracts)
        self._write_gaps()
        return count

    def gaps_path(self) -> Path:
        return Path(self.catalog.root) / "recorder" / self.underlying / f"{self.day}-gaps.json"

    def _write_gaps(self) -> None:
        path = self.gaps_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps([{"start_ns": g.start_ns, "end_ns": g.end_ns}
                                   for g in self.gaps]))
        os.replace(tmp, path)


def _row(packet: QuotePacket | FullPacket | TickerPacket, receive_ns: int, oi: int
         ) -> tuple:
    ts = ns_from_utc(utc_from_ltt(packet.ltt))
    bid = ask = math.nan
    bid_qty = ask_qty = ltq = volume = 0
    if isinstance(packet, FullPacket):
        top = packet.depth[0]
        bid = top.bid_price if top.bid_price > 0 else math.nan
        ask = top.ask_price if top.ask_price > 0 else math.nan
        bid_qty, ask_qty, oi = top.bid_qty, top.ask_qty, packet.oi
    if isinstance(packet, QuotePacket | FullPacket):
        ltq, volume = packet.ltq, packet.volume
    return (ts, receive_ns, packet.security_id, packet.ltp, bid, ask, ltq, bid_qty, ask_qty,
            volume, oi)


def record_loop(recorder: TickRecorder, subscribe: Callable[[list[tuple[str, int]]], None],
                index_ltp: Callable[[], float | None], connected: Callable[[], bool],
                now_ns: Callable[[], int], wait: Callable[[float], bool],
                flush_s: float = 5.0, step_s: float = 0.5) -> None:
    """Widen the band, note outages as gaps, flush every ``flush_s``; until ``wait`` says stop.

    ``wait(seconds)`` sleeps and returns True when recording should end (a final flush runs).
    """
    last_flush = now_ns()
    while True:
        ltp = index_ltp()
        if ltp is not None:
            subscribe(recorder.wanted(ltp))
        if connected():
            recorder.gap_ended(now_ns())
        else:
            recorder.gap_started(now_ns())
        if now_ns() - last_flush >= flush_s * 1e9:
            recorder.flush()
            last_flush = now_ns()
        if wait(step_s):
            recorder.flush()
            return
