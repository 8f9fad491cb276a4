"""The Parquet market-data catalog: Hive-partitioned ticks and bars under one root folder.

Layout (DESIGN.md section 5)::

    <root>/ticks/underlying=NIFTY/date=2024-10-09/part-0.parquet     # ticks, sorted by ts
    <root>/ticks/underlying=NIFTY/date=2024-10-09/contracts.parquet  # that day's contracts
    <root>/bars/interval=1m/underlying=NIFTY/date=2024-10-09/part-0.parquet

A day is one partition folder, written into a hidden temp folder next to it, fsynced, then
renamed into place, so readers see either the old day, no day, or the new day, never a part.
Hidden names (leading ``.``) are skipped by pyarrow dataset discovery and by the listings.
One writer per day at a time is assumed.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from core.errors import MalformedDataError, MissingDataError
from feeds.catalog_tables import (
    BAR_ORDER,
    BAR_SCHEMA,
    CONTRACT_SCHEMA,
    NULL_TS,
    TICK_SCHEMA,
    TS_TYPE,
    RecentBarFiles,
    bar_files,
    prepare_bars,
    prepare_contracts,
    prepare_ticks,
    to_numpy,
)

__all__ = [
    "BAR_SCHEMA", "CONTRACT_SCHEMA", "NULL_TS", "TICK_SCHEMA", "TS_TYPE",
    "Catalog", "CatalogEntry", "format_summary",
]

logger = logging.getLogger(__name__)

PART_FILE = "part-0.parquet"
CONTRACTS_FILE = "contracts.parquet"
# ~4 row groups for a busy day: enough for parallel decode, few enough to keep footers small.
ROW_GROUP_ROWS = 131_072
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class CatalogEntry:
    """One line of :meth:`Catalog.summary`: a kind/underlying/interval series of days."""

    kind: str  # "ticks" or "bars"
    underlying: str
    interval: str | None  # None for ticks
    first_day: date
    last_day: date
    days: int
    rows: int
    bytes: int


# Process-wide, not per Catalog: the day tasks of a run open a Catalog per day.
_RECENT_BARS = RecentBarFiles()


class Catalog:
    """Reads and writes market data under ``root`` (see the module docstring for the layout)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ----- paths and listings -------------------------------------------------------------

    def tick_dir(self, underlying: str, day: date) -> Path:
        """The partition folder of one underlying's ticks on ``day``."""
        return (self.root / "ticks" / f"underlying={_checked_name(underlying)}"
                / f"date={_day_text(day)}")

    def bar_dir(self, underlying: str, day: date, interval: str = "1m") -> Path:
        """The partition folder of one underlying's ``interval`` bars on ``day``."""
        return (self._bar_base(interval) / f"underlying={_checked_name(underlying)}"
                / f"date={_day_text(day)}")

    def _bar_base(self, interval: str) -> Path:
        return self.root / "bars" / f"interval={_checked_name(interval)}"

    def has_ticks(self, underlying: str, day: date) -> bool:
        """True when the tick partition of ``day`` exists (ticks and contracts)."""
        folder = self.tick_dir(underlying, day)
        return (folder / PART_FILE).is_file() and (folder / CONTRACTS_FILE).is_file()

    def has_bars(self, underlying: str, day: date, interval: str = "1m") -> bool:
        """True when the bar partition of ``day`` exists."""
        return (self.bar_dir(underlying, day, interval) / PART_FILE).is_file()

    def tick_days(self, underlying: str | None = None) -> list[tuple[str, date]]:
        """Sorted (underlying, day) pairs that have ticks, optionally for one underlying."""
        return _list_days(self.root / "ticks", underlying)

    def bar_days(self, underlying: str | None = None,
                 interval: str = "1m") -> list[tuple[str, date]]:
        """Sorted (underlying, day) pairs that have ``interval`` bars."""
        return _list_days(self._bar_base(interval), underlying)

    def summary(self) -> list[CatalogEntry]:
        """One entry per (kind, underlying, interval), rows counted from Parquet footers."""
        entries = _summarise("ticks", None, self.root / "ticks")
        bars_root = self.root / "bars"
        intervals = sorted(p.name.split("=", 1)[1] for p in _partition_dirs(bars_root, "interval"))
        for interval in intervals:
            entries += _summarise("bars", interval, self._bar_base(interval))
        return entries

    # ----- writing ------------------------------------------------------------------------

    def write_ticks(self, underlying: str, day: date,
                    ticks: dict[str, np.ndarray] | pa.Table,
                    contracts: pa.Table | list[dict]) -> Path:
        """Validate and atomically write one day of ticks and its contracts; returns the folder.

        Compatible dtypes are cast, a missing ``recv_ts`` becomes null, unsorted rows are
        stably sorted by (ts, security_id). Every ts must fall on ``day`` in IST and every
        security_id must be in ``contracts``. Raises MalformedDataError, writing nothing.
        """
        folder = self.tick_dir(underlying, day)
        contract_table = prepare_contracts(contracts, underlying, where=str(folder))
        tick_table = prepare_ticks(ticks, day, where=str(folder))
        known = set(contract_table.column("security_id").to_pylist())
        unknown = sorted(set(np.unique(_np(tick_table, "security_id")).tolist()) - known)
        if unknown:
            raise MalformedDataError(
                f"{folder}: security_id(s) {unknown[:10]} in ticks are not in contracts")
        _publish_partition(folder, {PART_FILE: tick_table, CONTRACTS_FILE: contract_table})
        return folder

    def write_bars(self, underlying: str, day: date, bars: dict[str, np.ndarray] | pa.Table,
                   interval: str = "1m") -> Path:
        """Validate and atomically write one day of bars (ts = bar start); returns the folder."""
        folder = self.bar_dir(underlying, day, interval)
        _publish_partition(folder, {PART_FILE: prepare_bars(bars, day, where=str(folder))})
        return folder

    # ----- reading ------------------------------------------------------------------------

    def read_ticks(self, underlying: str, day: date, security_ids: Sequence[int] | None = None,
                   columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """One day of ticks as numpy columns (ts/recv_ts int64 ns UTC, null recv_ts = NULL_TS).

        ``security_ids`` is pushed down as a row filter; ``columns`` defaults to all.
        Raises MissingDataError when the day is absent, MalformedDataError on a bad file.
        """
        path = self.tick_dir(underlying, day) / PART_FILE
        wanted = _checked_columns(columns, TICK_SCHEMA)
        if not path.is_file():
            raise MissingDataError(f"no ticks for {underlying} on {day}: {path} not found")
        row_filter = _id_filter(security_ids)
        try:
            table = ds.dataset(path, format="parquet").to_table(
                columns=wanted, filter=row_filter)
        except FileNotFoundError as e:  # replaced by a concurrent overwrite of the day
            raise MissingDataError(f"no ticks for {underlying} on {day}: {path}: {e}") from e
        except (pa.ArrowException, OSError) as e:
            raise MalformedDataError(f"{path}: unreadable parquet: {e}") from e
        return to_numpy(table, TICK_SCHEMA, path)

    def read_contracts(self, underlying: str, day: date) -> pa.Table:
        """The contract metadata of ``day`` as a table of CONTRACT_SCHEMA."""
        path = self.tick_dir(underlying, day) / CONTRACTS_FILE
        if not path.is_file():
            raise MissingDataError(f"no contracts for {underlying} on {day}: {path} not found")
        try:
            # ParquetFile, not pq.read_table: same table without a dataset discovery per call.
            with pq.ParquetFile(path) as parquet:
                table = parquet.read()
            return table.select(CONTRACT_SCHEMA.names).cast(CONTRACT_SCHEMA)
        except (pa.ArrowException, OSError, KeyError) as e:
            raise MalformedDataError(f"{path}: unreadable contracts parquet: {e}") from e

    def read_bars(self, underlying: str, start: date, end: date,
                  security_ids: Sequence[int] | None = None,
                  interval: str = "1m") -> dict[str, np.ndarray]:
        """Bars of every existing day in [start, end], concatenated and sorted by ts.

        Only the underlying's date partitions in the range are opened (one folder listing,
        no discovery of the whole tree). Raises MissingDataError when no day in the range
        exists, MalformedDataError on a bad partition name or an unreadable file.
        """
        base = self._bar_base(interval)
        files = bar_files(base, _checked_name(underlying), start, end)
        if not files:
            raise MissingDataError(
                f"no {interval} bars for {underlying} in [{start}, {end}] under {base}")
        row_filter = _id_filter(security_ids)
        if len(files) == 1:  # the usual single day: one Parquet read, no dataset scan
            bars = _RECENT_BARS.read(files[0], security_ids, base)
            if bars is not None:
                return bars
        fragments = _fragments(files)
        try:
            # One multi-threaded scan of just these files; the per-file pass below only
            # runs to name the bad file in the error.
            dataset = ds.FileSystemDataset(fragments, BAR_SCHEMA, ds.ParquetFileFormat())
            table = dataset.to_table(columns=BAR_SCHEMA.names, filter=row_filter)
        except (pa.ArrowException, OSError) as e:
            for fragment in fragments:
                _read_fragment(fragment, row_filter)
            raise MalformedDataError(f"{base}: unreadable bars parquet: {e}") from e
        table = table.sort_by(BAR_ORDER)
        return to_numpy(table, BAR_SCHEMA, base)


def format_summary(entries: list[CatalogEntry]) -> str:
    """A small aligned text table of :meth:`Catalog.summary` for the CLI."""
    header = ("kind", "underlying", "interval", "first", "last", "days", "rows", "size")
    rows = [header] + [
        (e.kind, e.underlying, e.interval or "-", str(e.first_day), str(e.last_day),
         str(e.days), f"{e.rows:,}", _human_bytes(e.bytes)) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right_aligned = {5, 6, 7}
    lines = ["  ".join(cell.rjust(w) if i in right_aligned else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    if not entries:
        lines.append("(catalog is empty)")
    return "\n".join(lines)


# ----- helpers -----------------------------------------------------------------------------

def _checked_name(name: str) -> str:
    # Names become folder names: refuse anything that could escape or confuse the layout.
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid catalog name {name!r}: use letters, digits, '_' or '-'")
    return name


def _day_text(day: date) -> str:
    # A datetime is a date too, and would make a wrong folder name and day bounds.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a datetime.date, got {day!r}")
    return day.isoformat()


def _checked_columns(columns: Sequence[str] | None, schema: pa.Schema) -> list[str]:
    if columns is None:
        return list(schema.names)
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}; known: {schema.names}")
    return list(columns)


def _id_filter(security_ids: Sequence[int] | None) -> ds.Expression | None:
    if security_ids is None:
        return None
    return ds.field("security_id").isin(pa.array([int(s) for s in security_ids], pa.int64()))


def _fragments(files: list[Path]) -> list[ds.Fragment]:
    parquet = ds.ParquetFileFormat()
    filesystem = pa_fs.LocalFileSystem()
    return [parquet.make_fragment(str(f), filesystem) for f in files]


def _read_fragment(fragment: ds.Fragment, row_filter: ds.Expression | None) -> pa.Table:
    try:
        return fragment.to_table(columns=BAR_SCHEMA.names, filter=row_filter)
    except (pa.ArrowException, OSError) as e:
        raise MalformedDataError(f"{fragment.path}: unreadable parquet: {e}") from e


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _publish_partition(folder: Path, files: dict[str, pa.Table]) -> None:
    """Write ``files`` into a hidden temp folder beside ``folder``, fsync, then swap it in."""
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        for name, table in files.items():
            with open(tmp / name, "wb") as sink:
                pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
                sink.flush()
                os.fsync(sink.fileno())
        _fsync_dir(tmp)
        _swap_into_place(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, folder: Path) -> None:
    # rename(2) cannot replace a non-empty folder, so the old day is first moved aside; a
    # reader in between sees the day as absent (MissingDataError), never half of it.
    old = None
    if folder.exists():
        old = folder.with_name(f".old-{folder.name}-{uuid.uuid4().hex[:8]}")
        os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except BaseException:
        if old is not None:
            os.rename(old, folder)
        raise
    _fsync_dir(folder.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partition_dirs(parent: Path, key: str) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and p.name.startswith(f"{key}="))


def _list_days(base: Path, underlying: str | None) -> list[tuple[str, date]]:
    found: list[tuple[str, date]] = []
    for u_dir in _partition_dirs(base, "underlying"):
        name = u_dir.name.split("=", 1)[1]
        if underlying is not None and name != underlying:
            continue
        for d_dir in _partition_dirs(u_dir, "date"):
            try:
                day = date.fromisoformat(d_dir.name.split("=", 1)[1])
            except ValueError:
                logger.warning("skipping %s: not a date partition", d_dir)
                continue
            if (d_dir / PART_FILE).is_file():
                found.append((name, day))
    return sorted(found)


def _summarise(kind: str, interval: str | None, base: Path) -> list[CatalogEntry]:
    by_underlying: dict[str, list[date]] = {}
    for name, day in _list_days(base, None):
        by_underlying.setdefault(name, []).append(day)
    entries = []
    for name, days in sorted(by_underlying.items()):
        rows = size = 0
        for day in days:
            folder = base / f"underlying={name}" / f"date={day}"
            rows += _footer_rows(folder / PART_FILE)
            size += sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        entries.append(CatalogEntry(kind, name, interval, days[0], days[-1], len(days),
                                    rows, size))
    return entries


def _footer_rows(path: Path) -> int:
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as e:
        raise MalformedDataError(f"{path}: unreadable parquet footer: {e}") from e


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
