from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.clock import IST, ist_to_utc, ns_from_utc
from core.errors import MalformedDataError, MissingDataError
from feeds.catalog import (
    BAR_SCHEMA,
    CONTRACT_SCHEMA,
    NULL_TS,
    TICK_SCHEMA,
    Catalog,
    CatalogEntry,
    format_summary,
)

DAY = date(2024, 10, 9)
INDEX_ID, CE_ID, PE_ID = 13, 40_001, 40_002


def ns(day: date, hh: int, mm: int, ss: int = 0) -> int:
    return ns_from_utc(ist_to_utc(day, time(hh, mm, ss)))


def contracts() -> list[dict]:
    return [
        dict(security_id=INDEX_ID, segment="IDX_I", symbol="NIFTY", underlying="NIFTY",
             instrument="INDEX", lot_size=1, tick_size=0.05),
        dict(security_id=CE_ID, segment="NSE_FNO", symbol="NIFTY 2024-10-10 24500 CE",
             underlying="NIFTY", instrument="OPTIDX", expiry=date(2024, 10, 10),
             strike=24500.0, option_type="CE", lot_size=25, tick_size=0.05, freeze_qty=1800),
        dict(security_id=PE_ID, segment="NSE_FNO", symbol="NIFTY 2024-10-10 24500 PE",
             underlying="NIFTY", instrument="OPTIDX", expiry=date(2024, 10, 10),
             strike=24500.0, option_type="PE", lot_size=25, tick_size=0.05),
    ]


def ticks(day: date = DAY) -> dict[str, np.ndarray]:
    """Five ticks, deliberately not in (ts, id) order; no recv_ts (historical data)."""
    return {
        "ts": np.array([ns(day, 9, 15, 2), ns(day, 9, 15, 1), ns(day, 9, 15, 1),
                        ns(day, 9, 15, 3), ns(day, 9, 15, 1)], dtype=np.int64),
        "security_id": np.array([CE_ID, PE_ID, INDEX_ID, INDEX_ID, CE_ID], dtype=np.int64),
        "ltp": np.array([101.5, 88.25, 24510.4, 24511.0, 101.0]),
        "bid": np.array([101.45, 88.2, np.nan, np.nan, 100.95]),
        "ask": np.array([101.55, 88.3, np.nan, np.nan, 101.05]),
        "ltq": np.array([25, 50, 0, 0, 75], dtype=np.int64),  # int64 in: cast to int32
        "bid_qty": np.array([500, 400, 0, 0, 300], dtype=np.int32),
        "ask_qty": np.array([600, 700, 0, 0, 900], dtype=np.int32),
        "volume": np.array([1000, 2000, 0, 0, 975], dtype=np.int64),
        "oi": np.array([5_000_000, 4_000_000, 0, 0, 5_000_000], dtype=np.int64),
    }


def bars(day: date, sids: tuple[int, ...] = (INDEX_ID,), minutes: int = 3) -> dict:
    rows = [(ns(day, 9, 15 + m), sid) for m in range(minutes) for sid in sids]
    base = 24000.0 + day.day
    opens = np.array([base + i for i in range(len(rows))])
    return {
        "ts": np.array([r[0] for r in rows], dtype=np.int64),
        "security_id": np.array([r[1] for r in rows], dtype=np.int64),
        "open": opens, "high": opens + 2.0, "low": opens - 1.5, "close": opens + 0.5,
        "volume": np.zeros(len(rows), dtype=np.int64), "oi": np.zeros(len(rows), dtype=np.int64),
    }


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_ticks_round_trip_sorted_with_exact_values_and_dtypes(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    folder = catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    assert folder == tmp_path / "ticks" / "underlying=NIFTY" / "date=2024-10-09"
    got = catalog.read_ticks("NIFTY", DAY)
    assert list(got) == TICK_SCHEMA.names
    # sorted by (ts, security_id); the two 09:15:01 rows for ids 13/40001/40002 in id order
    assert got["ts"].tolist() == [ns(DAY, 9, 15, 1)] * 3 + [ns(DAY, 9, 15, 2), ns(DAY, 9, 15, 3)]
    assert got["security_id"].tolist() == [INDEX_ID, CE_ID, PE_ID, CE_ID, INDEX_ID]
    assert got["ltp"].tolist() == [24510.4, 101.0, 88.25, 101.5, 24511.0]
    assert np.isnan(got["bid"][[0, 4]]).all()
    assert got["ask"][1:4].tolist() == [101.05, 88.3, 101.55]
    assert got["ltq"].tolist() == [0, 75, 50, 25, 0]
    assert got["recv_ts"].tolist() == [NULL_TS] * 5
    expected_dtypes = {"ts": np.int64, "recv_ts": np.int64, "security_id": np.int64,
                       "ltp": np.float64, "bid": np.float64, "ask": np.float64,
                       "ltq": np.int32, "bid_qty": np.int32, "ask_qty": np.int32,
                       "volume": np.int64, "oi": np.int64}
    assert {k: v.dtype.type for k, v in got.items()} == expected_dtypes
    stored = pq.read_schema(folder / "part-0.parquet")
    assert stored.field("ts").type == TICK_SCHEMA.field("ts").type


def test_equal_ts_and_id_ticks_keep_arrival_order(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = ticks()
    data["ts"] = np.array([ns(DAY, 10, 0, 1)] * 4 + [ns(DAY, 10, 0, 0)], dtype=np.int64)
    data["security_id"] = np.full(5, CE_ID, dtype=np.int64)
    catalog.write_ticks("NIFTY", DAY, data, contracts())
    got = catalog.read_ticks("NIFTY", DAY)
    assert got["ltp"].tolist() == [101.0, 101.5, 88.25, 24510.4, 24511.0]


def test_ticks_from_arrow_table_with_ist_zone_and_recv_ts(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = ticks()
    table = pa.table({
        **{k: v for k, v in data.items() if k != "ts"},
        "ts": pa.array(data["ts"]).cast(pa.int64()).cast(pa.timestamp("ns", tz="Asia/Kolkata")),
        "recv_ts": pa.array(data["ts"] + 1_500_000, pa.int64()),
    })
    contract_table = pa.Table.from_pylist(contracts(), schema=CONTRACT_SCHEMA)
    catalog.write_ticks("NIFTY", DAY, table, contract_table)
    got = catalog.read_ticks("NIFTY", DAY)
    assert got["ts"][0] == ns(DAY, 9, 15, 1)
    assert (got["recv_ts"] - got["ts"]).tolist() == [1_500_000] * 5


def test_contracts_round_trip(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    table = catalog.read_contracts("NIFTY", DAY)
    assert table.schema == CONTRACT_SCHEMA
    rows = {r["security_id"]: r for r in table.to_pylist()}
    assert rows[INDEX_ID] == dict(
        security_id=INDEX_ID, segment="IDX_I", symbol="NIFTY", underlying="NIFTY",
        instrument="INDEX", expiry=None, strike=None, option_type=None, lot_size=1,
        tick_size=0.05, freeze_qty=None)
    assert rows[CE_ID]["expiry"] == date(2024, 10, 10)
    assert rows[CE_ID]["freeze_qty"] == 1800
    assert rows[PE_ID]["option_type"] == "PE"
    assert rows[PE_ID]["freeze_qty"] is None


def test_read_ticks_filters_ids_and_columns(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    got = catalog.read_ticks("NIFTY", DAY, security_ids=[CE_ID], columns=["ts", "ltp"])
    assert list(got) == ["ts", "ltp"]
    assert got["ltp"].tolist() == [101.0, 101.5]
    assert catalog.read_ticks("NIFTY", DAY, security_ids=[999])["ts"].size == 0
    with pytest.raises(ValueError, match="nope"):
        catalog.read_ticks("NIFTY", DAY, columns=["nope"])


def test_bars_round_trip_and_date_range(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    days = [date(2024, 10, d) for d in (7, 8, 9, 10, 11)]
    for day in days:
        catalog.write_bars("NIFTY", day, bars(day, sids=(INDEX_ID, 25)))
    catalog.write_bars("BANKNIFTY", days[1], bars(days[1], sids=(25,)))
    got = catalog.read_bars("NIFTY", days[1], days[3], security_ids=[INDEX_ID])
    assert list(got) == BAR_SCHEMA.names
    expected_ts = [ns(d, 9, 15 + m) for d in days[1:4] for m in range(3)]
    assert got["ts"].tolist() == expected_ts
    assert got["security_id"].tolist() == [INDEX_ID] * 9
    assert got["open"][:3].tolist() == [24008.0, 24010.0, 24012.0]
    assert (got["high"][0], got["low"][0], got["close"][0]) == (24010.0, 24006.5, 24008.5)
    assert {k: v.dtype.type for k, v in got.items()} == {
        "ts": np.int64, "security_id": np.int64, "open": np.float64, "high": np.float64,
        "low": np.float64, "close": np.float64, "volume": np.int64, "oi": np.int64}
    both = catalog.read_bars("NIFTY", date(2024, 10, 1), date(2024, 10, 31))
    assert both["ts"].size == 5 * 6
    assert np.all(np.diff(both["ts"]) >= 0)
    with pytest.raises(MissingDataError, match="2024-11-01"):
        catalog.read_bars("NIFTY", date(2024, 11, 1), date(2024, 11, 30))


def test_listing_and_summary(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    assert catalog.summary() == []
    assert "empty" in format_summary([])
    catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    for day in (date(2024, 10, 8), date(2024, 10, 10)):
        catalog.write_bars("NIFTY", day, bars(day))
    catalog.write_bars("SENSEX", DAY, bars(DAY, sids=(51,)), interval="5m")
    assert catalog.tick_days() == [("NIFTY", DAY)]
    assert catalog.bar_days("NIFTY") == [("NIFTY", date(2024, 10, 8)),
                                         ("NIFTY", date(2024, 10, 10))]
    assert catalog.bar_days(interval="5m") == [("SENSEX", DAY)]
    assert catalog.bar_days("SENSEX") == []
    assert catalog.has_ticks("NIFTY", DAY)
    assert not catalog.has_ticks("NIFTY", date(2024, 10, 8))
    assert catalog.has_bars("NIFTY", date(2024, 10, 8))
    assert not catalog.has_bars("NIFTY", DAY)
    entries = catalog.summary()
    assert [(e.kind, e.underlying, e.interval, e.first_day, e.last_day, e.days, e.rows)
            for e in entries] == [
        ("ticks", "NIFTY", None, DAY, DAY, 1, 5),
        ("bars", "NIFTY", "1m", date(2024, 10, 8), date(2024, 10, 10), 2, 6),
        ("bars", "SENSEX", "5m", DAY, DAY, 1, 3)]
    assert all(isinstance(e, CatalogEntry) and e.bytes > 0 for e in entries)
    lines = format_summary(entries).splitlines()
    assert lines[0].split() == ["kind", "underlying", "interval", "first", "last", "days",
                                "rows", "size"]
    assert lines[2].split()[:7] == ["bars", "NIFTY", "1m", "2024-10-08", "2024-10-10", "2", "6"]
    assert {line.index("2024-10-0") for line in lines[1:]} == {lines[0].index("first")}
    days_end = lines[0].index("days") + len("days")  # numbers are right-aligned
    assert {line.index(" 1 ") + len(" 1") for line in (lines[1], lines[3])} == {days_end}


def test_overwrite_replaces_the_day_and_leaves_no_temp_dirs(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    second = {k: v[:2] for k, v in ticks().items()}
    catalog.write_ticks("NIFTY", DAY, second, contracts()[1:])
    got = catalog.read_ticks("NIFTY", DAY)
    assert got["security_id"].tolist() == [PE_ID, CE_ID]
    assert catalog.read_contracts("NIFTY", DAY).num_rows == 2
    catalog.write_bars("NIFTY", DAY, bars(DAY, minutes=5))
    catalog.write_bars("NIFTY", DAY, bars(DAY, minutes=2))
    assert catalog.read_bars("NIFTY", DAY, DAY)["ts"].size == 2
    names = [p.name for p in tmp_path.rglob("*")]
    assert not [n for n in names if n.startswith(".")]
    assert sorted(p.name for p in all_files(tmp_path)) == [
        "contracts.parquet", "part-0.parquet", "part-0.parquet"]


def _unknown_column(t: dict, c: list) -> None:
    t["price"] = t.pop("ltp")


def _missing_column(t: dict, c: list) -> None:
    del t["oi"]


def _ts_next_day_ist(t: dict, c: list) -> None:
    t["ts"][0] = ns(DAY + timedelta(days=1), 0, 0)  # 18:30 UTC on DAY, but the next IST day


def _ts_previous_day(t: dict, c: list) -> None:
    t["ts"][3] = ns(DAY, 0, 0) - 1


def _unknown_security_id(t: dict, c: list) -> None:
    t["security_id"][0] = 777


def _index_not_in_contracts(t: dict, c: list) -> None:
    del c[0]


def _lossy_qty(t: dict, c: list) -> None:
    t["ltq"] = t["ltq"].astype(np.float64) + 0.5


def _short_column(t: dict, c: list) -> None:
    t["oi"] = t["oi"][:4]


def _option_without_expiry(t: dict, c: list) -> None:
    del c[1]["expiry"]


def _contract_other_underlying(t: dict, c: list) -> None:
    c[2]["underlying"] = "BANKNIFTY"


def _contract_unknown_key(t: dict, c: list) -> None:
    c[0]["exchange"] = "NSE"


def _duplicate_contract(t: dict, c: list) -> None:
    c.append(dict(c[1]))


@pytest.mark.parametrize(("spoil", "message"), [
    (_unknown_column, "unknown column"),
    (_missing_column, "missing column 'oi'"),
    (_ts_next_day_ist, "not on 2024-10-09 IST"),
    (_ts_previous_day, "not on 2024-10-09 IST"),
    (_unknown_security_id, r"\[777\]"),
    (_index_not_in_contracts, r"\[13\]"),
    (_lossy_qty, "'ltq'"),
    (_short_column, "different lengths"),
    (_option_without_expiry, "needs expiry"),
    (_contract_other_underlying, "BANKNIFTY"),
    (_contract_unknown_key, "exchange"),
    (_duplicate_contract, "more than once"),
])
def test_invalid_tick_write_raises_and_writes_nothing(tmp_path: Path, spoil, message) -> None:
    data, rows = ticks(), contracts()
    spoil(data, rows)
    with pytest.raises(MalformedDataError, match=message):
        Catalog(tmp_path).write_ticks("NIFTY", DAY, data, rows)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_day(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_ticks("NIFTY", DAY, ticks(), contracts())
    before = all_files(tmp_path)
    bad = ticks()
    bad["security_id"][0] = 777
    with pytest.raises(MalformedDataError):
        catalog.write_ticks("NIFTY", DAY, bad, contracts())
    assert all_files(tmp_path) == before
    assert catalog.read_ticks("NIFTY", DAY)["ts"].size == 5


def test_naive_timestamp_table_is_refused(tmp_path: Path) -> None:
    data = ticks()
    naive = pa.array(data.pop("ts")).cast(pa.timestamp("ns"))
    table = pa.table({"ts": naive, **data})
    with pytest.raises(MalformedDataError, match="no time zone"):
        Catalog(tmp_path).write_ticks("NIFTY", DAY, table, contracts())


@pytest.mark.parametrize(("column", "value", "message"), [
    ("high", 1.0, "inconsistent"),
    ("close", np.nan, "non-finite"),
    ("ts", None, "two bars"),
])
def test_invalid_bars_are_refused(tmp_path: Path, column: str, value, message: str) -> None:
    data = bars(DAY)
    if value is None:
        data[column][1] = data[column][0]
    else:
        data[column][1] = value
    with pytest.raises(MalformedDataError, match=message):
        Catalog(tmp_path).write_bars("NIFTY", DAY, data)
    assert list(tmp_path.iterdir()) == []


def test_numpy_datetime64_bars_are_utc(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    data = bars(DAY)
    data["ts"] = data["ts"].astype("datetime64[ns]")
    catalog.write_bars("NIFTY", DAY, data)
    got = catalog.read_bars("NIFTY", DAY, DAY)
    first = datetime(2024, 10, 9, 9, 15, tzinfo=IST)
    assert got["ts"][0] == ns_from_utc(first)


def test_missing_day_names_the_path(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    with pytest.raises(MissingDataError, match="date=2024-10-09"):
        catalog.read_ticks("NIFTY", DAY)
    with pytest.raises(MissingDataError, match="contracts"):
        catalog.read_contracts("NIFTY", DAY)
    with pytest.raises(MissingDataError, match="NIFTY"):
        catalog.read_bars("NIFTY", DAY, DAY)


def test_corrupt_files_raise_malformed_naming_the_file(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    tick_file = catalog.write_ticks("NIFTY", DAY, ticks(), contracts()) / "part-0.parquet"
    catalog.write_bars("NIFTY", DAY, bars(DAY))
    bar_file = catalog.write_bars("NIFTY", date(2024, 10, 10), bars(date(2024, 10, 10)))
    bar_file = bar_file / "part-0.parquet"
    tick_file.write_bytes(b"PAR1 this is not parquet")
    bar_file.write_bytes(tick_file.read_bytes())
    with pytest.raises(MalformedDataError, match=str(tick_file)):
        catalog.read_ticks("NIFTY", DAY)
    with pytest.raises(MalformedDataError, match=str(bar_file)):
        catalog.read_bars("NIFTY", DAY, date(2024, 10, 10))
    assert catalog.read_bars("NIFTY", DAY, DAY)["ts"].size == 3
    with pytest.raises(MalformedDataError, match="footer"):
        catalog.summary()


def test_leftover_temp_dir_from_a_crash_is_invisible(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    folder = catalog.write_bars("NIFTY", DAY, bars(DAY))
    crashed = folder.with_name(".tmp-date=2024-10-10-abc123")
    crashed.mkdir()
    (crashed / "part-0.parquet").write_bytes(b"half written")
    assert catalog.bar_days("NIFTY") == [("NIFTY", DAY)]
    assert catalog.read_bars("NIFTY", DAY, date(2024, 10, 10))["ts"].size == 3


@pytest.mark.parametrize("name", ["../etc", "NIFTY/x", "", "a b"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid catalog name"):
        Catalog(tmp_path).has_ticks(name, DAY)


def test_a_datetime_is_not_a_day(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="datetime.date"):
        Catalog(tmp_path).write_bars("NIFTY", datetime(2024, 10, 9, tzinfo=IST), bars(DAY))


def test_bad_partition_folder_name_is_malformed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write_bars("NIFTY", DAY, bars(DAY))
    (tmp_path / "bars" / "interval=1m" / "underlying=NIFTY" / "date=junk").mkdir()
    (tmp_path / "bars" / "interval=1m" / "underlying=NIFTY" / "date=junk" / "x.parquet").touch()
    assert catalog.bar_days("NIFTY") == [("NIFTY", DAY)]
    with pytest.raises(MalformedDataError, match="date=junk|partition"):
        catalog.read_bars("NIFTY", DAY, DAY)
