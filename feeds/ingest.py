"""DhanHQ scrip master import (compact ``SEM_*`` or detailed CSV) and CSV kind detection.

Rules applied once, here, so nothing downstream sees the CSV's conventions:

* Segment: the CSV's ``(EXCH_ID, SEGMENT)`` pair becomes the API segment (:data:`SEGMENT_CODES`).
* Tick size: the files give paise for every segment except indices, whose rows give rupees
  (options ``5.0`` = Rs 0.05, index rows ``0.0500``); we store rupees.
* Underlying: ``UNDERLYING_SYMBOL`` in detailed files; compact files lack it, so it is the
  trading symbol before its ``-Mon2024-`` part (``NIFTY-Oct2024-19600-CE`` -> NIFTY).
  Derivatives link to their index by that symbol, never by ``UNDERLYING_SECURITY_ID``
  (NIFTY options say 26000, the index is IDX_I 13).
* Placeholders become None: expiry ``0001-01-01``, strike ``-0.01``, option type ``XX``.

A bad cell stops the import with the file, line and column; the database is written in one
transaction only after the whole file parsed.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, WallClock
from core.db.models import Derivative, Instrument, WatchlistItem
from core.errors import MalformedDataError, MissingDataError

log = logging.getLogger(__name__)

INDEX_SEGMENT = "IDX_I"
SCRIP_MASTER = "scrip_master"
BARS = "bars"

SEGMENT_CODES: dict[tuple[str, str], str] = {
    ("NSE", "I"): "IDX_I", ("BSE", "I"): "IDX_I",
    ("NSE", "E"): "NSE_EQ", ("BSE", "E"): "BSE_EQ",
    ("NSE", "D"): "NSE_FNO", ("BSE", "D"): "BSE_FNO",
    ("NSE", "C"): "NSE_CURRENCY", ("BSE", "C"): "BSE_CURRENCY",
    ("MCX", "M"): "MCX_COMM",
}

# Compact header -> detailed name; the parser works with detailed names only.
COMPACT_TO_DETAILED: dict[str, str] = {
    "SEM_EXM_EXCH_ID": "EXCH_ID", "SEM_SEGMENT": "SEGMENT",
    "SEM_SMST_SECURITY_ID": "SECURITY_ID", "SEM_INSTRUMENT_NAME": "INSTRUMENT",
    "SM_SYMBOL_NAME": "SYMBOL_NAME", "SEM_CUSTOM_SYMBOL": "DISPLAY_NAME",
    "SEM_EXCH_INSTRUMENT_TYPE": "INSTRUMENT_TYPE", "SEM_SERIES": "SERIES",
    "SEM_LOT_UNITS": "LOT_SIZE", "SEM_EXPIRY_DATE": "SM_EXPIRY_DATE",
    "SEM_STRIKE_PRICE": "STRIKE_PRICE", "SEM_OPTION_TYPE": "OPTION_TYPE",
    "SEM_TICK_SIZE": "TICK_SIZE", "SEM_EXPIRY_FLAG": "EXPIRY_FLAG",
    "SEM_TRADING_SYMBOL": "TRADING_SYMBOL", "SEM_EXPIRY_CODE": "EXPIRY_CODE",
}
_DETAILED_TO_COMPACT = {detailed: compact for compact, detailed in COMPACT_TO_DETAILED.items()}
_REQUIRED = ("EXCH_ID", "SEGMENT", "SECURITY_ID", "INSTRUMENT", "LOT_SIZE", "TICK_SIZE")
_PLACEHOLDERS = frozenset({"", "NA", "XX"})
_NO_EXPIRY_PREFIX = "0001-01-01"
# Which instrument a derivative's underlying symbol names: "{exchange}" is filled in.
_PARENT_SEGMENT = {"OPTIDX": INDEX_SEGMENT, "FUTIDX": INDEX_SEGMENT,
                   "OPTSTK": "{exchange}_EQ", "FUTSTK": "{exchange}_EQ"}
_TRADING_SYMBOL = re.compile(r"^(?P<underlying>.+?)-[A-Za-z]{3}\d{4}(?:-|$)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BAR_TIME_COLUMNS = frozenset({"DATE", "TIME", "DATETIME", "TIMESTAMP"})


@dataclass(frozen=True, slots=True)
class ScripRow:
    """One scrip master row, normalised (API segment, rupee tick, placeholders -> None)."""

    exchange: str
    segment: str
    security_id: int
    instrument: str  # INDEX, EQUITY, OPTIDX, FUTIDX...
    symbol: str  # ticker (NIFTY, INFY) or trading symbol (NIFTY-Oct2024-19600-CE)
    display_name: str
    underlying_symbol: str
    lot_size: int
    tick_size: float  # rupees
    isin: str | None = None
    expiry: date | None = None
    expiry_flag: str | None = None
    strike: float | None = None
    option_type: str | None = None
    freeze_qty: int | None = None
    underlying_security_id: int | None = None
    line: int = field(default=0, compare=False)

    @property
    def is_derivative(self) -> bool:
        """Futures and options: the rows with an expiry, stored in ``derivatives``."""
        return self.segment.endswith("_FNO") or self.instrument.startswith(("FUT", "OPT"))


@dataclass(frozen=True)
class ImportSummary:
    """What one import did; ``unchanged`` rows were already identical in the database."""

    path: str
    rows: int
    instruments_inserted: int
    instruments_updated: int
    derivatives_inserted: int
    derivatives_updated: int
    unchanged: int
    unlinked_derivatives: int
    seeded_indices: bool

    def __str__(self) -> str:
        return (f"{self.path}: {self.rows} rows; instruments +{self.instruments_inserted} "
                f"~{self.instruments_updated}; derivatives +{self.derivatives_inserted} "
                f"~{self.derivatives_updated}; {self.unchanged} unchanged; "
                f"{self.unlinked_derivatives} derivatives without an underlying"
                + ("; index instruments seeded" if self.seeded_indices else ""))


@dataclass(frozen=True)
class IndexSeed:
    """An index the watchlist always carries (the market feed subscribes to it)."""

    symbol: str
    security_id: int
    exchange: str
    display_name: str


DEFAULT_INDEX_SEEDS: tuple[IndexSeed, ...] = (
    IndexSeed("NIFTY", 13, "NSE", "Nifty 50"),
    IndexSeed("BANKNIFTY", 25, "NSE", "Nifty Bank"),
    IndexSeed("SENSEX", 51, "BSE", "Sensex"),
)
_SEED_TICK_SIZE = 0.05
_SEED_LOT_SIZE = 1


def detect_csv_kind(path: Path) -> str:
    """``"scrip_master"`` or ``"bars"`` (Open/High/Low/Close plus Date/Time), by header."""
    names = {_header_name(cell) for cell in _read_header(path)}
    if names & {"SEM_SMST_SECURITY_ID", "SECURITY_ID"}:
        return SCRIP_MASTER
    if {"OPEN", "HIGH", "LOW", "CLOSE"} <= names and names & _BAR_TIME_COLUMNS:
        return BARS
    raise MalformedDataError(
        f"{path.name} line 1: header {sorted(n for n in names if n)} is neither a scrip "
        "master (SECURITY_ID) nor 1m bars (Date/Time/Open/High/Low/Close)")


def parse_scrip_master(path: Path) -> list[ScripRow]:
    """Every row of a compact or detailed scrip master; raises on the first bad cell."""
    by_key: dict[tuple[str, int], ScripRow] = {}
    with _open(path) as handle:
        reader = csv.reader(handle)
        try:
            columns = _Columns(path.name, next(reader, []))
            for raw in reader:
                if any(cell.strip() for cell in raw):
                    row = _parse_row(_Cells(columns, reader.line_num, raw))
                    _keep_unique(columns, by_key, row)
        except (csv.Error, UnicodeDecodeError) as e:
            raise MalformedDataError(
                f"{path.name} line {reader.line_num + 1}: not a readable CSV: {e}") from e
    return list(by_key.values())


def import_scrip_master(session_factory: sessionmaker[Session], path: Path, *,
                        clock: Clock | None = None) -> ImportSummary:
    """Upsert a scrip master keyed on (segment, security_id), all in one transaction."""
    rows = parse_scrip_master(path)
    now = (clock or WallClock()).now()
    instrument_rows = [row for row in rows if not row.is_derivative]
    derivative_rows = [row for row in rows if row.is_derivative]
    seeded = not any(row.segment == INDEX_SEGMENT for row in instrument_rows)
    with session_factory.begin() as session:
        if seeded:
            _seed_indices(session, DEFAULT_INDEX_SEEDS, now)
        inst = _upsert(session, Instrument, [_instrument_values(r) for r in instrument_rows], now)
        parents = _parent_ids(session)
        values = [_derivative_values(row, parents) for row in derivative_rows]
        deriv = _upsert(session, Derivative, values, now)
    unlinked = sum(value["instrument_id"] is None for value in values)
    if unlinked:
        log.warning("%s: %d derivatives have no underlying instrument", path.name, unlinked)
    return ImportSummary(str(path), len(rows), inst[0], inst[1], deriv[0], deriv[1],
                         inst[2] + deriv[2], unlinked, seeded)


def import_catalog_contracts(session_factory: sessionmaker[Session], rows: Sequence[dict],
                             *, clock: Clock | None = None) -> int:
    """Upsert a catalog day's contracts (``contracts.parquet`` rows) as instruments.

    For emulator rehearsals: the emulator serves a catalog day, and the live runtime reads its
    contracts from the instruments DB as it would read an imported scrip master.
    """
    now = (clock or WallClock()).now()
    scrip = [ScripRow(
        exchange="BSE" if str(r["segment"]).startswith("BSE") else "NSE",
        segment=str(r["segment"]), security_id=int(r["security_id"]),
        instrument=str(r["instrument"]), symbol=str(r["symbol"]),
        display_name=str(r["symbol"]), underlying_symbol=str(r["underlying"]),
        lot_size=int(r["lot_size"]), tick_size=float(r["tick_size"]), expiry=r.get("expiry"),
        strike=None if r.get("strike") is None else float(r["strike"]),
        option_type=r.get("option_type"),
        freeze_qty=None if r.get("freeze_qty") is None else int(r["freeze_qty"]))
        for r in rows]
    with session_factory.begin() as session:
        _seed_indices(session, DEFAULT_INDEX_SEEDS, now)
        _upsert(session, Instrument, [_instrument_values(r) for r in scrip
                                      if not r.is_derivative and r.segment != INDEX_SEGMENT],
                now)
        parents = _parent_ids(session)
        _upsert(session, Derivative, [_derivative_values(r, parents) for r in scrip
                                      if r.is_derivative], now)
    return len(scrip)


def seed_watchlist(session_factory: sessionmaker[Session],
                   indices: Sequence[IndexSeed] = DEFAULT_INDEX_SEEDS, *,
                   clock: Clock | None = None) -> None:
    """Ensure the index instruments and their watchlist entries exist (existing rows kept)."""
    now = (clock or WallClock()).now()
    with session_factory.begin() as session:
        _seed_indices(session, indices, now)


# --- parsing -------------------------------------------------------------------------------

class _Columns:
    """Header positions by detailed column name, and the file's own name for messages."""

    def __init__(self, file_name: str, header: list[str]) -> None:
        self.file_name = file_name
        names = [_header_name(cell) for cell in header]
        self.compact = any(name.startswith("SEM_") for name in names)
        self.index: dict[str, int] = {}
        self.original: dict[str, str] = {}
        for position, name in enumerate(names):
            canonical = COMPACT_TO_DETAILED.get(name, name) if self.compact else name
            if canonical and canonical not in self.index:
                self.index[canonical] = position
                self.original[canonical] = name
        symbol_column = ("TRADING_SYMBOL",) if self.compact else ("SYMBOL_NAME",)
        for name in _REQUIRED + symbol_column:
            if name not in self.index:
                shown = _original_name(name, self.compact)
                raise MalformedDataError(
                    f"{file_name} line 1, column {shown}: required column missing")

    def shown(self, name: str) -> str:
        return self.original.get(name) or _original_name(name, self.compact)


class _Cells:
    """One CSV record with typed accessors whose errors name file, line and column."""

    def __init__(self, columns: _Columns, line: int, raw: list[str]) -> None:
        self.columns, self.line, self.raw = columns, line, raw

    def error(self, name: str, message: str) -> MalformedDataError:
        return MalformedDataError(f"{self.columns.file_name} line {self.line}, column "
                                  f"{self.columns.shown(name)}: {message}")

    def text(self, name: str) -> str:
        position = self.columns.index.get(name)
        if position is None or position >= len(self.raw):
            return ""
        return self.raw[position].strip()

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise self.error(name, "empty value in a required column")
        return value

    def optional(self, name: str) -> str | None:
        value = self.text(name)
        return None if value.upper() in _PLACEHOLDERS else value

    def number(self, name: str) -> float:
        value = self.required(name)
        try:
            number = float(value)
        except ValueError:
            raise self.error(name, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise self.error(name, f"{value!r} is not a finite number")
        return number

    def whole(self, name: str) -> int:
        number = self.number(name)
        if not number.is_integer() or number < 0:
            raise self.error(name, f"{self.text(name)!r} is not a whole number >= 0")
        return int(number)

    def optional_whole(self, name: str) -> int | None:
        """A whole number, or None for a blank, a placeholder or 0 (Dhan's 'not given')."""
        if self.optional(name) is None:
            return None
        return self.whole(name) or None

    def expiry(self) -> date | None:
        value = self.text("SM_EXPIRY_DATE")
        if not value or value.startswith(_NO_EXPIRY_PREFIX):
            return None
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            raise self.error("SM_EXPIRY_DATE", f"{value!r} is not a date") from None


def _parse_row(cells: _Cells) -> ScripRow:
    exchange = cells.required("EXCH_ID").upper()
    code = cells.required("SEGMENT").upper()
    segment = SEGMENT_CODES.get((exchange, code))
    if segment is None:
        raise cells.error("SEGMENT", f"unknown exchange/segment {exchange}+{code}")
    tick = cells.number("TICK_SIZE")
    strike_text = cells.optional("STRIKE_PRICE")
    strike = cells.number("STRIKE_PRICE") if strike_text is not None else None
    row = ScripRow(
        exchange=exchange, segment=segment, security_id=cells.whole("SECURITY_ID"),
        instrument=cells.required("INSTRUMENT").upper(), symbol="", display_name="",
        underlying_symbol="", lot_size=cells.whole("LOT_SIZE"),
        tick_size=round(tick if segment == INDEX_SEGMENT else tick / 100, 6),
        isin=cells.optional("ISIN"), expiry=cells.expiry(),
        expiry_flag=(cells.optional("EXPIRY_FLAG") or "").upper() or None,
        strike=strike if strike is not None and strike > 0 else None,
        option_type=_option_type(cells), freeze_qty=cells.optional_whole("SM_FREEZE_QTY"),
        underlying_security_id=cells.optional_whole("UNDERLYING_SECURITY_ID"), line=cells.line)
    row = _with_symbols(cells, row)
    if row.is_derivative:
        _check_derivative(cells, row)
    return row


def _option_type(cells: _Cells) -> str | None:
    value = (cells.optional("OPTION_TYPE") or "").upper()
    if value not in ("", "CE", "PE"):
        raise cells.error("OPTION_TYPE", f"{value!r} is not CE, PE or XX")
    return value or None


def _with_symbols(cells: _Cells, row: ScripRow) -> ScripRow:
    """Fill symbol, underlying and display name (compact and detailed files differ here)."""
    if cells.columns.compact:
        symbol = cells.required("TRADING_SYMBOL")
        underlying = _underlying_of(symbol) if row.is_derivative else symbol
    else:
        name = cells.optional("SYMBOL_NAME") or ""
        underlying = (cells.optional("UNDERLYING_SYMBOL") or _underlying_of(name)).upper()
        if not underlying:
            raise cells.error("SYMBOL_NAME", "no symbol in SYMBOL_NAME or UNDERLYING_SYMBOL")
        symbol = _trading_symbol(name, underlying, row) if row.is_derivative else underlying
    display = cells.optional("DISPLAY_NAME") or symbol
    return replace(row, symbol=symbol, underlying_symbol=underlying, display_name=display)


def _underlying_of(trading_symbol: str) -> str:
    match = _TRADING_SYMBOL.match(trading_symbol)
    return match["underlying"] if match else trading_symbol.split("-", 1)[0]


def _trading_symbol(name: str, underlying: str, row: ScripRow) -> str:
    """Detailed SENSEX options say ``BSXOPT``: rebuild Dhan's NSE-style trading symbol."""
    if name.upper().startswith(f"{underlying}-") or row.expiry is None:
        return name or underlying
    month = f"{_MONTHS[row.expiry.month - 1]}{row.expiry.year}"
    if row.strike is None or row.option_type is None:
        return f"{underlying}-{month}-FUT"
    strike = f"{row.strike:f}".rstrip("0").rstrip(".")
    return f"{underlying}-{month}-{strike}-{row.option_type}"


def _check_derivative(cells: _Cells, row: ScripRow) -> None:
    if row.expiry is None:
        raise cells.error("SM_EXPIRY_DATE", "a derivative needs an expiry date")
    if row.lot_size < 1:
        raise cells.error("LOT_SIZE", f"lot size {row.lot_size} of a derivative is not >= 1")
    if row.instrument.startswith("OPT") and (row.strike is None or row.option_type is None):
        raise cells.error("STRIKE_PRICE", "an option needs a strike and CE/PE")


def _keep_unique(columns: _Columns, by_key: dict[tuple[str, int], ScripRow],
                 row: ScripRow) -> None:
    """A repeated identical row is harmless; a repeated key with other values is not."""
    key = (row.segment, row.security_id)
    earlier = by_key.get(key)
    if earlier is not None and earlier != row:
        raise MalformedDataError(
            f"{columns.file_name} line {row.line}, column {columns.shown('SECURITY_ID')}: "
            f"{row.segment} {row.security_id} already given differently on line {earlier.line}")
    by_key.setdefault(key, row)


# --- writing -------------------------------------------------------------------------------

def _instrument_values(row: ScripRow) -> dict[str, Any]:
    return {"exchange": row.exchange, "segment": row.segment, "security_id": row.security_id,
            "symbol": row.symbol, "display_name": row.display_name,
            "instrument": row.instrument, "lot_size": row.lot_size,
            "tick_size": row.tick_size, "isin": row.isin}


def _derivative_values(row: ScripRow, parents: dict[tuple[str, ...], int]) -> dict[str, Any]:
    parent_segment = _PARENT_SEGMENT.get(row.instrument, "").format(exchange=row.exchange)
    parent_id = parents.get((parent_segment, row.underlying_symbol, row.exchange),
                            parents.get((parent_segment, row.underlying_symbol)))
    return {"exchange": row.exchange, "segment": row.segment, "security_id": row.security_id,
            "symbol": row.symbol, "display_name": row.display_name,
            "instrument": row.instrument, "underlying_symbol": row.underlying_symbol,
            "instrument_id": parent_id, "expiry": row.expiry, "expiry_flag": row.expiry_flag,
            "strike": row.strike, "option_type": row.option_type, "lot_size": row.lot_size,
            "tick_size": row.tick_size, "freeze_qty": row.freeze_qty}


def _parent_ids(session: Session) -> dict[tuple[str, ...], int]:
    """Instrument ids by (segment, symbol, exchange), and by (segment, symbol) as fallback."""
    ids: dict[tuple[str, ...], int] = {}
    query = select(Instrument.id, Instrument.segment, Instrument.symbol, Instrument.exchange)
    for id_, segment, symbol, exchange in session.execute(query.order_by(Instrument.id)):
        ids[(segment, symbol, exchange)] = id_
        ids.setdefault((segment, symbol), id_)
    return ids


def _upsert(session: Session, model: type[Instrument] | type[Derivative],
            values: list[dict[str, Any]], now: datetime) -> tuple[int, int, int]:
    """Insert new keys, update changed rows; returns (inserted, updated, unchanged)."""
    if not values:
        return 0, 0, 0
    names = list(values[0])
    columns = [getattr(model, name) for name in names]
    existing = {(stored.segment, stored.security_id): stored
                for stored in session.execute(select(model.id, *columns))}
    inserts, updates = [], []
    for value in values:
        stored = existing.get((value["segment"], value["security_id"]))
        if stored is None:
            inserts.append({**value, "updated_at": now})
        elif any(getattr(stored, name) != value[name] for name in names):
            updates.append({**value, "id": stored.id, "updated_at": now})
    if inserts:
        session.execute(insert(model), inserts)
    if updates:
        session.execute(update(model), updates)
    return len(inserts), len(updates), len(values) - len(inserts) - len(updates)


def _seed_indices(session: Session, indices: Sequence[IndexSeed], now: datetime) -> None:
    for seed in indices:
        key = (INDEX_SEGMENT, seed.security_id)
        if session.scalar(select(Instrument.id).where(
                Instrument.segment == key[0], Instrument.security_id == key[1])) is None:
            session.add(Instrument(
                exchange=seed.exchange, segment=INDEX_SEGMENT, security_id=seed.security_id,
                symbol=seed.symbol, display_name=seed.display_name, instrument="INDEX",
                lot_size=_SEED_LOT_SIZE, tick_size=_SEED_TICK_SIZE, isin=None, updated_at=now))
        if session.scalar(select(WatchlistItem.id).where(
                WatchlistItem.segment == key[0], WatchlistItem.security_id == key[1])) is None:
            session.add(WatchlistItem(segment=INDEX_SEGMENT, security_id=seed.security_id,
                                      label=seed.symbol, kind="index", active=True))
    session.flush()


# --- helpers -------------------------------------------------------------------------------

def _header_name(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().upper()


def _original_name(name: str, compact: bool) -> str:
    return _DETAILED_TO_COMPACT.get(name, name) if compact else name


def _open(path: Path) -> Any:
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file")
    return path.open(newline="", encoding="utf-8-sig")


def _read_header(path: Path) -> list[str]:
    try:
        with _open(path) as handle:
            header = next(csv.reader(handle), None)
    except (csv.Error, UnicodeDecodeError) as e:
        raise MalformedDataError(f"{path.name}: not a readable CSV: {e}") from e
    if not header:
        raise MalformedDataError(f"{path.name} line 1: empty file, expected a CSV header")
    return header
