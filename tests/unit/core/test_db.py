"""Engine pragmas, migrations on a real SQLite file, and the ORM models against them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from core.db import migrate
from core.db.engine import make_engine, session_factory, sqlite_file_path
from core.db.models import Base, Derivative, Instrument, WatchlistItem

IST = ZoneInfo("Asia/Kolkata")
WHEN = datetime(2024, 10, 9, 9, 15, tzinfo=UTC)

EXPECTED_COLUMNS = {
    "instruments": {"id", "exchange", "segment", "security_id", "symbol", "display_name",
                    "instrument", "lot_size", "tick_size", "isin", "updated_at"},
    "derivatives": {"id", "exchange", "segment", "security_id", "symbol", "display_name",
                    "instrument", "underlying_symbol", "instrument_id", "expiry",
                    "expiry_flag", "strike", "option_type", "lot_size", "tick_size",
                    "freeze_qty", "updated_at"},
    "watchlist": {"id", "segment", "security_id", "label", "kind", "active"},
}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'optscalp.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _nifty_index() -> Instrument:
    return Instrument(exchange="NSE", segment="IDX_I", security_id=13, symbol="NIFTY",
                      display_name="Nifty 50", instrument="INDEX", lot_size=1, tick_size=0.05,
                      isin=None, updated_at=WHEN)


def _nifty_option(instrument_id: int | None) -> Derivative:
    return Derivative(exchange="NSE", segment="NSE_FNO", security_id=37372,
                      symbol="NIFTY-Oct2024-19600-CE", display_name="NIFTY 10 OCT 19600 CALL",
                      instrument="OPTIDX", underlying_symbol="NIFTY",
                      instrument_id=instrument_id, expiry=date(2024, 10, 10), expiry_flag="W",
                      strike=19600.0, option_type="CE", lot_size=25, tick_size=0.05,
                      freeze_qty=1800, updated_at=WHEN)


def test_migration_creates_tables_and_columns(engine: Engine, db_url: str) -> None:
    inspector = inspect(engine)
    assert {*EXPECTED_COLUMNS, "alembic_version"} <= set(inspector.get_table_names())
    for table, columns in EXPECTED_COLUMNS.items():
        assert {column["name"] for column in inspector.get_columns(table)} == columns
    assert migrate.current_revision(db_url) == migrate.head_revision()
    assert migrate.is_up_to_date(db_url)


def test_sqlite_file_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b.db'}", busy_timeout_ms=1234)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1234
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert (tmp_path / "a" / "b.db").is_file()


def test_in_memory_sqlite_gets_foreign_keys_and_no_file() -> None:
    assert sqlite_file_path("sqlite://") is None
    assert sqlite_file_path("sqlite:///:memory:") is None
    assert sqlite_file_path("sqlite:////x/y.db") == Path("/x/y.db")
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_metadata_matches_migrated_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_models_insert_query_and_link(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        index = _nifty_index()
        session.add(index)
        session.flush()
        session.add(_nifty_option(index.id))
        session.add(WatchlistItem(segment="IDX_I", security_id=13, label="NIFTY", kind="index"))
    with sessions() as session:
        option = session.scalars(select(Derivative)).one()
        assert option.underlying is not None
        assert (option.underlying.segment, option.underlying.security_id) == ("IDX_I", 13)
        assert option.expiry == date(2024, 10, 10)
        assert option.updated_at == WHEN
        assert option.updated_at.tzinfo is not None
        watch = session.scalars(select(WatchlistItem)).one()
        assert watch.active is True


def test_updated_at_is_stored_as_utc_and_naive_is_refused(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        index = _nifty_index()
        index.updated_at = datetime(2024, 10, 9, 14, 45, tzinfo=IST)
        session.add(index)
    with sessions() as session:
        stored = session.scalars(select(Instrument)).one().updated_at
        assert stored == WHEN
        assert stored.utcoffset().total_seconds() == 0
    with sessions() as session:
        naive = _nifty_index()
        naive.security_id = 25
        naive.updated_at = datetime(2024, 10, 9, 9, 15)  # noqa: DTZ001 - the case under test
        session.add(naive)
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_unique_segment_security_id_and_foreign_key_enforced(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.add(_nifty_index())
    with sessions() as session:
        session.add(_nifty_index())
        with pytest.raises(IntegrityError, match="UNIQUE"):
            session.flush()
    with sessions() as session:
        session.add(_nifty_option(instrument_id=999))
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            session.flush()


def test_watchlist_kind_must_be_known(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(WatchlistItem(segment="IDX_I", security_id=13, label="X", kind="bond"))
        with pytest.raises(IntegrityError, match="CHECK"):
            session.flush()


def test_upgrade_twice_is_a_noop_and_downgrade_to_base_drops(db_url: str) -> None:
    migrate.ensure_schema(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()
    migrate.downgrade(db_url, "base")
    assert migrate.current_revision(db_url) is None
    engine = make_engine(db_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


def test_migrates_from_any_working_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    migrate.upgrade("sqlite:///relative.db")
    relative = f"sqlite:///{tmp_path / 'relative.db'}"
    assert migrate.current_revision(relative) == migrate.head_revision()


def test_fresh_database_has_no_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert migrate.current_revision(url) is None
    assert not migrate.is_up_to_date(url)


def test_alembic_config_keeps_percent_encoded_urls() -> None:
    url = "postgresql+psycopg://user:p%40ss%25@localhost/optscalp"
    assert migrate.alembic_config(url).get_main_option("sqlalchemy.url") == url
