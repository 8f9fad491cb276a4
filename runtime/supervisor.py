"""The paper-trading process: services started in dependency order, supervised, stopped clean.

Order: JSON logs -> startup checks (day is a session, catalog holds it, database reachable and
migrated) -> the run (new, or resumed: recovery rebuilds positions, P&L and the breaker latch
from the journal and reconciles them with the paper account) -> replay clock, paced store and
gate -> operator controls (kill file) -> paper broker and strategy -> threads: health view,
kill-file watch, feed pump and its watchdog (paced), engine. There is one engine thread and
so one risk/exit evaluation path.

Stopping: SIGINT/SIGTERM stop entries at once; open positions are flattened first
(``paper.flatten_on_shutdown``) or kept for the next start; then the journal is flushed, the
day's risk row written, the run marked finished and every thread joined. A crash (kill -9)
leaves the run ``running``; the next start resumes it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from core.calendar import TradingCalendar
from core.clock import IST, ist_to_utc, ns_from_utc, parse_hhmmss, utc_from_ns
from core.config import AppConfig
from core.db.engine import make_engine, session_factory
from core.errors import ConfigError
from feeds.catalog import Catalog
from feeds.paced import PacedReplayStore, PaceGate, session_clock
from jobs.data_jobs import calendar_for, ensure_simulated
from reports.journal import Journal
from runtime.controls import OperatorControls
from runtime.health import HealthServer
from runtime.logs import add_json_log
from runtime.pump import FeedPump
from runtime.recovery import recover, resume_time
from runtime.session import PaperSession, RuntimeSink, build_session
from runtime.startup import (
    SESSION_END,
    PaperRun,
    check_database,
    check_session_data,
    open_paper_run,
    paper_day,
)
from runtime.status import RuntimeStatus
from runtime.threads import ThreadSupervisor, Watchdog, Worker
from strategies.records import DayRecord, DecisionRecord, OrderUpdateRecord
from strategies.resume import ResumeState
from strategies.setup import build_setup, run_tag_for

log = logging.getLogger(__name__)

_STOP_SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}


class PaperRuntime:
    """One paper session as a long-lived, supervised process (see the module docstring).

    ``step_hooks`` are called on the engine thread at every engine step with the proposed
    release (UTC ns): observers for tests and benchmarks.
    """

    def __init__(self, app: AppConfig, install_signals: bool = True) -> None:
        self.app = app
        self.install_signals = install_signals
        self.step_hooks: list[Callable[[int], None]] = []
        self.threads = ThreadSupervisor()
        self.run_id = ""
        self.health: HealthServer | None = None
        self.status: RuntimeStatus | None = None
        self.session: PaperSession | None = None
        self.ready = threading.Event()  # set once the health view answers
        self._signals: dict[int, Any] = {}
        self._stop_fired = False
        self._flatten_deadline: float | None = None

    # -- the whole life ---------------------------------------------------------------------
    def run(self) -> int:
        """Start, supervise until the session ends or is stopped, stop; the exit code."""
        paper = self.app.paper
        handler = add_json_log(Path(paper.log_dir), "paper.jsonl", paper.log_max_bytes,
                               paper.log_backups)
        try:
            self._start()
            return self._supervise()
        except BaseException:
            if self.run_id:  # opened, then failed before a clean finish
                self.journal.finish_run(self.run_id, datetime.now(UTC), "failed")
            raise
        finally:
            self.threads.stop()
            logging.getLogger().removeHandler(handler)
            handler.close()

    def _start(self) -> None:
        app = self.app
        calendar = calendar_for(app)
        self.day = day = self._session_day(calendar)
        self._check_market_data(calendar)
        check_database(app)
        self._db = make_engine(app.db.url, app.db.busy_timeout_ms, app.db.echo)
        _commit_without_fsync(self._db)
        self.journal = Journal(session_factory(self._db))
        run = self._open_run()
        self.run_id = run.run_id
        self.setup = build_setup(app, run_tag=run_tag_for(run.run_id))
        session_open, _ = calendar.session_bounds(day)
        resume_at = resume_time(self.journal, run.run_id) if run.resumed else None
        resume_at = max(resume_at, session_open) if resume_at is not None else None
        self._open_market(calendar, resume_at)
        self.controls = OperatorControls(Path(app.paper.kill_file), self.clock,
                                         app.paper.flatten_on_shutdown)
        self.controls.on_change(self.gate.wake)
        self.controls.poll_kill_file()
        self.status = RuntimeStatus(run.run_id, day, app.paper.stale_feed_s, self.clock,
                                    self.controls, self.threads, store=self.store,
                                    gate=self.gate)
        cash, resume = self._open_journal(run, resume_at or session_open)
        self.session = build_session(app, self.setup, self.store, self.clock, self.sink,
                                     self.controls, cash, day, resume,
                                     broker=self._make_broker(cash))
        self.status.broker = self.session.broker
        self._start_threads()

    # -- what a live runtime replaces (runtime/live.py) ---------------------------------------
    def _session_day(self, calendar: TradingCalendar) -> date:
        return paper_day(self.app, calendar)

    def _check_market_data(self, calendar: TradingCalendar) -> None:
        app, day = self.app, self.day
        warmup = calendar.sessions_before(day, app.strategy.warmup_sessions)
        catalog = Catalog(app.data.root)
        missing = [d for d in sorted({*warmup, day}) if not catalog.has_ticks(app.index.name, d)]
        if missing:  # synthetic/model data is simulated on first use, recorded data is not
            ensure_simulated(app, missing)
        check_session_data(app, catalog, calendar, day)

    def _open_run(self) -> PaperRun:
        return open_paper_run(self.app, self.journal, self.day, datetime.now(UTC))

    def _open_market(self, calendar: TradingCalendar, resume_at: datetime | None) -> None:
        """The replay clock, its gate and the paced store of the catalog day."""
        app = self.app
        self.clock = session_clock(calendar, self.day, app.data.speed, start=resume_at)
        self.gate = PaceGate(self.clock, max_wait_s=min(app.paper.heartbeat_s, 0.25))
        self.gate.policy = self._policy
        self.store = PacedReplayStore(
            Catalog(app.data.root), app.index, calendar, self.day,
            app.strategy.warmup_sessions, self.gate, app.strategy.confirm_minutes,
            None if resume_at is None else ns_from_utc(resume_at))

    def _make_broker(self, cash: float) -> Any:
        """None: :func:`build_session` makes the paper broker."""
        return None

    def _open_journal(self, run: PaperRun, at: datetime) -> tuple[float, ResumeState | None]:
        """The run's sink, its day risk row, and (resumed) the recovered state."""
        app, day = self.app, self.day
        assert self.status is not None
        rows = [d for d in self.journal.days(run.run_id) if d.day == day]
        risk = rows[0] if rows else DayRecord(day, app.risk.capital, app.risk.capital, 0.0,
                                              0.0, 0, False)
        self.sink = RuntimeSink(self.journal.sink(run.run_id, app.paper.decision_batch),
                                self.status, risk, app.paper.kill_after_order)
        self.status.breaker_latched = risk.breaker_tripped
        if not run.resumed:
            self.sink.day(risk)
            self.sink.decision(DecisionRecord(at, "session_start", True,
                                              f"paper {app.index.name} {day} at speed "
                                              f"{app.data.speed}"))
            return app.risk.capital, None
        recovered = recover(self.journal, self.sink, run.run_id, day, at, self.setup,
                            self.store.book.contracts.get, self.store.last_price,
                            app.risk.capital)
        self.status.notes.append(recovered.summary)
        return recovered.cash, recovered.resume

    def _start_threads(self) -> None:
        app, status = self.app, self.status
        assert status is not None
        try:
            self.health = HealthServer(status, self.controls, app.paper.health_port)
        except OSError as e:
            raise ConfigError(f"paper.health_port={app.paper.health_port}: cannot listen on "
                              f"127.0.0.1: {e.strerror or e}") from e
        self.threads.spawn("health-http", self.health.serve)
        beat = app.paper.heartbeat_s
        self.threads.spawn("kill-watch", lambda w: self.controls.watch(w, beat))
        self._start_feed_threads(beat)
        self._stop_at_ns = (ns_from_utc(ist_to_utc(self.day, parse_hhmmss(app.paper.stop_at)))
                            if app.paper.stop_at else None)
        self.engine = self.threads.spawn("engine", self._run_engine)
        self.ready.set()
        log.info("paper run %s: %s %s, health %s", self.run_id, app.index.name, self.day,
                 self.health.url)

    def _start_feed_threads(self, beat: float) -> None:
        """Paced: the pump publishing replay time, under a watchdog."""
        app, status = self.app, self.status
        assert status is not None
        if self.gate.paced:
            pump = FeedPump(self.clock, self.gate, self.gate.max_wait_s,
                            app.paper.stale_feed_s / 2)
            watchdog = Watchdog(self.threads, app.paper.watchdog_stall_s)
            watchdog.watch(self.threads.spawn("feed-pump", pump.run), pump.run)
            self.threads.spawn("watchdog", lambda w: watchdog.run(w, beat))
            self.pump, status.watchdog = pump, watchdog

    def _run_engine(self, worker: Worker) -> None:
        assert self.session is not None
        assert self.status is not None
        self._engine_worker = worker
        self.status.state = "running"
        self.clock.start()
        self.session.cerebro.run()

    # -- supervision ------------------------------------------------------------------------
    def _supervise(self) -> int:
        self._install_signals()
        try:
            while self.engine.alive:
                self.engine.thread.join(0.2)
        finally:
            self._restore_signals()
        return self._finish()

    def _policy(self, proposed: int) -> int:
        """Each engine step: heartbeat, observers, stop_at, and the shutdown sequence."""
        self._engine_worker.beat()
        for hook in self.step_hooks:
            hook(proposed)
        stop_at = self._stop_at_ns
        if self.controls.shutdown_requested:
            return self._shutting_down(proposed)
        if stop_at is not None and proposed > stop_at:
            self._fire_stop()
            return stop_at
        return proposed

    def _shutting_down(self, proposed: int) -> int:
        strategy: Any = self.controls.strategy
        flat = strategy is None or not strategy.book.positions
        if self._flatten_deadline is None:
            self._flatten_deadline = time.monotonic() + self.app.paper.shutdown_timeout_s
            assert self.status is not None
            self.status.state = "stopping"
        flattening = self.controls.flatten_requested and not flat
        if flattening and time.monotonic() < self._flatten_deadline:
            return proposed  # exits need their fills: keep the market moving
        if flattening:
            log.error("shutdown: positions still open after %.0f s; kept for the next start",
                      self.app.paper.shutdown_timeout_s)
        assert self.session is not None
        self.session.cerebro.runstop()
        return self.gate.released_ns

    def _fire_stop(self) -> None:
        if self._stop_fired:
            return
        self._stop_fired = True
        how = _STOP_SIGNALS[self.app.paper.stop_signal]
        log.warning("paper.stop_at=%s reached: %s", self.app.paper.stop_at, how.name)
        if how is signal.SIGKILL or self._signals:
            os.kill(os.getpid(), how)
        else:  # no handlers here (not the main thread): stop the same way directly
            self.controls.request_shutdown(f"stop_at {self.app.paper.stop_at}")

    def _install_signals(self) -> None:
        if not self.install_signals or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._signals[sig] = signal.signal(sig, self._on_stop_signal)
        self._signals[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, self._on_kill_signal)

    def _restore_signals(self) -> None:
        for sig, previous in self._signals.items():
            signal.signal(sig, previous)
        self._signals.clear()

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        self.controls.request_shutdown(signal.Signals(signum).name)

    def _on_kill_signal(self, signum: int, _frame: object) -> None:
        self.controls.kill("signal", signal.Signals(signum).name)

    # -- the end ------------------------------------------------------------------------------
    def _finish(self) -> int:
        assert self.status is not None
        assert self.session is not None
        failed = self.engine.failed
        stopped = self.controls.shutdown_requested
        at = utc_from_ns(self.gate.released_ns)
        strategy: Any = self.controls.strategy
        risk = self.sink.risk
        if strategy is not None:
            self.sink.day(DayRecord(self.day, risk.start_balance,
                                    round(self.session.broker.getcash(), 2),
                                    round(strategy.book.realised, 2),
                                    round(strategy.book.charges, 2), strategy.book.trades,
                                    bool(strategy.breaker_latched or risk.breaker_tripped)))
        if stopped or failed:
            self._cancel_working_orders(at)
        kind = "session_stop" if (stopped or failed) else SESSION_END
        reason = (f"engine failed: {self.engine.error}" if failed else
                  f"stopped ({self.controls.shutdown_reason})" if stopped else
                  "end of the session's data")
        self.sink.decision(DecisionRecord(at, kind, not failed, reason))
        self.sink.db.close()
        self.status.state = "failed" if failed else "finished"
        self.journal.finish_run(self.run_id, datetime.now(UTC),
                                "failed" if failed else "finished")
        self.threads.stop()
        self._db.dispose()
        log.info("paper run %s %s at %s IST: %s", self.run_id, self.status.state,
                 at.astimezone(IST).strftime("%H:%M:%S"), reason)
        return 1 if failed else 0


    def _cancel_working_orders(self, at: datetime) -> None:
        """Orders still working when the engine stops die with it: journal them cancelled.

        Their positions are settled by the next start's recovery (an unfilled entry is
        cancelled, an exit is raised again by the rules).
        """
        assert self.session is not None
        for order in self.session.broker.open_orders():
            self.sink.order_update(OrderUpdateRecord(
                order.correlation_id, at, "CANCELLED",
                f"working at shutdown ({order.remaining} of {order.quantity} unfilled)"))


def _commit_without_fsync(engine: Engine) -> None:
    """SQLite in WAL mode: commit without waiting for the disk (``synchronous=NORMAL``).

    A commit is still durable against a crash of this process (what restart recovery
    covers); only an OS crash or power loss could drop the last commits. Per-decision commits
    then cost ~0.1 ms instead of an fsync each.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def run_paper(app: AppConfig) -> tuple[int, str, date]:
    """Run one paper session in this process: (exit code, run id, day)."""
    runtime = PaperRuntime(app)
    code = runtime.run()
    return code, runtime.run_id, runtime.day
