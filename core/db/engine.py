"""Engine and session factory: SQLite by default (WAL, busy timeout, foreign keys), any URL.

SQLite only enforces foreign keys and waits on a locked database when told so on every new
connection, hence the connect listener; WAL lets a report or a health view read while the
trading process writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get their folder and per-connection pragmas.

    Any other SQLAlchemy URL (e.g. ``postgresql+psycopg://...``) is passed through.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, echo=echo, future=True)
    database_file = sqlite_file_path(parsed)
    if database_file is not None:
        database_file.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, echo=echo, future=True)
    _install_sqlite_pragmas(engine, busy_timeout_ms, use_wal=database_file is not None)
    return engine


def sqlite_file_path(url: URL | str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory and ``file:`` URI databases."""
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int, *, use_wal: bool) -> None:
    if busy_timeout_ms < 0:
        raise ValueError(f"busy_timeout_ms must be >= 0, got {busy_timeout_ms}")

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if use_wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()
