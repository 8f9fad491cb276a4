"""The run journal tables: runs, orders and their events, fills, positions, trades, decisions,
daily risk state.

Every row carries ``run_id`` (cascade-deleted with its run), so a report, a restart or a
comparison of two runs reads one run without guessing. Column names of fills, trades and
daily risk are the field names of the records in ``strategies/records.py``; the repository
(``reports/journal.py``) converts between the two. Correlation ids and position keys are
unique across all runs: the broker needs them unique, and a reused id must fail before the
order is sent, not after.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, MappedColumn, mapped_column

from core.db.models import Base, UTCDateTime

RUN_STATUSES = ("running", "finished", "failed")
POSITION_STATUSES = ("pending", "active", "exited", "cancelled")
ORDER_SIDES = ("BUY", "SELL")
ORDER_PURPOSES = ("entry", "exit")


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")",
                           name=name)


def _run_fk() -> MappedColumn[str]:
    return mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)


class Run(Base):
    """One run: its mode, the resolved config and overrides, the code that ran, its days."""

    __tablename__ = "runs"
    __table_args__ = (_one_of("status", RUN_STATUSES, "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # r20241009-001
    mode: Mapped[str] = mapped_column(String(16))
    underlying: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    config_yaml: Mapped[str] = mapped_column(Text)
    overrides: Mapped[str] = mapped_column(Text)
    code_version: Mapped[str] = mapped_column(String(128))
    days: Mapped[str] = mapped_column(Text)  # JSON list of ISO dates
    notes: Mapped[str] = mapped_column(Text, default="")


class OrderRow(Base):
    """An order as journalled before sending, with its latest status."""

    __tablename__ = "orders"
    __table_args__ = (
        _one_of("side", ORDER_SIDES, "side"),
        _one_of("purpose", ORDER_PURPOSES, "purpose"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    correlation_id: Mapped[str] = mapped_column(String(64), unique=True)
    tag: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    side: Mapped[str] = mapped_column(String(4))
    security_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reference_price: Mapped[float] = mapped_column(Float)
    purpose: Mapped[str] = mapped_column(String(8))
    exit_reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    broker_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OrderEventRow(Base):
    """One status change of an order, in arrival order."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text)
    broker_order_id: Mapped[str] = mapped_column(String(64), default="")


class FillRow(Base):
    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    correlation_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    security_id: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[float] = mapped_column(Float)
    quantity: Mapped[int] = mapped_column(Integer)
    charges: Mapped[float] = mapped_column(Float)


class PositionRow(Base):
    """A position's current state; ``position_key`` is its entry order's correlation id."""

    __tablename__ = "positions"
    __table_args__ = (_one_of("status", POSITION_STATUSES, "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    position_key: Mapped[str] = mapped_column(String(64), unique=True)
    security_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    entry_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    hwm: Mapped[float | None] = mapped_column(Float, nullable=True)
    breakeven_locked: Mapped[bool] = mapped_column(Boolean)
    exit_reason: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())  # first journalled
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TradeRow(Base):
    """A closed round trip after charges (the fields of ``TradeRecord``)."""

    __tablename__ = "trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    day: Mapped[date] = mapped_column(Date)
    security_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(64))
    option_type: Mapped[str] = mapped_column(String(2))
    strike: Mapped[float] = mapped_column(Float)
    expiry: Mapped[date] = mapped_column(Date)
    lots: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    entry_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_price: Mapped[float] = mapped_column(Float)
    exit_at: Mapped[datetime] = mapped_column(UTCDateTime())
    exit_price: Mapped[float] = mapped_column(Float)
    exit_reason: Mapped[str] = mapped_column(String(64))
    exit_tag: Mapped[str] = mapped_column(String(128))
    entry_tag: Mapped[str] = mapped_column(String(128))
    gross_pnl: Mapped[float] = mapped_column(Float)
    charges: Mapped[float] = mapped_column(Float)
    net_pnl: Mapped[float] = mapped_column(Float)
    hwm: Mapped[float] = mapped_column(Float)
    breakeven_locked: Mapped[bool] = mapped_column(Boolean)
    entry_correlation_id: Mapped[str] = mapped_column(String(64))
    exit_correlation_id: Mapped[str] = mapped_column(String(64))


class DecisionRow(Base):
    """A decision taken or rejected with its checks (the audit trail)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = _run_fk()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    taken: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(16))
    security_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    symbol: Mapped[str] = mapped_column(String(64))
    checks_json: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class DailyRiskRow(Base):
    """One session's risk state; ``breaker_tripped`` is the latch a restart must honour."""

    __tablename__ = "daily_risk"
    __table_args__ = (UniqueConstraint("run_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    start_balance: Mapped[float] = mapped_column(Float)
    end_balance: Mapped[float] = mapped_column(Float)
    realised_pnl: Mapped[float] = mapped_column(Float)
    charges: Mapped[float] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(Integer)
    breaker_tripped: Mapped[bool] = mapped_column(Boolean)
