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
from itertools import compress

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


@dataclass(frozen=True)
class GroupedQuotes:
    """A day's quote columns (``_SERIES_COLUMNS``) regrouped per security id.

    Rows ``starts[k]:ends[k]`` of every column are security ``ids[k]``'s quotes in time
    order; ids ascend. ts is int64, prices float64, the rest as given.
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    columns: dict[str, np.ndarray]

    def series(self) -> dict[int, QuoteSeries]:
        """One QuoteSeries (views into the columns) per security id, ids ascending."""
        cols = [self.columns[name] for name in _SERIES_COLUMNS]
        return {sid: QuoteSeries(*(col[start:end] for col in cols))
                for sid, start, end in zip(self.ids.tolist(), self.starts.tolist(),
                                           self.ends.tolist(), strict=True)}


class DayBook:
    """A day's index and option quotes, grouped per security id."""

    # A finished day's chain lookups; None for a LiveBook, whose series grow while read.
    _chain_index: ChainIndex | None = None

    def __init__(self, underlying: str, day: date, index_id: int,
                 ticks: dict[str, np.ndarray], contracts: Sequence[OptionContract],
                 strike_step: int) -> None:
        self._setup(underlying, day, index_id, group_quotes(ticks), contracts, strike_step)

    @classmethod
    def from_grouped(cls, underlying: str, day: date, index_id: int, quotes: GroupedQuotes,
                     contracts: Sequence[OptionContract], strike_step: int) -> DayBook:
        """A book over quotes already grouped per security (e.g. bar-mode quotes)."""
        book = cls.__new__(cls)
        book._setup(underlying, day, index_id, quotes, contracts, strike_step)
        return book

    def _setup(self, underlying: str, day: date, index_id: int, quotes: GroupedQuotes,
               contracts: Sequence[OptionContract], strike_step: int) -> None:
        self.underlying = underlying
        self.day = day
        self.index_id = index_id
        self.strike_step = strike_step
        self.contracts = {c.security_id: c for c in contracts}
        self._series = quotes.series()
        if index_id not in self._series:
            raise MissingDataError(f"{underlying} {day}: no index ticks (security id {index_id})")
        self.expiries = sorted({c.expiry for c in contracts})
        self._chain_index = ChainIndex(quotes, list(self.contracts.values()))

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
        at_ns = ns_from_utc(at)
        spot_series = self.index
        i = spot_series.index_at(at_ns)  # as index_last(at)
        if i < 0:
            raise MissingDataError(f"{self.underlying} {self.day}: no index tick before {at}")
        spot = float(spot_series.ltp[i])
        atm = round(spot / self.strike_step) * self.strike_step
        width = strikes_each_side * self.strike_step
        chain_index = self._chain_index
        quotes = None if chain_index is None else chain_index.quotes(expiry, atm, width, at_ns)
        if quotes is None:
            quotes = self._scan_chain(expiry, atm, width, at_ns)
        return ChainSnapshot(underlying=self.underlying, expiry=expiry, spot=spot, at=at,
                             quotes=tuple(quotes), strike_step=self.strike_step)

    def _scan_chain(self, expiry: date, atm: int, width: int, at_ns: int) -> list[ChainQuote]:
        """The chain by a walk over every contract: the reference :class:`ChainIndex` keeps."""
        quotes = []
        for contract in self.contracts.values():
            if contract.expiry != expiry or abs(contract.strike - atm) > width:
                continue
            quote = self._chain_quote(contract, at_ns)
            if quote is not None:
                quotes.append(quote)
        quotes.sort(key=_chain_order)
        return quotes

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


class ChainIndex:
    """Chain lookups on a finished day, vectorised across strikes.

    Gives the quotes of :meth:`DayBook._scan_chain`, in the same order: an expiry's
    contracts near one ATM are picked and sorted once, and one binary search over a day-wide
    (security, ts) key finds each one's last quote. :meth:`quotes` returns None where it
    cannot promise that (a NaN strike, a security's quotes out of time order).
    """

    def __init__(self, quotes: GroupedQuotes, contracts: list[OptionContract]) -> None:
        self._quotes = quotes
        self._contracts = contracts
        self._by_expiry: dict[date, _ExpiryStrikes | None] = {}
        self._windows: dict[tuple[date, int, int], _Window | None] = {}
        self._keys: _SearchKeys | None = None
        self._keys_built = False

    def quotes(self, expiry: date, atm: int, width: int, at_ns: int) -> list[ChainQuote] | None:
        """Quotes of ``expiry``'s strikes with |strike - atm| <= width, as of ``at_ns``."""
        keys = self._search_keys()
        window = None if keys is None else self._window(expiry, atm, width, keys.span)
        if keys is None or window is None:
            return None
        rel = at_ns - keys.t0
        if rel < 0 or not window.contracts:
            return []
        target = window.base + min(rel, keys.span - 1)
        pos = np.searchsorted(keys.key, target, side="right") - 1
        found = pos >= window.starts  # else the security has no quote yet
        return self._build(list(compress(window.contracts, found.tolist())), pos[found])

    def _build(self, contracts: list[OptionContract], rows: np.ndarray) -> list[ChainQuote]:
        cols = self._quotes.columns
        values = [cols[name][rows].tolist() for name in _SERIES_COLUMNS]
        stamps: dict[int, datetime] = {}
        out = []
        for contract, ts, ltp, bid, ask, bid_qty, ask_qty, oi in zip(contracts, *values,
                                                                     strict=True):
            stamp = stamps.get(ts)
            if stamp is None:
                stamp = stamps[ts] = utc_from_ns(ts)
            # `x if x > 0 else None` is _known(x) for a Python float, NaN included.
            # Positional (contract, ltp, bid, ask, bid_qty, ask_qty, oi, iv, delta,
            # quote_ts): a quarter cheaper than keywords, for ~20 quotes a snapshot.
            out.append(ChainQuote(contract, ltp, bid if bid > 0 else None,
                                  ask if ask > 0 else None, int(bid_qty), int(ask_qty),
                                  int(oi), None, None, stamp))
        return out

    def _window(self, expiry: date, atm: int, width: int, span: int) -> _Window | None:
        key = (expiry, atm, width)
        if key not in self._windows:  # ATM moves slowly: a day asks a few dozen windows
            if expiry not in self._by_expiry:
                self._by_expiry[expiry] = _expiry_strikes(self._contracts, expiry,
                                                          self._quotes.ids)
            strikes = self._by_expiry[expiry]
            self._windows[key] = None if strikes is None else _window(
                strikes, atm, width, span, self._quotes.starts)
        return self._windows[key]

    def _search_keys(self) -> _SearchKeys | None:
        if not self._keys_built:  # on first use: a day may never ask for a chain
            self._keys = _search_keys(self._quotes)
            self._keys_built = True
        return self._keys


@dataclass(frozen=True)
class _ExpiryStrikes:
    contracts: list[OptionContract]  # sorted by (strike, option type), as the chain lists
    strikes: np.ndarray
    ranks: np.ndarray  # each contract's group in GroupedQuotes; -1 if it has no quotes


def _expiry_strikes(contracts: list[OptionContract], expiry: date,
                    ids: np.ndarray) -> _ExpiryStrikes | None:
    chosen = sorted((c for c in contracts if c.expiry == expiry), key=_contract_order)
    strikes = np.array([c.strike for c in chosen], dtype=np.float64)
    if np.isnan(strikes).any():  # NaN breaks both the range test and the sort order
        return None
    rank = {sid: k for k, sid in enumerate(ids.tolist())}
    ranks = np.array([rank.get(c.security_id, -1) for c in chosen], dtype=np.int64)
    return _ExpiryStrikes(chosen, strikes, ranks)


@dataclass(frozen=True)
class _Window:
    contracts: list[OptionContract]  # near ATM and quoted at some time, in chain order
    base: np.ndarray  # each one's group * span: where its keys start
    starts: np.ndarray  # each one's first row in GroupedQuotes


def _window(strikes: _ExpiryStrikes, atm: int, width: int, span: int,
            group_starts: np.ndarray) -> _Window:
    near = np.flatnonzero(np.abs(strikes.strikes - atm) <= width)
    ranks = strikes.ranks[near]
    quoted = ranks >= 0
    near, ranks = near[quoted], ranks[quoted]
    return _Window([strikes.contracts[j] for j in near.tolist()], ranks * span,
                   group_starts[ranks])


@dataclass(frozen=True)
class _SearchKeys:
    key: np.ndarray  # group * span + (ts - t0): ascending when each group is in time order
    t0: int
    span: int


def _search_keys(quotes: GroupedQuotes) -> _SearchKeys | None:
    ts = quotes.columns["ts"]
    if len(ts) == 0:
        return None
    t0 = int(ts.min())
    span = int(ts.max()) - t0 + 1
    if len(quotes.ids) * span >= 2**63:
        return None
    group = np.repeat(np.arange(len(quotes.ids), dtype=np.int64), quotes.ends - quotes.starts)
    key = group * span + (ts - t0)
    if np.any(np.diff(key) < 0):
        return None
    return _SearchKeys(key, t0, span)


def _contract_order(contract: OptionContract) -> tuple[float, str]:
    return contract.strike, contract.option_type


def _chain_order(quote: ChainQuote) -> tuple[float, str]:
    return quote.contract.strike, quote.contract.option_type


def _known(value: float) -> float | None:
    return None if math.isnan(value) or value <= 0 else float(value)


def group_by_security(ticks: dict[str, np.ndarray],
                      columns: Sequence[str]) -> dict[int, dict[str, np.ndarray]]:
    """``columns`` of a time-sorted tick table split per security id, time order kept.

    One stable argsort for the whole day, then slices: no per-row Python work.
    """
    ids, starts, ends, sorted_columns = _regroup(ticks, columns)
    return {int(ids[start]): {name: col[start:end] for name, col in sorted_columns.items()}
            for start, end in zip(starts, ends, strict=True)}


def group_quotes(ticks: dict[str, np.ndarray]) -> GroupedQuotes:
    """A tick table's quote columns grouped per security id (see :class:`GroupedQuotes`)."""
    ids, starts, ends, cols = _regroup(ticks, _SERIES_COLUMNS)
    typed = {"ts": np.int64, "ltp": np.float64, "bid": np.float64, "ask": np.float64}
    for name, dtype in typed.items():
        cols[name] = cols[name].astype(dtype, copy=False)
    return GroupedQuotes(ids=ids[starts], starts=starts, ends=ends, columns=cols)


def _regroup(ticks: dict[str, np.ndarray], columns: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(ids sorted, group starts, group ends, columns in that order): one stable argsort."""
    ids = np.asarray(ticks["security_id"])
    order = np.argsort(ids, kind="stable")  # stable: time order kept within each id
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    return sorted_ids, starts, ends, {name: np.asarray(ticks[name])[order] for name in columns}


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
