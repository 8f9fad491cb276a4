"""ORM models (SQLAlchemy 2.0 typed declarative).

Later migrations add tables here: every table lives on :class:`Base`, so
``Base.metadata`` is what Alembic compares the migrated schema against. Segments are always
the API names (``IDX_I``, ``NSE_FNO``...), never the scrip master's one-letter codes, and a
security id is unique only within its segment, hence the ``(segment, security_id)`` keys.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Named constraints: SQLite batch migrations can only alter constraints that have names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WATCHLIST_KINDS = ("index", "equity", "derivative")


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware UTC datetime on every backend (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store tz-aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every optscalp table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Instrument(Base):
    """A non-expiring instrument: index, equity... (``IDX_I`` NIFTY 13, ``NSE_EQ`` INFY...)."""

    __tablename__ = "instruments"
    __table_args__ = (UniqueConstraint("segment", "security_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(8))
    segment: Mapped[str] = mapped_column(String(16))
    security_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128))
    instrument: Mapped[str] = mapped_column(String(16))
    lot_size: Mapped[int] = mapped_column(Integer)
    tick_size: Mapped[float] = mapped_column(Float)  # rupees
    isin: Mapped[str | None] = mapped_column(String(16), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    derivatives: Mapped[list[Derivative]] = relationship(back_populates="underlying")

    def __repr__(self) -> str:
        return f"Instrument({self.segment}:{self.security_id} {self.symbol})"


class Derivative(Base):
    """A future or option; ``instrument_id`` is its underlying, linked by symbol."""

    __tablename__ = "derivatives"
    __table_args__ = (
        UniqueConstraint("segment", "security_id"),
        Index(None, "underlying_symbol", "expiry"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange: Mapped[str] = mapped_column(String(8))
    segment: Mapped[str] = mapped_column(String(16))
    security_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))  # trading symbol NIFTY-Oct2024-19600-CE
    display_name: Mapped[str] = mapped_column(String(128))
    instrument: Mapped[str] = mapped_column(String(16))  # OPTIDX, FUTIDX, OPTSTK...
    underlying_symbol: Mapped[str] = mapped_column(String(64))
    instrument_id: Mapped[int | None] = mapped_column(
        ForeignKey("instruments.id", ondelete="SET NULL"), nullable=True)
    expiry: Mapped[date] = mapped_column(Date)
    expiry_flag: Mapped[str | None] = mapped_column(String(2), nullable=True)  # W / M
    strike: Mapped[float | None] = mapped_column(Float, nullable=True)  # None for futures
    option_type: Mapped[str | None] = mapped_column(String(2), nullable=True)  # CE / PE
    lot_size: Mapped[int] = mapped_column(Integer)
    tick_size: Mapped[float] = mapped_column(Float)  # rupees
    freeze_qty: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    underlying: Mapped[Instrument | None] = relationship(back_populates="derivatives")

    def __repr__(self) -> str:
        return f"Derivative({self.segment}:{self.security_id} {self.symbol})"


class WatchlistItem(Base):
    """An instrument the market feed subscribes to."""

    __tablename__ = "watchlist"
    __table_args__ = (
        UniqueConstraint("segment", "security_id"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind}'" for kind in WATCHLIST_KINDS) + ")", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment: Mapped[str] = mapped_column(String(16))
    security_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    def __repr__(self) -> str:
        return f"WatchlistItem({self.segment}:{self.security_id} {self.label})"


# Last, so that Base.metadata (what Alembic compares against) always holds the journal tables.
from core.db import journal_models as journal_models  # noqa: E402
