"""The run journal on a real, migrated SQLite file: write records, read back the same records."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, func, inspect, select, text

from core.db import migrate
from core.db.engine import make_engine, session_factory
from core.db.journal_models import DecisionRow, OrderRow
from core.db.models import Base
from core.errors import MissingDataError, ReconciliationError
from reports.journal import (
    Journal,
    JournalOrder,
    check_position_transition,
    describe_code_version,
)
from strategies.logic.types import Check
from strategies.records import (
    DayRecord,
    DecisionRecord,
    FillRecord,
    JournalSink,
    MemoryJournal,
    OrderRecord,
    OrderUpdateRecord,
    PositionRecord,
    TradeRecord,
)

IST = ZoneInfo("Asia/Kolkata")
DAY = date(2024, 10, 9)
T0 = datetime(2024, 10, 9, 9, 20, tzinfo=IST)  # written in IST, read back in UTC
RUN = "r20241009-001"
JOURNAL_TABLES = {"runs", "orders", "order_events", "fills", "positions", "trades",
                  "decisions", "daily_risk"}
ENTRY_ID = "entry_NIFTY_CE_24500-r1o1"
EXIT_ID = "trailing_stop_3pct-r1o2"
REJECTED_ID = "entry_NIFTY_PE_24400-r1o3"
CE = "NIFTY-Oct2024-24500-CE"


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _decision(minutes: float, kind: str = "signal", taken: bool = False) -> DecisionRecord:
    return DecisionRecord(at=_at(minutes), kind=kind, taken=taken,
                          reason="adx below 25" if not taken else "bullish confirmed",
                          direction="bullish" if taken else "",
                          checks=(Check("adx", taken, f"adx={minutes:.1f}"),
                                  Check("window", True)))


ENTRY = OrderRecord(correlation_id=ENTRY_ID, tag="entry_NIFTY_CE_24500", at=_at(1), side="BUY",
                    security_id=37372, symbol=CE, quantity=75, reference_price=101.5,
                    purpose="entry")
EXIT = OrderRecord(correlation_id=EXIT_ID, tag="trailing_stop_3pct", at=_at(20), side="SELL",
                   security_id=37372, symbol=CE, quantity=75, reference_price=111.5,
                   purpose="exit", exit_reason="trailing_stop")
REJECTED = OrderRecord(correlation_id=REJECTED_ID, tag="entry_NIFTY_PE_24400", at=_at(30),
                       side="BUY", security_id=37400, symbol="NIFTY-Oct2024-24400-PE",
                       quantity=75, reference_price=88.0, purpose="entry")
PENDING = PositionRecord(position_key=ENTRY_ID, at=_at(1), status="pending",
                         security_id=37372, symbol=CE, quantity=75)
ACTIVE = replace(PENDING, at=_at(1.1), status="active", entry_price=102.0, hwm=102.0)
LOCKED = replace(ACTIVE, at=_at(12), hwm=115.0, breakeven_locked=True)
EXITED = replace(LOCKED, at=_at(20.1), status="exited", exit_reason="trailing_stop")
REJECTED_PENDING = PositionRecord(position_key=REJECTED_ID, at=_at(30), status="pending",
                                  security_id=37400, symbol=REJECTED.symbol, quantity=75)
TRADE = TradeRecord(day=DAY, security_id=37372, symbol=CE, option_type="CE", strike=24500.0,
                    expiry=date(2024, 10, 10), lots=1, quantity=75, entry_at=_at(1.1),
                    entry_price=102.0, exit_at=_at(20.1), exit_price=111.4,
                    exit_reason="trailing_stop", exit_tag="trailing_stop_3pct",
                    entry_tag="entry_NIFTY_CE_24500", gross_pnl=705.0, charges=64.37,
                    net_pnl=640.63, hwm=115.0, breakeven_locked=True,
                    entry_correlation_id=ENTRY_ID, exit_correlation_id=EXIT_ID)
DAY_RECORD = DayRecord(day=DAY, start_balance=100_000.0, end_balance=100_640.63,
                       realised_pnl=640.63, charges=64.37, trades=1, breaker_tripped=False)

# One session in call order: what the strategy adapter would emit.
SCENARIO: list[tuple[str, Any]] = [
    ("decision", _decision(0)),
    ("decision", _decision(0.5, "entry", taken=True)),
    ("position", PENDING),
    ("order", ENTRY),
    ("order_update", OrderUpdateRecord(ENTRY_ID, _at(1.01), "PENDING", broker_order_id="11")),
    ("fill", FillRecord(ENTRY_ID, _at(1.1), 37372, "BUY", 102.0, 75, 23.61)),
    ("order_update", OrderUpdateRecord(ENTRY_ID, _at(1.1), "TRADED", "filled 75@102")),
    ("position", ACTIVE),
    *[("decision", _decision(2 + i)) for i in range(5)],
    ("position", LOCKED),
    ("order", EXIT),
    ("order_update", OrderUpdateRecord(EXIT_ID, _at(20.1), "TRADED", broker_order_id="12")),
    ("fill", FillRecord(EXIT_ID, _at(20.1), 37372, "SELL", 111.4, 75, 40.76)),
    ("position", EXITED),
    ("trade", TRADE),
    ("position", REJECTED_PENDING),
    ("order", REJECTED),
    ("order_update", OrderUpdateRecord(REJECTED_ID, _at(30.01), "REJECTED", "DH-906 margin")),
    ("position", replace(REJECTED_PENDING, at=_at(30.01), status="cancelled")),
    ("decision", _decision(31, "skip")),
    ("day", DAY_RECORD),
]


def _emit(sink: JournalSink, scenario: list[tuple[str, Any]] = SCENARIO) -> None:
    for method, record in scenario:
        getattr(sink, method)(record)


def _records(method: str) -> list[Any]:
    return [record for name, record in SCENARIO if name == method]


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("journal") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    shutil.copy(migrated_template, tmp_path / "optscalp.db")
    return f"sqlite:///{tmp_path / 'optscalp.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def journal(engine: Engine) -> Journal:
    journal = Journal(session_factory(engine))
    _start(journal, RUN)
    return journal


def _start(journal: Journal, run_id: str, started_at: datetime = T0) -> None:
    journal.start_run(run_id, mode="backtest", underlying="NIFTY",
                      config_yaml="mode:\n  name: backtest\n", overrides="risk.sl_pct=0.25",
                      code_version="v0.1.0-3-gabc1234", days=[DAY, DAY + timedelta(days=1)],
                      started_at=started_at)


def _everything(journal: Journal, run_id: str) -> dict[str, list[Any]]:
    return {"orders": journal.orders(run_id), "events": journal.order_events(run_id),
            "fills": journal.fills(run_id), "positions": journal.positions(run_id),
            "trades": journal.trades(run_id), "decisions": journal.decisions(run_id),
            "days": journal.days(run_id)}


def test_migrated_schema_matches_models(engine: Engine, db_url: str) -> None:
    assert set(inspect(engine).get_table_names()) >= JOURNAL_TABLES
    assert migrate.current_revision(db_url) == migrate.head_revision() == "0002"
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_0001_drops_only_the_journal(db_url: str, engine: Engine) -> None:
    migrate.downgrade(db_url, "0001")
    tables = set(inspect(engine).get_table_names())
    assert not tables & JOURNAL_TABLES
    assert {"instruments", "derivatives", "watchlist"} <= tables


def test_run_round_trip_and_finish(journal: Journal) -> None:
    run = journal.run(RUN)
    assert (run.mode, run.underlying, run.status, run.finished_at) == (
        "backtest", "NIFTY", "running", None)
    assert run.days == (DAY, date(2024, 10, 10))
    assert run.overrides == "risk.sl_pct=0.25"
    assert run.config_yaml == "mode:\n  name: backtest\n"
    assert run.started_at == T0
    assert run.started_at.utcoffset() == timedelta(0)
    journal.finish_run(RUN, finished_at=_at(400), status="failed")
    finished = journal.run(RUN)
    assert (finished.status, finished.finished_at) == ("failed", _at(400))
    assert [r.id for r in journal.runs()] == [RUN]


def test_run_errors_name_the_run(journal: Journal) -> None:
    with pytest.raises(ValueError, match="r20241009-001.*already"):
        _start(journal, RUN)
    with pytest.raises(MissingDataError, match="r20241009-999"):
        journal.finish_run("r20241009-999", _at(1))
    with pytest.raises(MissingDataError, match="r20241009-999"):
        journal.sink("r20241009-999")
    with pytest.raises(ValueError, match="'running'"):
        journal.finish_run(RUN, _at(1), status="running")


def test_order_is_committed_when_sink_order_returns(journal: Journal, db_url: str) -> None:
    sink = journal.sink(RUN)
    sink.decision(_decision(0, "entry", taken=True))
    sink.order(ENTRY)
    other = make_engine(db_url)  # a second engine: sees only what was committed
    try:
        with other.connect() as connection:
            row = connection.execute(text(
                "SELECT status, tag, quantity FROM orders WHERE correlation_id = :id"),
                {"id": ENTRY_ID}).one()
            decisions = connection.execute(text("SELECT count(*) FROM decisions")).scalar()
    finally:
        other.dispose()
    assert tuple(row) == ("TRANSIT", "entry_NIFTY_CE_24500", 75)
    assert decisions == 1  # the buffered decision went out with the order


def test_session_reads_back_equal_records(journal: Journal) -> None:
    with journal.sink(RUN) as sink:
        _emit(sink)
    assert journal.decisions(RUN) == _records("decision")
    assert journal.fills(RUN) == _records("fill")
    assert journal.trades(RUN) == [TRADE]
    assert journal.days(RUN) == [DAY_RECORD]
    assert journal.order_events(RUN) == _records("order_update")
    assert journal.positions(RUN) == [EXITED, replace(REJECTED_PENDING, at=_at(30.01),
                                                      status="cancelled")]
    assert journal.open_positions(RUN) == []
    assert journal.orders(RUN) == [
        JournalOrder(ENTRY, "TRADED", _at(1.1), "11"),
        JournalOrder(EXIT, "TRADED", _at(20.1), "12"),
        JournalOrder(REJECTED, "REJECTED", _at(30.01), None),
    ]
    trade = journal.trades(RUN)[0]
    assert trade.entry_at.tzinfo is not None
    assert trade.entry_at.utcoffset() == timedelta(0)


def test_open_positions_are_pending_and_active(journal: Journal) -> None:
    sink = journal.sink(RUN)
    sink.position(PENDING)
    sink.position(ACTIVE)
    sink.position(REJECTED_PENDING)
    assert journal.open_positions(RUN) == [ACTIVE, REJECTED_PENDING]


def test_late_update_does_not_reopen_a_final_order(journal: Journal) -> None:
    sink = journal.sink(RUN)
    sink.order(ENTRY)
    sink.order_update(OrderUpdateRecord(ENTRY_ID, _at(2), "TRADED"))
    sink.order_update(OrderUpdateRecord(ENTRY_ID, _at(1.5), "PENDING", broker_order_id="77"))
    [order] = journal.orders(RUN)
    assert (order.status, order.updated_at, order.broker_order_id) == ("TRADED", _at(2), "77")
    assert [e.status for e in journal.order_events(RUN)] == ["TRADED", "PENDING"]


def test_duplicate_correlation_id_is_refused(journal: Journal) -> None:
    sink = journal.sink(RUN)
    sink.order(ENTRY)
    with pytest.raises(ReconciliationError, match=ENTRY_ID):
        sink.order(replace(ENTRY, at=_at(5)))
    assert len(journal.orders(RUN)) == 1


@pytest.mark.parametrize(("old", "new", "allowed"), [
    (None, "pending", True),
    (None, "active", True),  # broker lots adopted at restart
    (None, "exited", False),
    (None, "cancelled", False),
    ("pending", "active", True),
    ("pending", "cancelled", True),
    ("pending", "pending", True),
    ("pending", "exited", False),
    ("active", "active", True),
    ("active", "exited", True),
    ("active", "pending", False),
    ("active", "cancelled", False),
    ("exited", "active", False),
    ("exited", "exited", False),
    ("cancelled", "active", False),
    ("pending", "open", False),
])
def test_position_transitions(old: str | None, new: str, allowed: bool) -> None:
    if allowed:
        check_position_transition("k", old, new)
    else:
        with pytest.raises(ReconciliationError, match=f"position k: illegal transition .*{new}"):
            check_position_transition("k", old, new)


def test_illegal_transition_through_sink_rolls_back_and_keeps_decisions(
        journal: Journal) -> None:
    sink = journal.sink(RUN)
    sink.position(PENDING)
    for minute in range(3):
        sink.decision(_decision(minute))
    with pytest.raises(ReconciliationError, match=f"{ENTRY_ID}: illegal transition pending"):
        sink.position(EXITED)
    assert journal.positions(RUN) == [PENDING]
    assert sink.pending_decisions == 3
    sink.flush()
    assert len(journal.decisions(RUN)) == 3


def test_decisions_are_batched(journal: Journal, engine: Engine) -> None:
    statements: list[tuple[str, bool]] = []

    def count(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
              executemany: bool) -> None:
        statements.append((statement.split()[0].upper(), executemany))

    sink = journal.sink(RUN, decision_batch=500)
    decisions = [_decision(i / 10) for i in range(1_001)]
    event.listen(engine, "before_cursor_execute", count)
    try:
        for record in decisions:
            sink.decision(record)
        assert sink.pending_decisions == 1
        sink.flush()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) < 20
    # Two bulk inserts of 500 and one single-row insert on flush, nothing else.
    assert statements == [("INSERT", True), ("INSERT", True), ("INSERT", False)]
    assert journal.decisions(RUN) == decisions
    sink.close()
    with pytest.raises(RuntimeError, match="closed"):
        sink.decision(decisions[0])


def test_breaker_latch_reads_back_and_cannot_be_cleared(journal: Journal) -> None:
    sink = journal.sink(RUN)
    assert not journal.breaker_latched(RUN, DAY)
    tripped = replace(DAY_RECORD, realised_pnl=-6_100.0, breaker_tripped=True)
    sink.day(tripped)
    assert journal.breaker_latched(RUN, DAY)
    sink.day(replace(tripped, end_balance=93_900.0, breaker_tripped=False))
    assert journal.breaker_latched(RUN, DAY)
    assert journal.days(RUN) == [replace(tripped, end_balance=93_900.0)]
    next_day = replace(DAY_RECORD, day=DAY + timedelta(days=1))
    sink.day(next_day)
    assert not journal.breaker_latched(RUN, next_day.day)
    assert not journal.breaker_latched("r20241009-999", DAY)


def test_next_run_id_is_sequential_per_day(engine: Engine) -> None:
    journal = Journal(engine)
    assert journal.next_run_id(DAY) == "r20241009-001"
    _start(journal, journal.next_run_id(DAY))
    assert journal.next_run_id(DAY) == "r20241009-002"
    _start(journal, journal.next_run_id(DAY), started_at=_at(1))
    _start(journal, "r20241009-010", started_at=_at(2))
    _start(journal, "r20241009-notes", started_at=_at(3))
    assert journal.next_run_id(DAY) == "r20241009-011"
    assert journal.next_run_id(date(2024, 10, 10)) == "r20241010-001"
    assert [r.id for r in journal.runs()] == ["r20241009-001", "r20241009-002",
                                             "r20241009-010", "r20241009-notes"]


def test_merge_equals_writing_through_the_sink(journal: Journal, tmp_path: Path,
                                               migrated_template: Path) -> None:
    with journal.sink(RUN) as sink:
        _emit(sink)
    memory = MemoryJournal()
    _emit(memory)
    shutil.copy(migrated_template, tmp_path / "merged.db")
    merged_engine = make_engine(f"sqlite:///{tmp_path / 'merged.db'}")
    try:
        merged = Journal(merged_engine)
        _start(merged, RUN)
        merged.merge(RUN, memory)
        assert _everything(merged, RUN) == _everything(journal, RUN)
        with pytest.raises(ReconciliationError, match="merge into run"):
            merged.merge(RUN, memory)  # same correlation ids again: nothing written
        with session_factory(merged_engine)() as session:
            assert session.scalar(select(func.count()).select_from(OrderRow)) == 3
            assert session.scalar(select(func.count()).select_from(DecisionRow)) == len(
                _records("decision"))
    finally:
        merged_engine.dispose()


def test_merge_validates_position_transitions(journal: Journal) -> None:
    memory = MemoryJournal()
    memory.order(ENTRY)
    memory.position(PENDING)
    memory.position(EXITED)
    with pytest.raises(ReconciliationError, match="illegal transition pending -> exited"):
        journal.merge(RUN, memory)
    assert journal.orders(RUN) == []


def test_days_merged_out_of_order_read_back_in_time_order(journal: Journal) -> None:
    first, second = MemoryJournal(), MemoryJournal()
    for memory, offset in ((first, 0), (second, 1)):
        shift = timedelta(days=offset)
        memory.decision(replace(_decision(0), at=_at(0) + shift))
        memory.trade(replace(TRADE, day=DAY + shift, entry_at=TRADE.entry_at + shift,
                             exit_at=TRADE.exit_at + shift))
        memory.day(replace(DAY_RECORD, day=DAY + shift))
    journal.merge(RUN, second)
    journal.merge(RUN, first)
    assert journal.decisions(RUN) == first.decisions + second.decisions
    assert journal.trades(RUN) == first.trades + second.trades
    assert journal.days(RUN) == first.days + second.days


def test_code_version_falls_back_to_the_package_version(tmp_path: Path) -> None:
    assert describe_code_version(tmp_path) == f"optscalp {metadata.version('optscalp')}"
