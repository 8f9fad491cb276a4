"""Import a vendor CSV of 1-minute index bars into the catalog.

Expected columns (by header name, any case, extra columns ignored): ``Instrument, Date, Time,
Open, High, Low, Close`` and optionally ``Volume`` and ``OI`` (default 0). ``Date`` is
``YYYYMMDD`` (ISO also accepted), ``Time`` is ``HH:MM`` IST wall clock of the bar START.

The whole file is parsed and checked before anything is written, so a bad row leaves the
catalog untouched; then each day is written atomically. Bars outside the session and
repeated timestamps are dropped, counted per day and logged, never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError, MalformedDataError, MissingDataError
from feeds.catalog import Catalog

logger = logging.getLogger(__name__)

INTERVAL = "1m"
REQUIRED_COLUMNS = ("date", "time", "open", "high", "low", "close")
PRICE_COLUMNS = ("open", "high", "low", "close")
COUNT_COLUMNS = ("volume", "oi")
_STAMP_FORMATS = ("%Y%m%d %H:%M", "%Y%m%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")
_DATE_SHAPE = r"\d{8}|\d{4}-\d{2}-\d{2}"
_TIME_SHAPE = r"\d{1,2}:\d{2}(?::\d{2})?"
_NS_PER_DAY = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)
_IST_ZONE = "Asia/Kolkata"


@dataclass(frozen=True)
class BarImportReport:
    """What an import did. ``dropped_by_day`` counts every dropped row (outside the session
    or duplicate) per IST day, listing only days with drops."""

    rows_read: int
    rows_written: int
    days_written: int
    dropped_outside_session: int
    dropped_duplicates: int
    dropped_by_day: dict[date, int]
    first_day: date | None
    last_day: date | None


def import_bars_csv(path: Path, catalog: Catalog, security_ids: Mapping[str, int],
                    session_open: time = time(9, 15), session_close: time = time(15, 30),
                    underlying: str | None = None) -> BarImportReport:
    """Parse ``path``, keep bars starting in [session_open, session_close) IST, write by day.

    The instrument name (upper-cased) picks the underlying and ``security_ids`` its id;
    ``underlying`` overrides the file's names. Raises MalformedDataError naming the file,
    line and column of the first bad row (nothing is written), MissingDataError when the
    file is absent, ConfigError when ``underlying`` is not in ``security_ids``.
    """
    path = Path(path)
    frame, headers = _read_frame(path)
    bars = _parse_bars(frame, headers, path, {k.upper(): v for k, v in security_ids.items()},
                       underlying.upper() if underlying else None)
    in_session = _in_session(bars["tod"].to_numpy(), session_open, session_close)
    outside = bars.loc[~in_session]
    kept = bars.loc[in_session]
    duplicate = kept.duplicated(["underlying", "ts"], keep="first").to_numpy()
    dropped = pd.concat([outside, kept.loc[duplicate]])
    kept = kept.loc[~duplicate]
    _check_ohlc(kept, headers, path)
    dropped_by_day = _count_by_day(dropped, path, session_open, session_close)
    written_days = _write_days(kept, catalog)
    return BarImportReport(
        rows_read=len(frame), rows_written=len(kept), days_written=len(written_days),
        dropped_outside_session=len(outside), dropped_duplicates=int(duplicate.sum()),
        dropped_by_day=dropped_by_day,
        first_day=min(written_days, default=None), last_day=max(written_days, default=None))


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """All cells as stripped strings, blank lines removed; index = 0-based data row."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except FileNotFoundError as e:
        raise MissingDataError(f"bar CSV not found: {path}") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise MalformedDataError(f"{path}: not a readable CSV: {e}") from e
    headers = {str(c).strip().lower(): str(c) for c in frame.columns}
    frame.columns = list(headers)
    frame = frame.apply(lambda col: col.str.strip())
    frame = frame.loc[(frame != "").any(axis=1)]
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    if missing:
        raise MalformedDataError(f"{path}: missing column(s) {missing}; header has "
                                 f"{list(headers.values())}")
    return frame, headers


def _parse_bars(frame: pd.DataFrame, headers: dict[str, str], path: Path,
                ids: dict[str, int], override: str | None) -> pd.DataFrame:
    """Typed columns: line, underlying, security_id, ts (UTC ns), day, tod (ns), OHLC, counts."""
    wall = _parse_wall_clock(frame, headers, path)
    wall_ns = wall.asi8
    bars = pd.DataFrame({"line": frame.index.to_numpy() + 2}, index=frame.index)
    bars["underlying"], bars["security_id"] = _resolve_ids(frame, headers, path, ids, override)
    bars["ts"] = wall.tz_localize(_IST_ZONE).asi8
    bars["day"] = wall_ns // _NS_PER_DAY
    bars["tod"] = wall_ns % _NS_PER_DAY
    for name in PRICE_COLUMNS:
        bars[name] = _parse_numbers(frame, name, headers, path)
    for name in COUNT_COLUMNS:
        if name in headers:
            bars[name] = _parse_counts(frame, name, headers, path)
        else:
            bars[name] = np.zeros(len(frame), dtype=np.int64)
    return bars


def _parse_wall_clock(frame: pd.DataFrame, headers: dict[str, str],
                      path: Path) -> pd.DatetimeIndex:
    # strptime alone would read "2024013" as 2024-01-03: insist on the full shape first.
    for name, shape in (("date", _DATE_SHAPE), ("time", _TIME_SHAPE)):
        wrong = ~frame[name].str.fullmatch(shape).to_numpy(dtype=bool)
        if wrong.any():
            row = frame.index[np.flatnonzero(wrong)[0]]
            raise MalformedDataError(f"{path}: line {row + 2} column {headers[name]!r}: "
                                     f"cannot parse {frame.at[row, name]!r}")
    text = frame["date"] + " " + frame["time"]
    stamps = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for fmt in _STAMP_FORMATS:
        todo = stamps.isna()
        if not todo.any():
            break
        stamps[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    if stamps.isna().any():
        row = stamps.index[stamps.isna()][0]
        bad = "time"
        if all(pd.isna(pd.to_datetime(frame.at[row, "date"], format=f, errors="coerce"))
               for f in _DATE_FORMATS):
            bad = "date"
        raise MalformedDataError(f"{path}: line {row + 2} column {headers[bad]!r}: "
                                 f"cannot parse {frame.at[row, bad]!r}")
    return pd.DatetimeIndex(stamps).as_unit("ns")


def _resolve_ids(frame: pd.DataFrame, headers: dict[str, str], path: Path,
                 ids: dict[str, int], override: str | None) -> tuple[np.ndarray, np.ndarray]:
    if override is not None:
        if override not in ids:
            raise ConfigError(f"underlying {override!r} has no security id; known: {sorted(ids)}")
        names = np.full(len(frame), override, dtype=object)
    elif "instrument" not in headers:
        raise MalformedDataError(f"{path}: no Instrument column; pass the underlying")
    else:
        names = frame["instrument"].str.upper().to_numpy(dtype=object)
    unknown = ~pd.Series(names).isin(list(ids)).to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise MalformedDataError(
            f"{path}: line {frame.index[row] + 2} column {headers.get('instrument')!r}: "
            f"unknown instrument {names[row]!r}; known: {sorted(ids)}")
    return names, np.array([ids[n] for n in names], dtype=np.int64)


def _parse_numbers(frame: pd.DataFrame, name: str, headers: dict[str, str],
                   path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = frame.index[np.flatnonzero(bad)[0]]
        raise MalformedDataError(f"{path}: line {row + 2} column {headers[name]!r}: "
                                 f"not a number: {frame.at[row, name]!r}")
    return values


def _parse_counts(frame: pd.DataFrame, name: str, headers: dict[str, str],
                  path: Path) -> np.ndarray:
    values = _parse_numbers(frame, name, headers, path)
    bad = (values < 0) | (values != np.floor(values))
    if bad.any():
        row = frame.index[np.flatnonzero(bad)[0]]
        raise MalformedDataError(f"{path}: line {row + 2} column {headers[name]!r}: "
                                 f"not a whole non-negative count: {frame.at[row, name]!r}")
    return values.astype(np.int64)


def _in_session(tod_ns: np.ndarray, session_open: time, session_close: time) -> np.ndarray:
    def ns_of(t: time) -> int:
        return ((t.hour * 60 + t.minute) * 60 + t.second) * 10**9

    return (tod_ns >= ns_of(session_open)) & (tod_ns < ns_of(session_close))


def _check_ohlc(bars: pd.DataFrame, headers: dict[str, str], path: Path) -> None:
    o, h, lo, c = (bars[n].to_numpy() for n in PRICE_COLUMNS)
    bad = (lo > np.minimum(o, c)) | (h < np.maximum(o, c))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        columns = "/".join(headers[n] for n in PRICE_COLUMNS)
        raise MalformedDataError(f"{path}: line {bars['line'].iat[i]} columns {columns}: "
                                 f"inconsistent bar {o[i]}/{h[i]}/{lo[i]}/{c[i]}")


def _count_by_day(dropped: pd.DataFrame, path: Path, session_open: time,
                  session_close: time) -> dict[date, int]:
    counts = dropped.groupby("day").size()
    by_day = {_EPOCH + timedelta(days=int(d)): int(n) for d, n in counts.items()}
    for day, n in sorted(by_day.items()):
        logger.info("%s: dropped %d bar(s) on %s (outside %s-%s IST or duplicate)",
                    path.name, n, day, session_open, session_close)
    return by_day


def _write_days(kept: pd.DataFrame, catalog: Catalog) -> list[date]:
    written = []
    for (name, day_number), group in kept.groupby(["underlying", "day"], sort=True):
        day = _EPOCH + timedelta(days=int(day_number))
        catalog.write_bars(str(name), day, {
            "ts": group["ts"].to_numpy(), "security_id": group["security_id"].to_numpy(),
            **{c: group[c].to_numpy() for c in PRICE_COLUMNS + COUNT_COLUMNS}},
            interval=INTERVAL)
        written.append(day)
    return written
