"""Catalog.read_bars without dataset discovery: which files it opens and what it returns.

A single day in exactly BAR_SCHEMA is read directly; anything else (several days, a file in
another schema) goes through the dataset scan. Both must return the same sorted, filtered,
read-only columns, and a partition folder that is no day must still be refused.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.clock import ist_to_utc, ns_from_utc
from core.errors import MalformedDataError
from feeds.catalog import BAR_SCHEMA, Catalog

DAY = date(2024, 10, 9)
NEXT = date(2024, 10, 10)


def ns(day: date, hh: int, mm: int) -> int:
    return ns_from_utc(ist_to_utc(day, time(hh, mm)))


def bars(day: date, sids: tuple[int, ...] = (13, 25), minutes: int = 3) -> dict[str, np.ndarray]:
    rows = [(ns(day, 9, 15 + m), sid) for m in range(minutes) for sid in sids]
    n = len(rows)
    close = 100.0 + np.arange(n)
    return {"ts": np.array([r[0] for r in rows], dtype=np.int64),
            "security_id": np.array([r[1] for r in rows], dtype=np.int64),
            "open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close,
            "volume": np.arange(n, dtype=np.int64), "oi": np.arange(n, dtype=np.int64) * 10}


def write_raw(catalog: Catalog, day: date, table: pa.Table) -> Path:
    """A bars file put in place by another tool: no sorting or casting by write_bars."""
    folder = catalog.bar_dir("NIFTY", day)
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-0.parquet")
    return folder / "part-0.parquet"


def test_an_unsorted_day_comes_back_sorted_and_filtered(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = bars(DAY)
    order = np.array([5, 0, 3, 1, 4, 2])
    path = write_raw(catalog, DAY, pa.table({k: v[order] for k, v in data.items()})
                     .cast(BAR_SCHEMA))
    assert pq.ParquetFile(path).schema_arrow.equals(BAR_SCHEMA)  # the direct read, not a scan
    got = catalog.read_bars("NIFTY", DAY, DAY)
    assert got["ts"].tolist() == data["ts"].tolist()
    assert got["security_id"].tolist() == [13, 25, 13, 25, 13, 25]
    assert got["close"].tolist() == data["close"].tolist()
    index = catalog.read_bars("NIFTY", DAY, DAY, security_ids=[13])
    assert index["close"].tolist() == [100.0, 102.0, 104.0]
    assert all(not column.flags.writeable for column in (*got.values(), *index.values()))


def test_a_day_in_another_schema_is_cast_by_the_scan(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = bars(DAY)
    table = pa.table({**data, "ts": pa.array(data["ts"] // 1000, pa.timestamp("us", "UTC")),
                      "security_id": pa.array(data["security_id"], pa.int32())})
    write_raw(catalog, DAY, table)
    got = catalog.read_bars("NIFTY", DAY, DAY, security_ids=[25])
    assert got["ts"].dtype == np.int64
    assert got["security_id"].dtype == np.int64
    assert got["ts"].tolist() == data["ts"][1::2].tolist()
    assert got["close"].tolist() == [101.0, 103.0, 105.0]


def test_a_range_reads_each_day_once_in_order(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    for day in (NEXT, DAY, date(2024, 10, 14)):
        catalog.write_bars("NIFTY", day, bars(day))
    catalog.write_bars("BANKNIFTY", DAY, bars(DAY, sids=(25,)))
    got = catalog.read_bars("NIFTY", DAY, date(2024, 10, 11), security_ids=[13])
    assert got["ts"].tolist() == [ns(d, 9, 15 + m) for d in (DAY, NEXT) for m in range(3)]
    assert catalog.read_bars("BANKNIFTY", DAY, NEXT)["security_id"].tolist() == [25] * 3


@pytest.mark.parametrize("stray", ["notes.txt", "foo/part-0.parquet", "date=junk/x.parquet",
                                   "date=2024-02-30/part-0.parquet", "date=20241010/a"])
def test_a_file_outside_a_day_folder_is_a_bad_layout(tmp_path: Path, stray: str) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_bars("NIFTY", DAY, bars(DAY))
    path = catalog.bar_dir("NIFTY", DAY).parent / stray
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a day")
    with pytest.raises(MalformedDataError, match=f"bad partition layout.*{stray.split('/')[0]}"):
        catalog.read_bars("NIFTY", DAY, DAY)


@pytest.mark.parametrize("harmless", [".hidden/part-0.parquet", "_tmp/part-0.parquet",
                                      ".DS_Store", "empty_folder/"])
def test_hidden_entries_and_empty_folders_are_ignored(tmp_path: Path, harmless: str) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_bars("NIFTY", DAY, bars(DAY))
    path = catalog.bar_dir("NIFTY", DAY).parent / harmless
    if harmless.endswith("/"):
        path.mkdir()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"junk")
    assert catalog.read_bars("NIFTY", DAY, DAY)["ts"].size == 6


def test_an_unreadable_day_names_its_file(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    folder = catalog.write_bars("NIFTY", DAY, bars(DAY))
    (folder / "part-0.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(MalformedDataError, match="date=2024-10-09/part-0.parquet"):
        catalog.read_bars("NIFTY", DAY, DAY, security_ids=[13])
    (catalog.tick_dir("NIFTY", DAY)).mkdir(parents=True)
    (catalog.tick_dir("NIFTY", DAY) / "contracts.parquet").write_bytes(b"junk")
    with pytest.raises(MalformedDataError, match="unreadable contracts parquet"):
        catalog.read_contracts("NIFTY", DAY)


def test_a_day_read_again_comes_from_memory_until_it_is_rewritten(tmp_path: Path) -> None:
    """A backtest reads each day twice (the day, then the next day's warm-up): the second
    read is served from memory, unless the file changed in between."""
    catalog = Catalog(tmp_path)
    catalog.write_bars("NIFTY", DAY, bars(DAY))
    first = catalog.read_bars("NIFTY", DAY, DAY)
    again = catalog.read_bars("NIFTY", DAY, DAY)
    assert all(again[k] is first[k] for k in first)  # the very arrays: no second read
    assert not first["close"].flags.writeable  # so no caller can change what others get
    index = catalog.read_bars("NIFTY", DAY, DAY, security_ids=[13])
    assert index["close"].tolist() == [100.0, 102.0, 104.0]
    catalog.write_bars("NIFTY", DAY, bars(DAY, minutes=2))  # the day is rewritten
    rewritten = catalog.read_bars("NIFTY", DAY, DAY)
    assert rewritten["ts"].size == 4
    # The memory is the process's: a run's day tasks each open their own Catalog.
    assert Catalog(tmp_path).read_bars("NIFTY", DAY, DAY)["close"] is rewritten["close"]


def test_only_the_last_few_days_are_kept(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    days = [date(2024, 10, d) for d in (7, 8, 9, 10)]
    for day in days:
        catalog.write_bars("NIFTY", day, bars(day))
    first = [catalog.read_bars("NIFTY", day, day) for day in days]
    assert catalog.read_bars("NIFTY", days[-1], days[-1])["ts"] is first[-1]["ts"]
    oldest = catalog.read_bars("NIFTY", days[0], days[0])  # dropped: read afresh
    assert oldest["ts"] is not first[0]["ts"]
    assert oldest["ts"].tolist() == first[0]["ts"].tolist()
