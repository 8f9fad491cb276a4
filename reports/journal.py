"""The run journal in the database: runs, and the records a run emits (``strategies/records``).

:class:`Journal` is the repository (it owns a session factory, no globals): it starts and
finishes runs, hands out a :class:`DbJournalSink` per run, merges a worker's
:class:`MemoryJournal`, and reads everything back as the same frozen records for reports and
restart recovery. The sink commits an order before returning, because the order row must be
durable before the broker sees the order; decisions (hundreds per simulated day) are
buffered and bulk-inserted, so a year-long backtest is not dominated by commits.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db.engine import session_factory
from core.db.journal_models import (
    RUN_STATUSES,
    DailyRiskRow,
    DecisionRow,
    FillRow,
    OrderEventRow,
    OrderRow,
    PositionRow,
    Run,
    TradeRow,
)
from core.db.models import Base
from core.errors import MissingDataError, ReconciliationError
from strategies.logic.types import Check
from strategies.records import (
    DayRecord,
    DecisionRecord,
    FillRecord,
    MemoryJournal,
    OrderRecord,
    OrderUpdateRecord,
    PositionRecord,
    TradeRecord,
)

log = logging.getLogger(__name__)

DECISION_BATCH = 500
INITIAL_ORDER_STATUS = "TRANSIT"
# A late, out-of-order update must not turn a final order back into a live one.
TERMINAL_ORDER_STATUSES = frozenset({"TRADED", "REJECTED", "CANCELLED", "EXPIRED"})
OPEN_POSITION_STATUSES = ("pending", "active")
# None = not journalled yet. Creating a position as "active" covers broker lots adopted at
# restart; repeating a live status records a change of HWM, breakeven flag or quantity.
POSITION_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending", "active"}),
    "pending": frozenset({"pending", "active", "cancelled"}),
    "active": frozenset({"active", "exited"}),
    "exited": frozenset(),
    "cancelled": frozenset(),
}

RecordT = TypeVar("RecordT")
# Days merged from workers arrive in any order; readers sort by time. Order events keep
# arrival order: a late update arriving out of order is itself worth seeing.
_TIME_ORDER: dict[type[Base], Any] = {
    OrderRow: OrderRow.created_at, FillRow: FillRow.at, PositionRow: PositionRow.opened_at,
    TradeRow: TradeRow.entry_at, DecisionRow: DecisionRow.at, DailyRiskRow: DailyRiskRow.day,
}


@dataclass(frozen=True)
class RunRow:
    """A journalled run."""

    id: str
    mode: str
    underlying: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    config_yaml: str
    overrides: str
    code_version: str
    days: tuple[date, ...]
    notes: str


@dataclass(frozen=True)
class JournalOrder:
    """An order as journalled (``record``) with its latest status."""

    record: OrderRecord
    status: str
    updated_at: datetime
    broker_order_id: str | None


def check_position_transition(position_key: str, old: str | None, new: str) -> None:
    """Raise ReconciliationError unless ``old -> new`` is allowed (None = a new position)."""
    if new not in POSITION_TRANSITIONS.get(old, frozenset()):
        raise ReconciliationError(
            f"position {position_key}: illegal transition {old or '(new)'} -> {new}")


def describe_code_version(repo_root: Path | None = None) -> str:
    """``git describe --always --dirty --tags`` of the checkout, else the package version."""
    root = repo_root or Path(__file__).resolve().parents[1]
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=root, check=True,
            capture_output=True, text=True, timeout=5).stdout.strip()
        if described:
            return described
    except (OSError, subprocess.SubprocessError):
        log.debug("git describe unavailable in %s; using the package version", root)
    try:
        return f"optscalp {metadata.version('optscalp')}"
    except metadata.PackageNotFoundError:
        return "unknown"


class DbJournalSink:
    """A :class:`JournalSink` writing one run's records to the database.

    Every non-decision write commits before returning, together with the buffered
    decisions; decisions alone are bulk-inserted when ``decision_batch`` are buffered, on
    :meth:`flush` and on :meth:`close`. A failed write rolls back and keeps the buffer.
    Thread-safe (a broker's order-update thread may write while the strategy decides).
    """

    def __init__(self, sessions: sessionmaker[Session], run_id: str,
                 decision_batch: int = DECISION_BATCH) -> None:
        if decision_batch < 1:
            raise ValueError(f"decision_batch must be >= 1, got {decision_batch}")
        self._sessions = sessions
        self.run_id = run_id
        self._decision_batch = decision_batch
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._closed = False

    @property
    def pending_decisions(self) -> int:
        """Decisions buffered and not yet written."""
        return len(self._pending)

    def decision(self, record: DecisionRecord) -> None:
        with self._lock:
            self._ensure_open()
            self._pending.append(_decision_values(self.run_id, record))
            if len(self._pending) >= self._decision_batch:
                self._commit(None)

    def order(self, record: OrderRecord) -> None:
        """Insert the order and commit: it is durable when this returns.

        A correlation id already journalled raises ReconciliationError: do not send it.
        """
        try:
            self._commit(lambda session: _insert_orders(session, self.run_id, [record]))
        except IntegrityError as error:
            raise ReconciliationError(f"order {record.correlation_id} (run {self.run_id}) "
                                      f"not journalled: {error.orig}") from error

    def order_update(self, record: OrderUpdateRecord) -> None:
        self._commit(lambda session: _apply_order_update(session, self.run_id, record))

    def fill(self, record: FillRecord) -> None:
        self._commit(lambda session: _bulk_insert(session, FillRow, self.run_id, [record]))

    def position(self, record: PositionRecord) -> None:
        """Record a position change; an illegal status transition raises ReconciliationError."""
        self._commit(lambda session: _apply_position(session, self.run_id, record))

    def trade(self, record: TradeRecord) -> None:
        self._commit(lambda session: _bulk_insert(session, TradeRow, self.run_id, [record]))

    def day(self, record: DayRecord) -> None:
        self._commit(lambda session: _upsert_day(session, self.run_id, record))

    def flush(self) -> None:
        """Write the buffered decisions now."""
        with self._lock:
            if self._pending:
                self._commit(None)

    def close(self) -> None:
        """Flush and refuse further writes (idempotent)."""
        with self._lock:
            if not self._closed:
                self.flush()
                self._closed = True

    def __enter__(self) -> DbJournalSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"journal sink of run {self.run_id} is closed")

    def _commit(self, write: Callable[[Session], None] | None) -> None:
        with self._lock:
            self._ensure_open()
            with self._sessions.begin() as session:
                if self._pending:
                    session.execute(insert(DecisionRow), self._pending)
                if write is not None:
                    write(session)
            self._pending = []


class Journal:
    """The run journal repository over a session factory (or an engine)."""

    def __init__(self, sessions: sessionmaker[Session] | Engine) -> None:
        self._sessions = session_factory(sessions) if isinstance(sessions, Engine) else sessions

    def start_run(self, run_id: str, mode: str, underlying: str, config_yaml: str,
                  overrides: str, code_version: str, days: Sequence[date],
                  started_at: datetime, notes: str = "") -> None:
        """Record a new run as ``running``; a run id already journalled raises ValueError."""
        row = Run(id=run_id, mode=mode, underlying=underlying, started_at=started_at,
                  finished_at=None, status="running", config_yaml=config_yaml,
                  overrides=overrides, code_version=code_version,
                  days=json.dumps([day.isoformat() for day in days]), notes=notes)
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as error:
            raise ValueError(f"run {run_id!r} is already in the journal") from error

    def finish_run(self, run_id: str, finished_at: datetime, status: str = "finished") -> None:
        """Mark a run ``finished`` or ``failed``."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"run status {status!r}: expected one of {RUN_STATUSES[1:]}")
        with self._sessions.begin() as session:
            row = _require_run(session, run_id)
            row.finished_at = finished_at
            row.status = status

    def reopen_run(self, run_id: str) -> None:
        """Mark a stopped run ``running`` again: a paper/live session resumed after a stop."""
        with self._sessions.begin() as session:
            row = _require_run(session, run_id)
            row.status = "running"
            row.finished_at = None

    def next_run_id(self, prefix_day: date) -> str:
        """``r<YYYYMMDD>-<NNN>``: one more than the highest id journalled for that day."""
        prefix = f"r{prefix_day:%Y%m%d}-"
        pattern = re.compile(re.escape(prefix) + r"(\d+)$")
        with self._sessions() as session:
            ids = session.scalars(select(Run.id).where(Run.id.startswith(prefix)))
            numbers = [int(m.group(1)) for m in map(pattern.match, ids) if m]
        return f"{prefix}{max(numbers, default=0) + 1:03d}"

    def sink(self, run_id: str, decision_batch: int = DECISION_BATCH) -> DbJournalSink:
        """A sink writing into the journalled run ``run_id``."""
        with self._sessions() as session:
            _require_run(session, run_id)
        return DbJournalSink(self._sessions, run_id, decision_batch)

    def merge(self, run_id: str, memory: MemoryJournal) -> None:
        """Write a worker's records into ``run_id`` in one transaction (all or nothing)."""
        try:
            with self._sessions.begin() as session:
                _require_run(session, run_id)
                _insert_orders(session, run_id, memory.orders)
                for update in memory.order_updates:
                    _apply_order_update(session, run_id, update)
                _bulk_insert(session, FillRow, run_id, memory.fills)
                for position in memory.positions:
                    _apply_position(session, run_id, position)
                _bulk_insert(session, TradeRow, run_id, memory.trades)
                for day in memory.days:
                    _upsert_day(session, run_id, day)
                if memory.decisions:
                    session.execute(insert(DecisionRow),
                                    [_decision_values(run_id, d) for d in memory.decisions])
        except IntegrityError as error:
            raise ReconciliationError(f"merge into run {run_id}: {error.orig}") from error

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(select(Run).order_by(Run.started_at, Run.id))
            return [_run_row(row) for row in rows]

    def run(self, run_id: str) -> RunRow:
        with self._sessions() as session:
            return _run_row(_require_run(session, run_id))

    def orders(self, run_id: str) -> list[JournalOrder]:
        return [_journal_order(row) for row in self._rows(OrderRow, run_id)]

    def order_events(self, run_id: str) -> list[OrderUpdateRecord]:
        return [_record(OrderUpdateRecord, row) for row in self._rows(OrderEventRow, run_id)]

    def fills(self, run_id: str) -> list[FillRecord]:
        return [_record(FillRecord, row) for row in self._rows(FillRow, run_id)]

    def positions(self, run_id: str) -> list[PositionRecord]:
        """Every position's latest state (``at`` = its last change)."""
        return [_position_record(row) for row in self._rows(PositionRow, run_id)]

    def open_positions(self, run_id: str) -> list[PositionRecord]:
        """Positions still pending or active (what a restart must resume)."""
        rows = self._rows(PositionRow, run_id, PositionRow.status.in_(OPEN_POSITION_STATUSES))
        return [_position_record(row) for row in rows]

    def trades(self, run_id: str) -> list[TradeRecord]:
        return [_record(TradeRecord, row) for row in self._rows(TradeRow, run_id)]

    def decisions(self, run_id: str) -> list[DecisionRecord]:
        # Columns, not ORM rows: a year's run holds ~60k decisions (ORM objects took 4 s).
        query = (select(*_DECISION_COLUMNS).where(DecisionRow.run_id == run_id)
                 .order_by(DecisionRow.at, DecisionRow.id))
        with self._sessions() as session:
            rows = session.execute(query).all()
        shared: dict[tuple[str, bool, str], Check] = {}
        return [DecisionRecord(at, kind, taken, reason, direction, security_id, symbol,
                               _checks(checks, shared))
                for at, kind, taken, reason, direction, security_id, symbol, checks in rows]

    def days(self, run_id: str) -> list[DayRecord]:
        return [_record(DayRecord, row) for row in self._rows(DailyRiskRow, run_id)]

    def breaker_latched(self, run_id: str, day: date) -> bool:
        """Whether the daily circuit breaker of ``run_id`` tripped on ``day``."""
        with self._sessions() as session:
            latched = session.scalar(select(DailyRiskRow.breaker_tripped).where(
                DailyRiskRow.run_id == run_id, DailyRiskRow.day == day))
        return bool(latched)

    def _rows(self, model: type[Any], run_id: str, *where: ColumnElement[bool]) -> list[Any]:
        """Rows of one run in time order, ties (and order events) in write order."""
        order_by = [_TIME_ORDER[model]] if model in _TIME_ORDER else []
        with self._sessions() as session:
            query = select(model).where(model.run_id == run_id, *where)
            return list(session.scalars(query.order_by(*order_by, model.id)))


def _require_run(session: Session, run_id: str) -> Run:
    row = session.get(Run, run_id)
    if row is None:
        raise MissingDataError(f"run {run_id!r} is not in the journal")
    return row


def _values(record: Any, **extra: Any) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _field_names(type(record))}
    values.update(extra)
    return values


@functools.lru_cache(maxsize=64)
def _field_names(record_type: type) -> tuple[str, ...]:
    """A record dataclass's field names (``fields()`` per record is a cost at 60k rows)."""
    return tuple(f.name for f in fields(record_type))


def _record(record_type: type[RecordT], row: Any) -> RecordT:
    names = [f.name for f in fields(record_type)]  # type: ignore[arg-type]
    return record_type(**{name: getattr(row, name) for name in names})


def _bulk_insert(session: Session, model: type[Base], run_id: str,
                 records: Iterable[Any]) -> None:
    values = [_values(record, run_id=run_id) for record in records]
    if values:
        session.execute(insert(model), values)


def _insert_orders(session: Session, run_id: str, records: Sequence[OrderRecord]) -> None:
    values = [_values(r, run_id=run_id, status=INITIAL_ORDER_STATUS, updated_at=r.at)
              for r in records]
    for value in values:
        value["created_at"] = value.pop("at")
    if values:
        session.execute(insert(OrderRow), values)


def _apply_order_update(session: Session, run_id: str, record: OrderUpdateRecord) -> None:
    session.execute(insert(OrderEventRow), [_values(record, run_id=run_id)])
    order = session.scalars(
        select(OrderRow).where(OrderRow.correlation_id == record.correlation_id)).one_or_none()
    if order is None:
        log.warning("run %s: update %s for unjournalled order %s", run_id, record.status,
                    record.correlation_id)
        return
    if record.broker_order_id:
        order.broker_order_id = record.broker_order_id
    if order.status in TERMINAL_ORDER_STATUSES and record.status != order.status:
        log.warning("order %s: keeps final status %s, ignores late %s",
                    record.correlation_id, order.status, record.status)
        return
    order.status = record.status
    order.updated_at = record.at


def _apply_position(session: Session, run_id: str, record: PositionRecord) -> None:
    row = session.scalars(select(PositionRow).where(
        PositionRow.position_key == record.position_key)).one_or_none()
    check_position_transition(record.position_key, row.status if row else None, record.status)
    if row is None:
        row = PositionRow(run_id=run_id, position_key=record.position_key,
                          opened_at=record.at)
        session.add(row)
    elif row.run_id != run_id:
        raise ReconciliationError(
            f"position {record.position_key} belongs to run {row.run_id}, not {run_id}")
    for name in ("status", "security_id", "symbol", "quantity", "entry_price", "hwm",
                 "breakeven_locked", "exit_reason"):
        setattr(row, name, getattr(record, name))
    row.updated_at = record.at
    if record.status not in OPEN_POSITION_STATUSES:
        row.closed_at = record.at


def _upsert_day(session: Session, run_id: str, record: DayRecord) -> None:
    row = session.scalars(select(DailyRiskRow).where(
        DailyRiskRow.run_id == run_id, DailyRiskRow.day == record.day)).one_or_none()
    was_latched = row is not None and row.breaker_tripped
    if row is None:
        row = DailyRiskRow(run_id=run_id, day=record.day)
        session.add(row)
    for name, value in _values(record).items():
        setattr(row, name, value)
    if was_latched and not record.breaker_tripped:
        # The breaker is a latch for the whole session: a later record cannot clear it.
        log.warning("run %s %s: breaker stays tripped", run_id, record.day)
        row.breaker_tripped = True


def _decision_values(run_id: str, record: DecisionRecord) -> dict[str, Any]:
    values = _values(record, run_id=run_id)
    # What asdict(check) gives, without its recursive copy (a year journals ~600k checks).
    values["checks_json"] = [{"name": c.name, "passed": c.passed, "detail": c.detail}
                             for c in values.pop("checks")]
    return values


_DECISION_COLUMNS = (DecisionRow.at, DecisionRow.kind, DecisionRow.taken, DecisionRow.reason,
                     DecisionRow.direction, DecisionRow.security_id, DecisionRow.symbol,
                     DecisionRow.checks_json)


def _checks(stored: list[dict[str, Any]],
            shared: dict[tuple[str, bool, str], Check]) -> tuple[Check, ...]:
    """Stored checks as Check records; equal checks (most "passed" ones repeat) share one
    frozen instance."""
    out = []
    for item in stored:
        key = (item["name"], item["passed"], item.get("detail", ""))
        check = shared.get(key)
        if check is None:
            check = shared[key] = Check(*key)
        out.append(check)
    return tuple(out)


def _journal_order(row: OrderRow) -> JournalOrder:
    record = OrderRecord(correlation_id=row.correlation_id, tag=row.tag, at=row.created_at,
                         side=row.side, security_id=row.security_id, symbol=row.symbol,
                         quantity=row.quantity, reference_price=row.reference_price,
                         purpose=row.purpose, exit_reason=row.exit_reason)
    return JournalOrder(record=record, status=row.status, updated_at=row.updated_at,
                        broker_order_id=row.broker_order_id)


def _position_record(row: PositionRow) -> PositionRecord:
    values = {f.name: getattr(row, f.name) for f in fields(PositionRecord) if f.name != "at"}
    return PositionRecord(at=row.updated_at, **values)


def _run_row(row: Run) -> RunRow:
    return RunRow(id=row.id, mode=row.mode, underlying=row.underlying,
                  started_at=row.started_at, finished_at=row.finished_at, status=row.status,
                  config_yaml=row.config_yaml, overrides=row.overrides,
                  code_version=row.code_version,
                  days=tuple(date.fromisoformat(day) for day in json.loads(row.days)),
                  notes=row.notes)
