"""Catalog schemas, the validation of what is written, and the plain reads of bar days.

Kept apart from :mod:`feeds.catalog` (which re-exports the schemas) so each stays small.
Every rejection is a MalformedDataError naming the partition, column and row. The bar
reads list one underlying's day folders and open one day's file directly, instead of a
pyarrow dataset discovery of the whole tree per call (most of a bar day's read time).
"""

from __future__ import annotations

import collections
import functools
import os
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import date, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.clock import IST, ist_to_utc, ns_from_utc, utc_from_ns
from core.errors import MalformedDataError

TS_TYPE = pa.timestamp("ns", tz="UTC")
# A null timestamp (recv_ts of non-live data) read back as int64: numpy's NaT bit pattern.
NULL_TS = np.iinfo(np.int64).min

TICK_SCHEMA = pa.schema([
    pa.field("ts", TS_TYPE, nullable=False),
    pa.field("recv_ts", TS_TYPE, nullable=True),
    pa.field("security_id", pa.int64(), nullable=False),
    pa.field("ltp", pa.float64(), nullable=False),
    pa.field("bid", pa.float64(), nullable=False),
    pa.field("ask", pa.float64(), nullable=False),
    pa.field("ltq", pa.int32(), nullable=False),
    pa.field("bid_qty", pa.int32(), nullable=False),
    pa.field("ask_qty", pa.int32(), nullable=False),
    pa.field("volume", pa.int64(), nullable=False),
    pa.field("oi", pa.int64(), nullable=False),
])

BAR_SCHEMA = pa.schema([
    pa.field("ts", TS_TYPE, nullable=False),
    pa.field("security_id", pa.int64(), nullable=False),
    pa.field("open", pa.float64(), nullable=False),
    pa.field("high", pa.float64(), nullable=False),
    pa.field("low", pa.float64(), nullable=False),
    pa.field("close", pa.float64(), nullable=False),
    pa.field("volume", pa.int64(), nullable=False),
    pa.field("oi", pa.int64(), nullable=False),
])

CONTRACT_SCHEMA = pa.schema([
    pa.field("security_id", pa.int64(), nullable=False),
    pa.field("segment", pa.string(), nullable=False),
    pa.field("symbol", pa.string(), nullable=False),
    pa.field("underlying", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("expiry", pa.date32(), nullable=True),
    pa.field("strike", pa.float64(), nullable=True),
    pa.field("option_type", pa.string(), nullable=True),
    pa.field("lot_size", pa.int32(), nullable=False),
    pa.field("tick_size", pa.float64(), nullable=False),
    pa.field("freeze_qty", pa.int32(), nullable=True),
])

OPTION_SEGMENTS = frozenset({"NSE_FNO", "BSE_FNO"})
_SORT_KEYS = [("ts", "ascending"), ("security_id", "ascending")]
BAR_ORDER = _SORT_KEYS  # the order read_bars returns
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Names pyarrow's dataset discovery skips; the bar listing skips the same.
_HIDDEN_PREFIXES = (".", "_")


def prepare_ticks(ticks: Mapping[str, object] | pa.Table, day: date, where: str) -> pa.Table:
    """Ticks conformed to TICK_SCHEMA, checked to lie on ``day`` (IST), sorted by (ts, id)."""
    table = conform(ticks, TICK_SCHEMA, where)
    _check_on_day(table, day, where)
    return _sorted(table)


def prepare_bars(bars: Mapping[str, object] | pa.Table, day: date, where: str) -> pa.Table:
    """Bars conformed to BAR_SCHEMA, on ``day``, sorted, unique per (ts, id), sane OHLC."""
    table = _sorted(conform(bars, BAR_SCHEMA, where))
    _check_on_day(table, day, where)
    ts, sid = _ts_ns(table), _col(table, "security_id")
    dup = np.flatnonzero((ts[1:] == ts[:-1]) & (sid[1:] == sid[:-1]))
    if dup.size:
        raise MalformedDataError(f"{where}: two bars for security_id {sid[dup[0]]} at "
                                 f"{_ist(ts[dup[0]])} (after sorting, row {dup[0] + 1})")
    _check_ohlc(table, where)
    return table


def prepare_contracts(contracts: pa.Table | list[dict], underlying: str, where: str) -> pa.Table:
    """Contracts conformed to CONTRACT_SCHEMA and checked row by row (the table is small)."""
    if not isinstance(contracts, pa.Table):
        contracts = _rows_to_columns(contracts, where)
    table = conform(contracts, CONTRACT_SCHEMA, where)
    sids = _col(table, "security_id")
    values, counts = np.unique(sids, return_counts=True)
    if (counts > 1).any():
        raise MalformedDataError(f"{where}: contracts list security_id {values[counts > 1][0]} "
                                 "more than once")
    for i, row in enumerate(table.to_pylist()):
        problem = _contract_problem(row, underlying)
        if problem:
            raise MalformedDataError(
                f"{where}: contracts row {i} (security_id {row['security_id']}): {problem}")
    return table


def conform(data: Mapping[str, object] | pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    """Columns by name, cast safely to ``schema``; a missing nullable column becomes null.

    Integer timestamps are ns since the epoch (UTC); numpy datetime64 is taken as UTC, but a
    zone-less timestamp inside a pyarrow table is refused (likely IST wall clock by mistake).
    """
    names = data.column_names if isinstance(data, pa.Table) else list(data)
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise MalformedDataError(f"{where}: unknown column(s) {unknown}; expected {schema.names}")
    arrays: list[pa.Array | pa.ChunkedArray | None] = []
    for field in schema:
        if field.name not in names:
            if not field.nullable:
                raise MalformedDataError(f"{where}: missing column {field.name!r}")
            arrays.append(None)
            continue
        raw = data.column(field.name) if isinstance(data, pa.Table) else data[field.name]
        arrays.append(_cast_column(raw, field, where))
    lengths = {len(a) for a in arrays if a is not None}
    if len(lengths) > 1:
        raise MalformedDataError(f"{where}: columns have different lengths {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    if n_rows == 0:
        raise MalformedDataError(f"{where}: no rows to write")
    arrays = [pa.nulls(n_rows, f.type) if a is None else a
              for a, f in zip(arrays, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _cast_column(raw: object, field: pa.Field, where: str) -> pa.Array | pa.ChunkedArray:
    try:
        arr = raw if isinstance(raw, pa.Array | pa.ChunkedArray) else pa.array(raw)
        source = arr.type
        if pa.types.is_timestamp(field.type):
            arr = _to_utc_timestamps(arr, from_numpy=isinstance(raw, np.ndarray))
        else:
            arr = arr.cast(field.type, safe=True)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise MalformedDataError(
            f"{where}: column {field.name!r} cannot be read as {field.type}: {e}") from e
    if not field.nullable and arr.null_count:
        raise MalformedDataError(f"{where}: column {field.name!r} ({source}) has "
                                 f"{arr.null_count} null value(s)")
    return arr


def _to_utc_timestamps(arr: pa.Array | pa.ChunkedArray,
                       from_numpy: bool) -> pa.Array | pa.ChunkedArray:
    kind = arr.type
    if pa.types.is_integer(kind):
        return arr.cast(pa.int64()).cast(TS_TYPE)
    if pa.types.is_timestamp(kind):
        if kind.tz is None and not from_numpy:
            raise TypeError("timestamp has no time zone; give UTC (or int64 ns since epoch)")
        return arr.cast(TS_TYPE, safe=True)
    if pa.types.is_null(kind):
        return arr.cast(TS_TYPE)
    raise TypeError(f"{kind} is not a timestamp")


def _rows_to_columns(rows: list[dict], where: str) -> dict[str, list]:
    for i, row in enumerate(rows):
        unknown = sorted(set(row) - set(CONTRACT_SCHEMA.names))
        if unknown:
            raise MalformedDataError(f"{where}: contracts row {i} has unknown key(s) {unknown}")
    present = [n for n in CONTRACT_SCHEMA.names if any(n in row for row in rows)]
    return {name: [row.get(name) for row in rows] for name in present}


def _contract_problem(row: dict, underlying: str) -> str | None:
    """What is wrong with one contract row, or None."""
    if row["underlying"] != underlying:
        return f"underlying {row['underlying']!r} is not {underlying!r}"
    if row["lot_size"] <= 0 or not row["tick_size"] > 0:
        return f"lot_size {row['lot_size']} and tick_size {row['tick_size']} must be > 0"
    option_fields = (row["expiry"], row["strike"], row["option_type"])
    if row["instrument"] == "INDEX":
        if row["segment"] != "IDX_I":
            return f"an INDEX must be in segment IDX_I, not {row['segment']!r}"
        if any(v is not None for v in option_fields):
            return "an INDEX has no expiry, strike or option_type"
        return None
    if row["instrument"] != "OPTIDX":
        return f"instrument {row['instrument']!r} is not INDEX or OPTIDX"
    if row["segment"] not in OPTION_SEGMENTS:
        return f"an OPTIDX must be in {sorted(OPTION_SEGMENTS)}, not {row['segment']!r}"
    if row["expiry"] is None or row["strike"] is None:
        return "an OPTIDX needs expiry and strike"
    if row["option_type"] not in ("CE", "PE"):
        return f"option_type {row['option_type']!r} is not CE or PE"
    return None


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _ts_ns(table: pa.Table) -> np.ndarray:
    return table.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)


def _ist(ns: int) -> str:
    return utc_from_ns(int(ns)).astimezone(IST).isoformat()


def _sorted(table: pa.Table) -> pa.Table:
    ts, sid = _ts_ns(table), _col(table, "security_id")
    step = np.diff(ts)
    if np.all((step > 0) | ((step == 0) & (np.diff(sid) >= 0))):
        return table
    # Arrow's sort_indices is stable: ticks with equal (ts, id) keep their arrival order.
    return table.take(pc.sort_indices(table, sort_keys=_SORT_KEYS))


def _check_on_day(table: pa.Table, day: date, where: str) -> None:
    ts = _ts_ns(table)
    lo = ns_from_utc(ist_to_utc(day, time(0)))
    hi = ns_from_utc(ist_to_utc(day + timedelta(days=1), time(0)))
    outside = np.flatnonzero((ts < lo) | (ts >= hi))
    if outside.size:
        i = outside[0]
        raise MalformedDataError(f"{where}: ts {_ist(ts[i])} (row {i}, {outside.size} row(s) "
                                 f"in all) is not on {day} IST")


def _check_ohlc(table: pa.Table, where: str) -> None:
    o, h, lo, c = (_col(table, n) for n in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
                & (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MalformedDataError(
            f"{where}: bar at {_ist(_ts_ns(table)[i])} has inconsistent or non-finite OHLC "
            f"{o[i]}, {h[i]}, {lo[i]}, {c[i]} ({int(bad.sum())} bad bar(s))")


# ----- reading bar days ------------------------------------------------------------------

def bar_files(base: Path, underlying: str, start: date, end: date) -> list[Path]:
    """The files of ``underlying``'s date partitions in [start, end], in path order.

    Reads what the hive dataset discovery read: every visible file (no leading ``.`` or
    ``_``) below a ``date=YYYY-MM-DD`` folder. Any other visible file in the underlying's
    folder (a ``date=junk`` folder holding files, a stray file) is a bad layout: discovery
    failed on the first and silently read the second into every range.
    """
    folder = base / f"underlying={underlying}"
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise MalformedDataError(f"{base}: bad partition layout: {e}") from e
    in_range: list[os.DirEntry] = []
    stray: list[os.DirEntry] = []
    for entry in entries:
        if entry.name.startswith(_HIDDEN_PREFIXES):
            continue
        day = _partition_day(entry.name)
        if day is None or not entry.is_dir():
            stray.append(entry)
        elif start <= day <= end:
            in_range.append(entry)
    for entry in sorted(stray, key=_entry_name):
        _refuse_stray(base, entry)
    files: list[Path] = []
    for entry in sorted(in_range, key=_entry_name):
        files += _visible_files(Path(entry.path))
    return files


@functools.lru_cache(maxsize=8192)  # pure; a catalog holds a few hundred day names
def _partition_day(name: str) -> date | None:
    """The day of a ``date=YYYY-MM-DD`` folder name; None for any other name."""
    key, sep, value = name.partition("=")
    if key != "date" or not sep or not _DAY_RE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # e.g. 2024-02-30
        return None


def _entry_name(entry: os.DirEntry) -> str:
    return entry.name


def _refuse_stray(base: Path, entry: os.DirEntry) -> None:
    """An entry that is no date partition is harmless only while it holds no file."""
    if entry.is_dir() and not _visible_files(Path(entry.path)):
        return
    raise MalformedDataError(f"{base}: bad partition layout: {entry.path} is not a "
                             "date=YYYY-MM-DD folder")


def _visible_files(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError as e:
        raise MalformedDataError(f"{folder}: bad partition layout: {e}") from e
    files: list[Path] = []
    for entry in sorted(entries, key=_entry_name):
        if entry.name.startswith(_HIDDEN_PREFIXES):
            continue
        if entry.is_dir():
            files += _visible_files(Path(entry.path))
        else:
            files.append(Path(entry.path))
    return files


class RecentBarFiles:
    """The last few bar files read whole, as read-only arrays.

    A multi-day backtest reads each day's file twice: as the day itself, and again as the
    next day's warm-up (often through a new Catalog: the cache is the process's). A file
    is found again only while its (inode, size, mtime) are unchanged, so a day rewritten in
    between is read afresh.
    """

    def __init__(self, size: int = 3) -> None:
        self._size = size
        self._files: collections.OrderedDict[tuple, dict[str, np.ndarray]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()  # a catalog may serve several threads

    def read(self, path: Path, security_ids: Sequence[int] | None,
             base: Path) -> dict[str, np.ndarray] | None:
        """:func:`read_bar_file`, from memory when this very file was read lately."""
        try:
            stat = path.stat()
        except OSError as e:
            raise MalformedDataError(f"{path}: unreadable parquet: {e}") from e
        key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            bars = self._files.get(key)
            if bars is not None:
                self._files.move_to_end(key)
        if bars is None:
            bars = read_bar_file(path, None, base)
            if bars is None:
                return None
            bars = {name: _read_only(column) for name, column in bars.items()}
            with self._lock:
                self._files[key] = bars
                while len(self._files) > self._size:
                    self._files.popitem(last=False)
        return _only_ids(bars, security_ids)


def read_bar_file(path: Path, security_ids: Sequence[int] | None,
                  base: Path) -> dict[str, np.ndarray] | None:
    """One bars file read whole, sorted and filtered as the dataset scan would return it.

    None when the file's schema is not exactly BAR_SCHEMA: the scan then casts it.
    """
    try:
        with pq.ParquetFile(path) as parquet:
            if not parquet.schema_arrow.equals(BAR_SCHEMA):
                return None
            table = parquet.read(columns=BAR_SCHEMA.names)
    except (pa.ArrowException, OSError) as e:
        raise MalformedDataError(f"{path}: unreadable parquet: {e}") from e
    if not _in_bar_order(table):
        table = table.sort_by(BAR_ORDER)
    return _only_ids(to_numpy(table, BAR_SCHEMA, base), security_ids)


def _only_ids(bars: dict[str, np.ndarray],
              security_ids: Sequence[int] | None) -> dict[str, np.ndarray]:
    if security_ids is None:
        return bars
    wanted = np.array([int(s) for s in security_ids], dtype=np.int64)
    keep = np.isin(bars["security_id"], wanted)
    return {name: _read_only(column[keep]) for name, column in bars.items()}


def _in_bar_order(table: pa.Table) -> bool:
    """True when rows are already sorted by (ts, security_id): sorting would keep them."""
    ts = table.column("ts")
    if ts.null_count:
        return False
    ts_ns = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    sid = _col(table, "security_id")
    step = np.diff(ts_ns)
    return bool(np.all((step > 0) | ((step == 0) & (np.diff(sid) >= 0))))


def _read_only(array: np.ndarray) -> np.ndarray:
    # Same as the zero-copy arrays of an unfiltered read, so no caller comes to rely on
    # writing into one.
    array.flags.writeable = False
    return array


def to_numpy(table: pa.Table, schema: pa.Schema, source: Path) -> dict[str, np.ndarray]:
    """Each column converted once; timestamps as int64 ns, null timestamps as NULL_TS."""
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        target = schema.field(name).type
        try:
            if pa.types.is_timestamp(target):
                column = column.cast(TS_TYPE).cast(pa.int64()).fill_null(NULL_TS)
            elif column.null_count and pa.types.is_integer(target):
                raise MalformedDataError(f"{source}: column {name!r} has nulls")
            else:
                column = column.cast(target)
            out[name] = column.to_numpy(zero_copy_only=False)
        except pa.ArrowException as e:
            raise MalformedDataError(f"{source}: column {name!r} is not {target}: {e}") from e
    return out
