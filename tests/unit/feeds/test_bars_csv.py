from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from core.clock import ist_to_utc, ns_from_utc
from core.errors import ConfigError, MalformedDataError, MissingDataError
from feeds.bars_csv import BarImportReport, import_bars_csv
from feeds.catalog import Catalog

REAL_CSV = (Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata" / "index_1m"
            / "NIFTY_2024_1m.csv")
IDS = {"NIFTY": 13, "BANKNIFTY": 25}


def ns(day: date, hh: int, mm: int) -> int:
    return ns_from_utc(ist_to_utc(day, time(hh, mm)))


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# ----- the real vendor file ------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_rows() -> list[dict[str, str]]:
    if not REAL_CSV.is_file():
        pytest.skip(f"real data absent: {REAL_CSV}")
    with REAL_CSV.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def real_import(real_rows, tmp_path_factory) -> tuple[Catalog, BarImportReport]:
    catalog = Catalog(tmp_path_factory.mktemp("catalog"))
    return catalog, import_bars_csv(REAL_CSV, catalog, {"nifty": 13})


@pytest.mark.realdata
def test_real_file_imports_every_session(real_rows, real_import) -> None:
    catalog, report = real_import
    assert report.rows_read == len(real_rows) == 58_127
    assert report.days_written == 156
    assert len(catalog.bar_days("NIFTY")) == 156
    assert (report.first_day, report.last_day) == (date(2024, 1, 1), date(2024, 8, 23))
    assert report.dropped_duplicates == 0
    assert report.rows_written == report.rows_read - report.dropped_outside_session


@pytest.mark.realdata
def test_real_special_saturday_drops_only_its_junk_bars(real_rows, real_import) -> None:
    catalog, report = real_import
    that_day = [r for r in real_rows if r["Date"] == "20240120"]
    junk = [r for r in that_day if r["Time"] >= "15:30"]
    assert len(junk) == 167
    assert report.dropped_by_day == {date(2024, 1, 20): len(junk)}
    assert report.dropped_outside_session == len(junk)
    kept = catalog.read_bars("NIFTY", date(2024, 1, 20), date(2024, 1, 20))
    assert kept["ts"].size == len(that_day) - len(junk)
    assert kept["ts"][-1] == ns(date(2024, 1, 20), 15, 29)


@pytest.mark.realdata
def test_real_first_bar_is_0915_ist(real_import) -> None:
    catalog, _ = real_import
    got = catalog.read_bars("NIFTY", date(2024, 1, 1), date(2024, 1, 1), security_ids=[13])
    assert got["ts"][0] == ns_from_utc(datetime(2024, 1, 1, 3, 45, tzinfo=UTC))
    assert got["open"][0] == 21727.75
    assert got["volume"][0] == 0


@pytest.mark.realdata
@pytest.mark.parametrize("day", [date(2024, 1, 15), date(2024, 3, 2), date(2024, 8, 23)])
def test_real_day_reads_back_as_in_the_csv(real_rows, real_import, day: date) -> None:
    catalog, _ = real_import
    rows = [r for r in real_rows if r["Date"] == day.strftime("%Y%m%d")]
    got = catalog.read_bars("NIFTY", day, day)
    assert got["ts"].tolist() == [ns(day, *map(int, r["Time"].split(":"))) for r in rows]
    for column in ("Open", "High", "Low", "Close"):
        assert got[column.lower()].tolist() == [float(r[column]) for r in rows]


# ----- small files --------------------------------------------------------------------------

def test_headers_any_case_extra_columns_and_optional_counts(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", [
        "DATE,time,Exchange,instrument,OPEN,high,Low,close,Volume,oi",
        "20240105,09:15,NSE,banknifty,47000.5,47010,46990,47005.25,1200,0",
        "20240105,09:16,NSE,banknifty,47005.25,47020,47000,47018,900,7",
    ])
    catalog = Catalog(tmp_path / "catalog")
    report = import_bars_csv(path, catalog, IDS)
    assert (report.rows_written, report.days_written) == (2, 1)
    got = catalog.read_bars("BANKNIFTY", date(2024, 1, 5), date(2024, 1, 5))
    assert got["security_id"].tolist() == [25, 25]
    assert got["ts"].tolist() == [ns(date(2024, 1, 5), 9, 15), ns(date(2024, 1, 5), 9, 16)]
    assert got["close"].tolist() == [47005.25, 47018.0]
    assert got["volume"].tolist() == [1200, 900]
    assert got["oi"].tolist() == [0, 7]


def test_session_filter_and_duplicates_are_counted_per_day(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", [
        "Instrument,Date,Time,Open,High,Low,Close",
        "NIFTY,20240102,09:14,10,10,10,10",
        "NIFTY,20240102,09:15,11,12,10,11",
        "NIFTY,20240102,09:15,99,99,99,99",
        "NIFTY,20240102,15:29,12,12,12,12",
        "NIFTY,20240102,15:30,13,13,13,13",
        "",
        "NIFTY,20240103,09:15,14,14,14,14",
        "NIFTY,20240104,16:00,15,15,15,15",
    ])
    catalog = Catalog(tmp_path / "catalog")
    report = import_bars_csv(path, catalog, IDS)
    assert report == BarImportReport(
        rows_read=7, rows_written=3, days_written=2, dropped_outside_session=3,
        dropped_duplicates=1, dropped_by_day={date(2024, 1, 2): 3, date(2024, 1, 4): 1},
        first_day=date(2024, 1, 2), last_day=date(2024, 1, 3))
    got = catalog.read_bars("NIFTY", date(2024, 1, 2), date(2024, 1, 2))
    assert got["open"].tolist() == [11.0, 12.0]  # the first of the two 09:15 bars is kept
    assert not catalog.has_bars("NIFTY", date(2024, 1, 4))


def test_underlying_override_and_custom_session(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", [
        "Date,Time,Open,High,Low,Close",
        "20240102,09:15,1,1,1,1",
        "20240102,10:00,2,2,2,2",
    ])
    catalog = Catalog(tmp_path / "catalog")
    report = import_bars_csv(path, catalog, IDS, session_open=time(9, 30), underlying="nifty")
    assert (report.rows_written, report.dropped_outside_session) == (1, 1)
    assert catalog.read_bars("NIFTY", date(2024, 1, 2), date(2024, 1, 2))["open"].tolist() == [2.0]
    with pytest.raises(ConfigError, match="SENSEX"):
        import_bars_csv(path, catalog, IDS, underlying="SENSEX")


@pytest.mark.parametrize(("bad_line", "message"), [
    ("NIFTY,20240103,09:16,abc,1,1,1", "line 4 column 'Open': not a number: 'abc'"),
    ("NIFTY,20240103,09:16,1,1,1,", "line 4 column 'Close': not a number: ''"),
    ("NIFTY,2024013,09:16,1,1,1,1", "line 4 column 'Date': cannot parse '2024013'"),
    ("NIFTY,20241303,09:16,1,1,1,1", "line 4 column 'Date': cannot parse '20241303'"),
    ("NIFTY,20240103,9h16,1,1,1,1", "line 4 column 'Time': cannot parse '9h16'"),
    ("NIFTY,20240103,25:00,1,1,1,1", "line 4 column 'Time': cannot parse '25:00'"),
    ("FINNIFTY,20240103,09:16,1,1,1,1", "line 4 column 'Instrument': unknown instrument"),
    ("NIFTY,20240103,09:16,1,0.5,1,1", "line 4 columns Open/High/Low/Close: inconsistent"),
])
def test_bad_row_names_file_line_column_and_writes_nothing(
        tmp_path: Path, bad_line: str, message: str) -> None:
    path = write_csv(tmp_path / "vendor.csv", [
        "Instrument,Date,Time,Open,High,Low,Close",
        "NIFTY,20240102,09:15,1,1,1,1",
        "NIFTY,20240103,09:15,1,1,1,1",
        bad_line,
    ])
    root = tmp_path / "catalog"
    with pytest.raises(MalformedDataError, match="vendor.csv") as caught:
        import_bars_csv(path, Catalog(root), IDS)
    assert message in str(caught.value)
    assert not root.exists()


def test_missing_column_and_missing_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", ["Instrument,Date,Time,Open,High,Low",
                                             "NIFTY,20240102,09:15,1,1,1"])
    with pytest.raises(MalformedDataError, match="missing column"):
        import_bars_csv(path, Catalog(tmp_path / "c"), IDS)
    with pytest.raises(MissingDataError, match="nowhere.csv"):
        import_bars_csv(tmp_path / "nowhere.csv", Catalog(tmp_path / "c"), IDS)
