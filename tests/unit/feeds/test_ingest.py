"""Scrip master import: real compact files, a detailed fixture, idempotence, bad files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import FixedClock
from core.db import migrate
from core.db.engine import make_engine, session_factory
from core.db.models import Derivative, Instrument, WatchlistItem
from core.errors import MalformedDataError, MissingDataError
from feeds.ingest import (
    BARS,
    SCRIP_MASTER,
    SEGMENT_CODES,
    ScripRow,
    detect_csv_kind,
    import_scrip_master,
    parse_scrip_master,
    seed_watchlist,
)

REALDATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata"
SCRIP_DIR = REALDATA / "dhan_scrip_master"
T0 = datetime(2024, 10, 9, 3, 0, tzinfo=UTC)
T1 = datetime(2024, 10, 10, 3, 0, tzinfo=UTC)

COMPACT_HEADER = (
    "SEM_EXM_EXCH_ID,SEM_SEGMENT,SEM_SMST_SECURITY_ID,SEM_INSTRUMENT_NAME,SEM_EXPIRY_CODE,"
    "SEM_TRADING_SYMBOL,SEM_LOT_UNITS,SEM_CUSTOM_SYMBOL,SEM_EXPIRY_DATE,SEM_STRIKE_PRICE,"
    "SEM_OPTION_TYPE,SEM_TICK_SIZE,SEM_EXPIRY_FLAG,SEM_EXCH_INSTRUMENT_TYPE,SEM_SERIES,"
    "SM_SYMBOL_NAME")
DETAILED_HEADER = (
    "EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT,UNDERLYING_SECURITY_ID,UNDERLYING_SYMBOL,"
    "SYMBOL_NAME,DISPLAY_NAME,INSTRUMENT_TYPE,SERIES,LOT_SIZE,SM_EXPIRY_DATE,STRIKE_PRICE,"
    "OPTION_TYPE,TICK_SIZE,EXPIRY_FLAG,BRACKET_FLAG,MTF_LEVERAGE,SM_FREEZE_QTY,")
DETAILED_ROWS = [
    "NSE,I,13,NA,INDEX,13,NIFTY,NIFTY,Nifty 50,INDEX,NA,1.0,0001-01-01,,XX,0.0500,N,N,0,0,",
    "NSE,D,35084,NA,OPTIDX,26000,NIFTY,NIFTY-Sep2026-29150-CE,NIFTY 29 SEP 29150 CALL,OP,NA,"
    "65.0,2026-09-29,29150.00000,CE,5.0000,M,N,0,1756,",
    "NSE,D,49081,NA,FUTIDX,26000,NIFTY,NIFTY-Sep2026-FUT,NIFTY SEP FUT,FUT,NA,65.0,"
    "2026-09-29,-0.01000,XX,10.0000,M,N,0,1800,",
    "BSE,D,869699,NA,OPTIDX,1,SENSEX,BSXOPT,SENSEX 17 SEP 74300 CALL,OPTIDX,NA,20.0,"
    "2026-09-17,74300.00000,CE,5.0000,W,N,0,1000,",
    'NSE,E,3045,INE062A01020,EQUITY,,SBIN,"STATE BANK OF INDIA, LTD",State Bank,ES,EQ,1.0,,,,'
    "10.0000,NA,N,4.5,0,",
]
COMPACT_ROWS = [
    "NSE,D,37372,OPTIDX,0,NIFTY-Oct2024-19600-CE,25.0,NIFTY 10 OCT 19600 CALL,"
    "2024-10-10 14:30:00,19600.0,CE,5.0,W,OP,,",
    "NSE,D,37377,OPTIDX,0,NIFTY-Oct2024-19600-PE,25.0,NIFTY 10 OCT 19600 PUT,"
    "2024-10-10 14:30:00,19600.0,PE,5.0,W,OP,,",
    "NSE,D,37378,OPTIDX,0,NIFTY-Oct2024-19650-CE,25.0,NIFTY 10 OCT 19650 CALL,"
    "2024-10-10,19650.0,CE,5.0,W,OP,,",
    "BSE,D,1123767,OPTIDX,0,SENSEX-Oct2024-78700-PE,10.0,SENSEX 11 OCT 78700 PUT,"
    "2024-10-11 15:30:00,78700.0,PE,5.0,W,OPTIDX,,BSXOPT",
    "NSE,D,60001,FUTSTK,0,BAJAJ-AUTO-Oct2024-FUT,75.0,BAJAJ-AUTO OCT FUT,"
    "2024-10-31 14:30:00,-0.01,XX,10.0,M,FUTSTK,,",
    "NSE,I,13,INDEX,0,NIFTY,1.0,Nifty 50,0001-01-01,,XX,0.0500,,INDEX,X,NIFTY",
]


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sessions(template_db: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    path = tmp_path / "optscalp.db"
    path.write_bytes(template_db.read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    yield session_factory(engine)
    engine.dispose()


def _real_file(name: str) -> Path:
    path = SCRIP_DIR / name
    if not path.is_file():
        pytest.skip(f"real scrip master {path} absent")
    return path


def _write(tmp_path: Path, name: str, header: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _snapshot(sessions: sessionmaker[Session]) -> list[tuple[object, ...]]:
    with sessions() as session:
        rows: list[tuple[object, ...]] = []
        for model in (Instrument, Derivative, WatchlistItem):
            columns = [getattr(model, c.key) for c in model.__table__.columns]
            rows += [tuple(r) for r in session.execute(select(*columns).order_by(model.id))]
        return rows


def _data_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for record in csv.reader(handle) if any(record)) - 1


def _index_id(session: Session, security_id: int) -> int:
    return session.scalars(select(Instrument.id).where(
        Instrument.segment == "IDX_I", Instrument.security_id == security_id)).one()


# --- real compact files ---------------------------------------------------------------------

@pytest.mark.realdata
@pytest.mark.parametrize("name", ["compact_NIFTY.csv", "compact_BANKNIFTY.csv",
                                  "compact_SENSEX.csv"])
def test_real_file_imports_every_row(sessions: sessionmaker[Session], name: str) -> None:
    path = _real_file(name)
    expected = _data_rows(path)
    rows = parse_scrip_master(path)
    assert len(rows) == expected
    assert all(row.is_derivative and row.tick_size == 0.05 for row in rows)
    assert {row.option_type for row in rows} == {"CE", "PE"}
    summary = import_scrip_master(sessions, path, clock=FixedClock(T0))
    assert (summary.rows, summary.derivatives_inserted, summary.unlinked_derivatives) == (
        expected, expected, 0)
    assert summary.seeded_indices
    assert _count(sessions, Derivative) == expected


@pytest.mark.realdata
def test_real_nifty_option_37372(sessions: sessionmaker[Session]) -> None:
    import_scrip_master(sessions, _real_file("compact_NIFTY.csv"), clock=FixedClock(T0))
    with sessions() as session:
        option = session.scalars(select(Derivative).where(
            Derivative.segment == "NSE_FNO", Derivative.security_id == 37372)).one()
        assert (option.underlying_symbol, option.expiry, option.strike, option.option_type) == (
            "NIFTY", date(2024, 10, 10), 19600.0, "CE")
        assert (option.lot_size, option.tick_size, option.exchange) == (25, 0.05, "NSE")
        assert (option.symbol, option.instrument, option.expiry_flag) == (
            "NIFTY-Oct2024-19600-CE", "OPTIDX", "W")
        assert option.instrument_id == _index_id(session, 13)


@pytest.mark.realdata
def test_real_sensex_and_banknifty_facts(sessions: sessionmaker[Session]) -> None:
    for name in ("compact_SENSEX.csv", "compact_BANKNIFTY.csv"):
        import_scrip_master(sessions, _real_file(name), clock=FixedClock(T0))
    with sessions() as session:
        sensex = session.scalars(select(Derivative).where(
            Derivative.underlying_symbol == "SENSEX")).all()
        assert {(d.segment, d.lot_size, d.expiry) for d in sensex} == {
            ("BSE_FNO", 10, date(2024, 10, 11))}
        assert {d.instrument_id for d in sensex} == {_index_id(session, 51)}
        assert all(d.symbol.startswith("SENSEX-Oct2024-") for d in sensex)
        bank = session.scalars(select(Derivative).where(
            Derivative.underlying_symbol == "BANKNIFTY")).all()
        assert {(d.segment, d.lot_size) for d in bank} == {("NSE_FNO", 15)}
        assert {d.instrument_id for d in bank} == {_index_id(session, 25)}


# --- segment normalisation ------------------------------------------------------------------

SEGMENT_TABLE = [
    ("NSE", "I", "IDX_I"), ("BSE", "I", "IDX_I"), ("NSE", "E", "NSE_EQ"), ("BSE", "E", "BSE_EQ"),
    ("NSE", "D", "NSE_FNO"), ("BSE", "D", "BSE_FNO"), ("NSE", "C", "NSE_CURRENCY"),
    ("BSE", "C", "BSE_CURRENCY"), ("MCX", "M", "MCX_COMM"),
]


def test_segment_table_is_exactly_the_documented_one() -> None:
    assert {(e, s): api for e, s, api in SEGMENT_TABLE} == SEGMENT_CODES


@pytest.mark.parametrize(("exchange", "code", "api_segment"), SEGMENT_TABLE)
def test_segment_normalisation(tmp_path: Path, exchange: str, code: str,
                               api_segment: str) -> None:
    plain = code in ("I", "E")
    instrument = {"I": "INDEX", "E": "EQUITY"}.get(code, "FUTIDX")
    expiry = "" if plain else "2026-09-29"
    row = (f"{exchange},{code},777,NA,{instrument},,ABC,ABC-Sep2026-FUT,ABC,X,NA,1.0,{expiry},"
           "-0.01,XX,5.0,M,N,0,0,")
    [parsed] = parse_scrip_master(_write(tmp_path, "one.csv", DETAILED_HEADER, [row]))
    assert (parsed.exchange, parsed.segment, parsed.security_id) == (exchange, api_segment, 777)
    assert parsed.is_derivative is not plain


@pytest.mark.parametrize(("exchange", "code"), [("MCX", "D"), ("NSE", "M"), ("NSE", "Z")])
def test_unknown_segment_pair_names_line_and_column(tmp_path: Path, exchange: str,
                                                    code: str) -> None:
    rows = [*COMPACT_ROWS[:2], COMPACT_ROWS[2].replace("NSE,D,", f"{exchange},{code},", 1)]
    path = _write(tmp_path, "bad_segment.csv", COMPACT_HEADER, rows)
    with pytest.raises(MalformedDataError, match=(
            rf"^bad_segment.csv line 4, column SEM_SEGMENT: .*{exchange}\+{code}")):
        parse_scrip_master(path)


# --- detailed format ------------------------------------------------------------------------

def test_detailed_file_links_by_symbol_not_underlying_security_id(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = _write(tmp_path, "detailed.csv", DETAILED_HEADER, DETAILED_ROWS)
    summary = import_scrip_master(sessions, path, clock=FixedClock(T0))
    assert (summary.instruments_inserted, summary.derivatives_inserted) == (2, 3)
    assert not summary.seeded_indices  # the file has its own index row
    assert summary.unlinked_derivatives == 1  # SENSEX: no BSE index in this file
    with sessions() as session:
        nifty_id = _index_id(session, 13)
        by_id = {d.security_id: d for d in session.scalars(select(Derivative))}
        assert by_id[35084].instrument_id == nifty_id
        assert by_id[49081].instrument_id == nifty_id
        assert session.scalar(select(Instrument).where(Instrument.security_id == 26000)) is None
        index = session.get_one(Instrument, nifty_id)
        assert (index.symbol, index.display_name, index.tick_size, index.lot_size) == (
            "NIFTY", "Nifty 50", 0.05, 1)
        equity = session.scalars(select(Instrument).where(Instrument.segment == "NSE_EQ")).one()
        assert (equity.symbol, equity.isin, equity.tick_size) == ("SBIN", "INE062A01020", 0.1)
    option, future, sensex = by_id[35084], by_id[49081], by_id[869699]
    assert (option.strike, option.option_type, option.freeze_qty, option.tick_size) == (
        29150.0, "CE", 1756, 0.05)
    assert (future.strike, future.option_type, future.tick_size, future.lot_size) == (
        None, None, 0.1, 65)
    assert (sensex.segment, sensex.symbol, sensex.instrument_id) == (
        "BSE_FNO", "SENSEX-Sep2026-74300-CE", None)


def test_detailed_without_index_rows_links_to_seeded_indices(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = _write(tmp_path, "detailed.csv", DETAILED_HEADER, DETAILED_ROWS[1:4])
    summary = import_scrip_master(sessions, path, clock=FixedClock(T0))
    assert summary.seeded_indices
    assert summary.unlinked_derivatives == 0
    with sessions() as session:
        sensex = session.scalars(select(Derivative).where(
            Derivative.security_id == 869699)).one()
        assert sensex.instrument_id == _index_id(session, 51)


def test_compact_symbols_expiries_and_placeholders(tmp_path: Path) -> None:
    rows = {r.security_id: r for r in parse_scrip_master(
        _write(tmp_path, "compact.csv", COMPACT_HEADER, COMPACT_ROWS))}
    assert rows[37372].underlying_symbol == "NIFTY"
    assert rows[1123767].underlying_symbol == "SENSEX"
    assert rows[60001].underlying_symbol == "BAJAJ-AUTO"
    assert rows[37378].expiry == date(2024, 10, 10)  # date without a time
    assert (rows[60001].strike, rows[60001].option_type, rows[60001].tick_size) == (
        None, None, 0.1)
    index = rows[13]
    assert (index.segment, index.symbol, index.expiry, index.tick_size, index.lot_size) == (
        "IDX_I", "NIFTY", None, 0.05, 1)
    assert isinstance(index, ScripRow)
    assert not index.is_derivative


def test_extra_missing_optional_columns_and_bom(tmp_path: Path) -> None:
    header = "\ufeffEXCH_ID,SEGMENT,SECURITY_ID,INSTRUMENT,SYMBOL_NAME,LOT_SIZE,TICK_SIZE,NEW_COL,"
    path = _write(tmp_path, "thin.csv", header, ["NSE,I,25,INDEX,BANKNIFTY,1,0.05,zzz,"])
    [row] = parse_scrip_master(path)
    assert (row.segment, row.security_id, row.symbol, row.isin, row.freeze_qty) == (
        "IDX_I", 25, "BANKNIFTY", None, None)


# --- idempotence and updates ----------------------------------------------------------------

def test_reimport_is_idempotent(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    path = _write(tmp_path, "detailed.csv", DETAILED_HEADER, DETAILED_ROWS)
    import_scrip_master(sessions, path, clock=FixedClock(T0))
    before = _snapshot(sessions)
    again = import_scrip_master(sessions, path, clock=FixedClock(T1))
    assert _snapshot(sessions) == before  # updated_at too: nothing changed
    assert (again.instruments_inserted, again.instruments_updated, again.derivatives_inserted,
            again.derivatives_updated, again.unchanged) == (0, 0, 0, 0, 5)


def test_newer_file_updates_lot_sizes(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    old = _write(tmp_path, "old.csv", COMPACT_HEADER, COMPACT_ROWS[:3])
    new = _write(tmp_path, "new.csv", COMPACT_HEADER,
                 [row.replace(",25.0,", ",75.0,") for row in COMPACT_ROWS[:3]])
    import_scrip_master(sessions, old, clock=FixedClock(T0))
    summary = import_scrip_master(sessions, new, clock=FixedClock(T1))
    assert (summary.derivatives_inserted, summary.derivatives_updated) == (0, 3)
    with sessions() as session:
        stored = session.scalars(select(Derivative)).all()
        assert {(d.lot_size, d.updated_at) for d in stored} == {(75, T1)}
    assert _count(sessions, Derivative) == 3


# --- malformed files ------------------------------------------------------------------------

MALFORMED = [
    ("SEM_LOT_UNITS", ",25.0,", ",abc,", r"line 7, column SEM_LOT_UNITS: 'abc' is not a number"),
    ("SEM_LOT_UNITS", ",25.0,", ",25.5,", r"line 7, column SEM_LOT_UNITS: '25.5' is not a whole"),
    ("SEM_EXPIRY_DATE", "2024-10-10 14:30:00", "10/10/2024",
     r"line 7, column SEM_EXPIRY_DATE: '10/10/2024' is not a date"),
    ("SEM_OPTION_TYPE", ",CE,", ",CA,", r"line 7, column SEM_OPTION_TYPE: 'CA' is not CE"),
    ("SEM_SMST_SECURITY_ID", ",37372,", ",,", r"line 7, column SEM_SMST_SECURITY_ID: empty"),
]


@pytest.mark.parametrize(("column", "old", "new", "message"), MALFORMED,
                         ids=[case[0] + str(i) for i, case in enumerate(MALFORMED)])
def test_malformed_cell_names_line_and_column_and_leaves_db_unchanged(
        sessions: sessionmaker[Session], tmp_path: Path, column: str, old: str, new: str,
        message: str) -> None:
    seed_watchlist(sessions, clock=FixedClock(T0))
    good = [row.replace("37372", str(40000 + i)) for i, row in enumerate(COMPACT_ROWS[:5])]
    path = _write(tmp_path, "compact_NIFTY.csv", COMPACT_HEADER,
                  [*good, COMPACT_ROWS[0].replace(old, new, 1)])
    before = _snapshot(sessions)
    with pytest.raises(MalformedDataError, match=rf"^compact_NIFTY\.csv {message}"):
        import_scrip_master(sessions, path, clock=FixedClock(T1))
    assert _snapshot(sessions) == before
    assert _count(sessions, Derivative) == 0


@pytest.mark.parametrize(("header", "column"), [
    (DETAILED_HEADER.replace("SECURITY_ID,ISIN", "ISIN"), "SECURITY_ID"),
    (COMPACT_HEADER.replace("SEM_LOT_UNITS,", ""), "SEM_LOT_UNITS"),
])
def test_missing_required_column(tmp_path: Path, header: str, column: str) -> None:
    path = _write(tmp_path, "cols.csv", header, [])
    with pytest.raises(MalformedDataError,
                       match=rf"^cols\.csv line 1, column {column}: required column missing"):
        parse_scrip_master(path)


def test_conflicting_duplicate_security_id(tmp_path: Path) -> None:
    twice = [COMPACT_ROWS[0], COMPACT_ROWS[0], COMPACT_ROWS[0].replace(",25.0,", ",50.0,")]
    path = _write(tmp_path, "dup.csv", COMPACT_HEADER, twice)
    with pytest.raises(MalformedDataError, match=r"line 4, column SEM_SMST_SECURITY_ID: .*line 2"):
        parse_scrip_master(path)


def test_missing_file_is_missing_data(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="nope.csv"):
        parse_scrip_master(tmp_path / "nope.csv")


# --- watchlist seed and kind detection ------------------------------------------------------

def test_watchlist_seeded_once(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    seed_watchlist(sessions, clock=FixedClock(T0))
    seed_watchlist(sessions, clock=FixedClock(T1))
    import_scrip_master(sessions, _write(tmp_path, "c.csv", COMPACT_HEADER, COMPACT_ROWS[:4]),
                        clock=FixedClock(T1))
    with sessions() as session:
        watch = session.scalars(select(WatchlistItem).order_by(WatchlistItem.security_id)).all()
        assert [(w.segment, w.security_id, w.label, w.kind, w.active) for w in watch] == [
            ("IDX_I", 13, "NIFTY", "index", True), ("IDX_I", 25, "BANKNIFTY", "index", True),
            ("IDX_I", 51, "SENSEX", "index", True)]
        indices = session.scalars(select(Instrument).order_by(Instrument.security_id)).all()
        assert [(i.exchange, i.symbol, i.security_id, i.tick_size, i.lot_size, i.updated_at)
                for i in indices] == [("NSE", "NIFTY", 13, 0.05, 1, T0),
                                      ("NSE", "BANKNIFTY", 25, 0.05, 1, T0),
                                      ("BSE", "SENSEX", 51, 0.05, 1, T0)]


@pytest.mark.parametrize(("header", "kind"), [
    (COMPACT_HEADER, SCRIP_MASTER),
    (DETAILED_HEADER, SCRIP_MASTER),
    ("Instrument,Date,Time,Open,High,Low,Close", BARS),
    ("date,time,open,high,low,close,volume", BARS),
    ("\ufeffDATETIME,OPEN,HIGH,LOW,CLOSE", BARS),
])
def test_detect_csv_kind(tmp_path: Path, header: str, kind: str) -> None:
    assert detect_csv_kind(_write(tmp_path, "x.csv", header, [])) == kind


@pytest.mark.parametrize("header", ["Date,Open,High,Low", "a,b,c", ""])
def test_detect_csv_kind_rejects_unknown(tmp_path: Path, header: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(header, encoding="utf-8")
    with pytest.raises(MalformedDataError, match=r"^odd\.csv line 1"):
        detect_csv_kind(path)


@pytest.mark.realdata
def test_detect_real_files() -> None:
    assert detect_csv_kind(_real_file("compact_SENSEX.csv")) == SCRIP_MASTER
    bars = REALDATA / "index_1m" / "NIFTY_2024_1m.csv"
    if not bars.is_file():
        pytest.skip(f"real 1m bars {bars} absent")
    assert detect_csv_kind(bars) == BARS
