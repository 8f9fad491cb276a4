"""Run the Alembic migrations programmatically (no alembic.ini, works from any cwd).

The migrations folder ships inside the package (``core/db/migrations``), so an installed
optscalp migrates its database the same way as a checkout: ``ensure_schema(cfg.db.url)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': URL-encoded passwords must survive it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, busy_timeout_ms: int = 5000) -> None:
    """Migrate the database at ``url`` up to ``revision`` (creating a SQLite file if absent)."""
    _run_command(url, busy_timeout_ms, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str, *, busy_timeout_ms: int = 5000) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` drops everything)."""
    _run_command(url, busy_timeout_ms, lambda config: command.downgrade(config, revision))


def ensure_schema(url: str, *, busy_timeout_ms: int = 5000) -> None:
    """Bring the database at ``url`` to the latest schema; a no-op when it is already there."""
    upgrade(url, "head", busy_timeout_ms=busy_timeout_ms)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def is_up_to_date(url: str) -> bool:
    """True when the database at ``url`` is at the head revision (a startup check)."""
    return current_revision(url) == head_revision()


def _run_command(url: str, busy_timeout_ms: int, run: Callable[[Config], None]) -> None:
    config = alembic_config(url)
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            run(config)
    finally:
        engine.dispose()
