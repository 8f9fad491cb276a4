"""The replayed market: one catalog day regrouped per instrument, with running day statistics.

Everything an emulated response needs at an instant (last price and trade time, touch and
sizes, day open/high/low, volume, average traded price, OI and its day range, previous close)
is precomputed once per instrument with vectorised numpy, so a lookup at replay time ``t`` is
one binary search. The day's rows also stay in time order (``ts``/``sid``) for the engine that
streams them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from brokers.fills import Quote
from core.calendar import TradingCalendar
from core.errors import MissingDataError
from feeds.catalog import Catalog
from feeds.daybook import group_by_security

log = logging.getLogger(__name__)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class Instrument:
    """One contract of the day (from ``contracts.parquet``)."""

    security_id: int
    segment: str
    underlying: str
    instrument: str  # INDEX or OPTIDX
    expiry: date | None
    strike: float | None
    option_type: str | None  # CE / PE
    lot_size: int
    tick_size: float
    freeze_qty: int | None

    @property
    def is_option(self) -> bool:
        return self.option_type is not None

    @property
    def exchange(self) -> str:
        return "BSE" if self.segment.startswith("BSE") else "NSE"

    @property
    def trading_symbol(self) -> str:
        """Dhan's trading symbol, e.g. ``NIFTY-Oct2024-24500-CE``."""
        if not self.is_option or self.expiry is None or self.strike is None:
            return self.underlying
        return (f"{self.underlying}-{self.expiry:%b%Y}-{_strike_text(self.strike)}"
                f"-{self.option_type}")

    @property
    def custom_symbol(self) -> str:
        """Dhan's display name, e.g. ``NIFTY 10 OCT 24500 CALL``."""
        if not self.is_option or self.expiry is None or self.strike is None:
            return self.underlying
        kind = "CALL" if self.option_type == "CE" else "PUT"
        return (f"{self.underlying} {self.expiry.day:02d} {_MONTHS[self.expiry.month - 1]} "
                f"{_strike_text(self.strike)} {kind}")


def _strike_text(strike: float) -> str:
    return f"{strike:.0f}" if float(strike).is_integer() else f"{strike:g}"


@dataclass(frozen=True)
class Snapshot:
    """An instrument's state as of ``ts_ns`` (the last tick at or before the asked instant)."""

    security_id: int
    ts_ns: int
    ltp: float
    bid: float  # NaN when unknown
    ask: float
    bid_qty: int
    ask_qty: int
    ltq: int
    ltt_ns: int  # last trade time (the row time when the source has no trades, e.g. an index)
    volume: int
    oi: int
    oi_high: int
    oi_low: int
    open: float
    high: float
    low: float
    atp: float
    prev_close: float
    prev_oi: int

    def fill_quote(self) -> Quote:
        """The top of book for the shared fill model."""
        return Quote(ts_ns=self.ts_ns, ltp=self.ltp, bid=_or_none(self.bid),
                     ask=_or_none(self.ask), bid_qty=float(self.bid_qty),
                     ask_qty=float(self.ask_qty))


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


class Series:
    """One instrument's rows plus their running statistics (all numpy, same length)."""

    def __init__(self, cols: dict[str, np.ndarray], prev_close: float, prev_oi: int) -> None:
        self.ts = cols["ts"].astype(np.int64)
        self.ltp = cols["ltp"].astype(np.float64)
        self.bid = cols["bid"].astype(np.float64)
        self.ask = cols["ask"].astype(np.float64)
        self.bid_qty = cols["bid_qty"].astype(np.int64)
        self.ask_qty = cols["ask_qty"].astype(np.int64)
        self.ltq = cols["ltq"].astype(np.int64)
        self.volume = cols["volume"].astype(np.int64)
        self.oi = cols["oi"].astype(np.int64)
        traded = self.ltq > 0
        if not traded.any():  # an index: every row is its own "trade"
            traded = np.ones(len(self.ts), dtype=bool)
        last_trade = np.maximum.accumulate(np.where(traded, self.ts, np.iinfo(np.int64).min))
        self.ltt = np.where(last_trade == np.iinfo(np.int64).min, self.ts, last_trade)
        self.high = np.maximum.accumulate(self.ltp)
        self.low = np.minimum.accumulate(self.ltp)
        self.oi_high = np.maximum.accumulate(self.oi)
        self.oi_low = np.minimum.accumulate(self.oi)
        qty = np.cumsum(self.ltq)
        value = np.cumsum(self.ltp * self.ltq)
        self.atp = np.divide(value, qty, out=np.zeros(len(qty)), where=qty > 0)
        self.prev_close = prev_close
        self.prev_oi = prev_oi

    def index_at(self, at_ns: int) -> int:
        return int(np.searchsorted(self.ts, at_ns, side="right")) - 1

    def snapshot(self, security_id: int, i: int) -> Snapshot:
        return Snapshot(
            security_id=security_id, ts_ns=int(self.ts[i]), ltp=float(self.ltp[i]),
            bid=float(self.bid[i]), ask=float(self.ask[i]), bid_qty=int(self.bid_qty[i]),
            ask_qty=int(self.ask_qty[i]), ltq=int(self.ltq[i]), ltt_ns=int(self.ltt[i]),
            volume=int(self.volume[i]), oi=int(self.oi[i]), oi_high=int(self.oi_high[i]),
            oi_low=int(self.oi_low[i]), open=float(self.ltp[0]), high=float(self.high[i]),
            low=float(self.low[i]), atp=float(self.atp[i]), prev_close=self.prev_close,
            prev_oi=self.prev_oi)


_COLUMNS = ("ts", "security_id", "ltp", "bid", "ask", "bid_qty", "ask_qty", "ltq", "volume",
            "oi")


class EmulatedMarket:
    """One underlying's catalog day, ready for lookups at any replay instant."""

    def __init__(self, underlying: str, day: date, index_id: int,
                 ticks: dict[str, np.ndarray], instruments: list[Instrument],
                 previous: dict[int, tuple[float, int]] | None = None,
                 catalog: Catalog | None = None) -> None:
        self.underlying = underlying
        self.day = day
        self.index_id = index_id
        self.catalog = catalog
        self.instruments = {i.security_id: i for i in instruments}
        if index_id not in self.instruments:
            raise MissingDataError(f"{underlying} {day}: contracts lack the index {index_id}")
        self.ts = np.asarray(ticks["ts"], dtype=np.int64)
        self.sid = np.asarray(ticks["security_id"], dtype=np.int64)
        self._series = _group(ticks, previous or {})
        if index_id not in self._series:
            raise MissingDataError(f"{underlying} {day}: no index ticks (security id {index_id})")
        self.expiries = sorted({i.expiry for i in instruments if i.expiry is not None})

    @classmethod
    def from_catalog(cls, catalog: Catalog, underlying: str, day: date, index_id: int,
                     calendar: TradingCalendar) -> EmulatedMarket:
        """Read ``day`` (and the previous session's last prices, when present)."""
        ticks = catalog.read_ticks(underlying, day, columns=list(_COLUMNS))
        rows = catalog.read_contracts(underlying, day).to_pylist()
        instruments = [Instrument(
            security_id=int(r["security_id"]), segment=str(r["segment"]),
            underlying=str(r["underlying"]), instrument=str(r["instrument"]),
            expiry=r["expiry"], strike=r["strike"], option_type=r["option_type"],
            lot_size=int(r["lot_size"]), tick_size=float(r["tick_size"]),
            freeze_qty=r["freeze_qty"]) for r in rows]
        previous = _previous_session(catalog, underlying, day, calendar, index_id)
        return cls(underlying, day, index_id, ticks, instruments, previous, catalog)

    def instrument(self, security_id: int) -> Instrument | None:
        return self.instruments.get(security_id)

    def has_ticks(self, security_id: int) -> bool:
        return security_id in self._series

    def snapshot(self, security_id: int, at_ns: int) -> Snapshot | None:
        """State of ``security_id`` at ``at_ns``; None before its first tick or if unknown."""
        series = self._series.get(security_id)
        if series is None:
            return None
        i = series.index_at(at_ns)
        return None if i < 0 else series.snapshot(security_id, i)

    def prev_close(self, security_id: int) -> tuple[float, int]:
        """(previous close, previous OI) of an instrument; (0, 0) when unknown."""
        series = self._series.get(security_id)
        return (0.0, 0) if series is None else (series.prev_close, series.prev_oi)

    def cursor(self, at_ns: int) -> int:
        """How many of the day's rows have ``ts <= at_ns``."""
        return int(np.searchsorted(self.ts, at_ns, side="right"))

    def options(self, expiry: date) -> list[Instrument]:
        """Options of ``expiry`` sorted by (strike, CE before PE)."""
        found = [i for i in self.instruments.values() if i.expiry == expiry and i.is_option]
        return sorted(found, key=lambda i: (i.strike or 0.0, i.option_type or ""))

    def trade_columns(self, security_id: int) -> dict[str, np.ndarray] | None:
        """ts, ltp, ltq and oi arrays of one instrument; None when it has no ticks."""
        series = self._series.get(security_id)
        if series is None:
            return None
        return {"ts": series.ts, "ltp": series.ltp, "ltq": series.ltq, "oi": series.oi}


def _group(ticks: dict[str, np.ndarray], previous: dict[int, tuple[float, int]]
           ) -> dict[int, Series]:
    out: dict[int, Series] = {}
    for sid, cols in group_by_security(ticks, _COLUMNS).items():
        prev_close, prev_oi = previous.get(sid, (float(cols["ltp"][0]), int(cols["oi"][0])))
        out[sid] = Series(cols, prev_close, prev_oi)
    return out


def _previous_session(catalog: Catalog, underlying: str, day: date,
                      calendar: TradingCalendar, index_id: int) -> dict[int, tuple[float, int]]:
    """Last (ltp, oi) per security id in the previous session, from its ticks or index bars."""
    prev = calendar.previous_session(day)
    out: dict[int, tuple[float, int]] = {}
    if catalog.has_ticks(underlying, prev):
        ticks = catalog.read_ticks(underlying, prev, columns=["ts", "security_id", "ltp", "oi"])
        ids = ticks["security_id"]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        last = np.flatnonzero(np.r_[sorted_ids[1:] != sorted_ids[:-1], True])
        for j in last:
            row = order[j]
            out[int(ids[row])] = (float(ticks["ltp"][row]), int(ticks["oi"][row]))
    elif catalog.has_bars(underlying, prev):
        bars = catalog.read_bars(underlying, prev, prev, [index_id])
        if bars["close"].size:
            out[index_id] = (float(bars["close"][-1]), 0)
    else:
        log.info("%s %s: previous session %s not in the catalog; previous close = first "
                 "price of the day", underlying, day, prev)
    return out
