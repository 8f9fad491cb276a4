"""One replayed day in memory: each contract's quotes as numpy arrays, chain snapshots on demand.

The catalog gives a day's ticks sorted by time across all instruments; the book regroups them
by security id once (one stable argsort), so a chain snapshot at any instant is a binary
search per strike and a slot streams its contract's own arrays: no per-tick work for
contracts nobody holds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from core.clock import ns_from_utc, utc_from_ns
from core.errors import MissingDataError
from core.instruments import OptionContract, OptionType
from strategies.logic.types import ChainQuote, ChainSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuoteSeries:
    """One instrument's quotes in time order (prices float64; NaN where unknown)."""

    ts: np.ndarray
    ltp: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    oi: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def index_at(self, at_ns: int) -> int:
        """Index of the last quote at or before ``at_ns``; -1 if none yet."""
        return int(np.searchsorted(self.ts, at_ns, side="right")) - 1


_SERIES_COLUMNS = ("ts", "ltp", "bid", "ask", "bid_qty", "ask_qty", "oi")


class DayBook:
    """A day's index and option quotes, grouped per security id."""

    def __init__(self, underlying: str, day: date, index_id: int,
                 ticks: dict[str, np.ndarray], contracts: Sequence[OptionContract],
                 strike_step: int) -> None:
        self.underlying = underlying
        self.day = day
        self.index_id = index_id
        self.strike_step = strike_step
        self.contracts = {c.security_id: c for c in contracts}
        self._series = _group_by_security(ticks)
        if index_id not in self._series:
            raise MissingDataError(f"{underlying} {day}: no index ticks (security id {index_id})")
        self.expiries = sorted({c.expiry for c in contracts})

    @property
    def index(self) -> QuoteSeries:
        return self._series[self.index_id]

    def series(self, security_id: int) -> QuoteSeries | None:
        return self._series.get(security_id)

    def last_quote(self, security_id: int, at_ns: int) -> tuple[int, float] | None:
        """(ts ns, ltp) of ``security_id``'s last quote at or before ``at_ns``; None if none."""
        series = self._series.get(security_id)
        i = -1 if series is None else series.index_at(at_ns)
        return None if i < 0 else (int(series.ts[i]), float(series.ltp[i]))  # type: ignore[union-attr]

    def index_last(self, at: datetime) -> tuple[int, float] | None:
        """(ts ns, ltp) of the last index tick at or before ``at``."""
        i = self.index.index_at(ns_from_utc(at))
        return None if i < 0 else (int(self.index.ts[i]), float(self.index.ltp[i]))

    def chain(self, expiry: date, at: datetime, strikes_each_side: int) -> ChainSnapshot:
        """Quotes of ``expiry``'s strikes within ``strikes_each_side`` steps of ATM at ``at``.

        A strike without any quote yet is left out (it cannot be traded); quotes carry
        their own timestamps so the guard can judge staleness.
        """
        last = self.index_last(at)
        if last is None:
            raise MissingDataError(f"{self.underlying} {self.day}: no index tick before {at}")
        spot = last[1]
        atm = round(spot / self.strike_step) * self.strike_step
        width = strikes_each_side * self.strike_step
        at_ns = ns_from_utc(at)
        quotes = []
        for contract in self.contracts.values():
            if contract.expiry != expiry or abs(contract.strike - atm) > width:
                continue
            quote = self._chain_quote(contract, at_ns)
            if quote is not None:
                quotes.append(quote)
        quotes.sort(key=lambda q: (q.contract.strike, q.contract.option_type))
        return ChainSnapshot(underlying=self.underlying, expiry=expiry, spot=spot, at=at,
                             quotes=tuple(quotes), strike_step=self.strike_step)

    def _chain_quote(self, contract: OptionContract, at_ns: int) -> ChainQuote | None:
        series = self._series.get(contract.security_id)
        if series is None:
            return None
        i = series.index_at(at_ns)
        if i < 0:
            return None
        return ChainQuote(
            contract=contract, ltp=float(series.ltp[i]), bid=_known(series.bid[i]),
            ask=_known(series.ask[i]), bid_qty=int(series.bid_qty[i]),
            ask_qty=int(series.ask_qty[i]), oi=int(series.oi[i]),
            quote_ts=utc_from_ns(int(series.ts[i])))


def _known(value: float) -> float | None:
    return None if math.isnan(value) or value <= 0 else float(value)


def group_by_security(ticks: dict[str, np.ndarray],
                      columns: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
    """``columns`` of a time-sorted tick table split per security id, time order kept.

    One stable argsort for the whole day, then slices: no per-row Python work.
    """
    ids = np.asarray(ticks["security_id"])
    order = np.argsort(ids, kind="stable")  # stable: time order kept within each id
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    sorted_columns = {name: np.asarray(ticks[name])[order] for name in columns}
    return {int(sorted_ids[start]): {name: col[start:end]
                                     for name, col in sorted_columns.items()}
            for start, end in zip(starts, ends, strict=True)}


def _group_by_security(ticks: dict[str, np.ndarray]) -> dict[int, QuoteSeries]:
    return {sid: QuoteSeries(
                ts=cols["ts"].astype(np.int64, copy=False),
                ltp=cols["ltp"].astype(np.float64, copy=False),
                bid=cols["bid"].astype(np.float64, copy=False),
                ask=cols["ask"].astype(np.float64, copy=False),
                bid_qty=cols["bid_qty"], ask_qty=cols["ask_qty"], oi=cols["oi"])
            for sid, cols in group_by_security(ticks, _SERIES_COLUMNS).items()}


def contracts_from_table(rows: list[dict], underlying: str) -> list[OptionContract]:
    """Option contracts from a day's ``contracts.parquet`` rows (index row skipped)."""
    out = []
    for row in rows:
        if row.get("instrument") == "INDEX" or row.get("option_type") is None:
            continue
        out.append(OptionContract(
            security_id=int(row["security_id"]), segment=str(row["segment"]),
            underlying=underlying, expiry=row["expiry"], strike=float(row["strike"]),
            option_type=OptionType(row["option_type"]), lot_size=int(row["lot_size"]),
            tick_size=float(row["tick_size"]),
            freeze_qty=None if row.get("freeze_qty") is None else int(row["freeze_qty"])))
    return out


def minute_bars(series: QuoteSeries, session_open_ns: int) -> dict[str, np.ndarray]:
    """1m OHLC of a series' LTP, bars aligned to the session open, ``ts`` = bar start."""
    minute = 60 * 1_000_000_000
    valid = ~np.isnan(series.ltp)
    ts, px = series.ts[valid], series.ltp[valid]
    if len(ts) == 0:
        return {k: np.empty(0) for k in ("ts", "open", "high", "low", "close")}
    bucket = (ts - session_open_ns) // minute
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    return {
        "ts": session_open_ns + bucket[starts] * minute,
        "open": px[starts],
        "high": np.maximum.reduceat(px, starts),
        "low": np.minimum.reduceat(px, starts),
        "close": px[ends - 1],
    }
