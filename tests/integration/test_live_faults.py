"""Live against a misbehaving emulator: the market feed cut mid-position, a 429 storm, a
positions API down all day and an order refused by RMS, and a dry run that sends nothing.

Each test is one ``mode=live`` day on the lockstep emulator (see test_live_parity.py); faults
are set at start (:class:`EmulatorSettings` ``faults``) or mid-run from an engine step hook.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.calendar import TradingCalendar
from core.clock import utc_from_ns
from core.config import AppConfig
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from feeds.catalog import Catalog
from jobs.data_jobs import days_with_warmup
from reports.journal import Journal
from runtime.live import LiveRuntime
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.orders import FillSettings
from sim.dhan_emulator.settings import settings_from_app
from sim.market import write_days
from tests.integration.emulator_support import admin
from tests.integration.test_live_parity import DAY, SIM, live_overrides, seeded

# Short waits so a fault costs the run seconds, not the production defaults' minutes: a
# code-805 disconnect waits feed_reconnect_cap_s, a failing call backs off up to the cap.
QUICK = ["dhan.feed_reconnect_cap_s=0.5", "dhan.backoff_cap_s=0.5"]
ARMED = ["mode=live", "live.orders_enabled=true"]
RULE_EXITS = {"stop_loss", "take_profit", "breakeven_stop", "trailing_stop", "time_exit"}
REJECTED_BY_RMS = "RMS:Order rejected by the emulator's reject_next_orders fault"
STORM = 3


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live_faults")
    app = compose_config([f"data.root={root}", *SIM, f"data.days={DAY}"])
    calendar = TradingCalendar(app.data.extra_sessions)
    write_days(Catalog(root), app.index, app.sim, calendar, days_with_warmup(app, calendar))
    return root


@contextmanager
def serving(root: Path, **faults: Any) -> Iterator[EmulatorServer]:
    """The parity test's emulator (max speed, lockstep, fills on the next quote) + faults."""
    app = compose_config([f"data.root={root}", *SIM])
    fills = FillSettings(slippage_ticks=app.broker.slippage_ticks,
                         cap_by_top_qty=app.broker.cap_by_top_qty, fill_on_next_quote=True)
    settings = settings_from_app(app, DAY, speed="max", lockstep=True, fills=fills,
                                 opening_balance=10_000_000.0, faults=faults)
    with EmulatorServer(settings) as server:
        yield server


def live_app(root: Path, name: str, server: EmulatorServer, *extra: str) -> AppConfig:
    app = compose_config(live_overrides(root, name, server, *QUICK, *extra))
    seeded(app, root)
    return app


def run_live(app: AppConfig, monkeypatch: pytest.MonkeyPatch, server: EmulatorServer,
             *hooks: Callable[[LiveRuntime, int], None]) -> tuple[LiveRuntime, Journal]:
    """A ``mode=live`` run (armed or not, as the config and env say) to its end."""
    monkeypatch.setenv("DHAN_CLIENT_ID", server.settings.client_id)
    monkeypatch.setenv("DHAN_ACCESS_TOKEN", server.settings.access_token)
    runtime = LiveRuntime(app, send_orders=True, install_signals=False)
    runtime.step_hooks.extend(lambda ns, hook=hook: hook(runtime, ns) for hook in hooks)
    assert runtime.run() == 0
    return runtime, Journal(session_factory(make_engine(app.db.url)))


def emulator_book(server: EmulatorServer) -> dict[str, list[tuple[str, str]]]:
    """Correlation id -> (side, status) of every order the emulator was sent."""
    def read() -> dict[str, list[tuple[str, str]]]:
        book: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
        for order in server.emulator.book.orders.values():
            book[order.correlation_id or ""].append((order.side, order.status))
        return dict(book)
    return server.call(read)


class DisconnectWhenHeld:
    """Step hook: the first time a position is active, cut every market-feed connection."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.position_key = ""
        self.at: datetime | None = None
        self.answer: dict[str, Any] = {}
        self.error: Exception | None = None

    def __call__(self, runtime: LiveRuntime, proposed_ns: int) -> None:
        strategy: Any = runtime.controls.strategy
        if self.position_key or strategy is None:
            return
        held = [p for p in strategy.book.positions.values() if p.state is not None
                and p.exit is None]
        if not held:
            return
        self.position_key, self.at = held[0].key, utc_from_ns(proposed_ns)
        try:  # the emulator answers admin calls while it waits for this instant's ack
            self.answer = admin(self.server, "feed/disconnect", {"code": 805})
        except Exception as e:  # noqa: BLE001 - raised here it would kill the engine
            self.error = e


def test_a_feed_disconnect_mid_position_reconnects_and_the_position_exits_by_rule(
        market: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTSCALP_LIVE", "1")
    with serving(market) as server:
        app = live_app(market, "disconnect", server, *ARMED)
        cut = DisconnectWhenHeld(server)
        runtime, journal = run_live(app, monkeypatch, server, cut)
        book = emulator_book(server)
    assert cut.error is None
    assert cut.position_key
    assert cut.at is not None
    assert cut.answer["disconnected"] >= 1
    assert runtime.feed is not None
    assert runtime.feed.status.connects >= 2
    assert any("code=805" in line for line in runtime.feed.status.history)
    trades = journal.trades(runtime.run_id)
    [held] = [t for t in trades if t.entry_correlation_id == cut.position_key]
    assert held.exit_reason in RULE_EXITS, held
    assert held.exit_at > cut.at
    assert book[held.exit_correlation_id] == [("SELL", "TRADED")]
    assert [t for t in trades if t.entry_at > cut.at]  # resubscribed: the day went on
    assert journal.open_positions(runtime.run_id) == []


def test_a_storm_a_dead_positions_api_and_an_rms_rejection_lose_no_order(
        market: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OPTSCALP_LIVE", "1")
    caplog.set_level(logging.WARNING)
    with serving(market, fail_status={"positions": 503}, storm_requests=STORM,
                 reject_next_orders=1) as server:
        # positions are asked for at start (adoption) and by the reconciliation every second
        app = live_app(market, "faults", server, *ARMED, "live.reconcile_s=1")
        runtime, journal = run_live(app, monkeypatch, server)
        book = emulator_book(server)
        left = admin(server, "state")["faults"]
    run_id = runtime.run_id
    orders = sorted(journal.orders(run_id), key=lambda o: o.record.at)
    trades = journal.trades(run_id)
    first = orders[0].record
    assert (first.purpose, orders[0].status) == ("entry", "REJECTED")
    # the rejected entry: refused by Dhan's RMS, position cancelled, no trade, decision kept
    assert [e.detail for e in journal.order_events(run_id)
            if e.correlation_id == first.correlation_id and e.status == "REJECTED"
            and REJECTED_BY_RMS in e.detail]
    assert [p.status for p in journal.positions(run_id)
            if p.position_key == first.correlation_id] == ["cancelled"]
    assert first.correlation_id not in {t.entry_correlation_id for t in trades}
    assert [d for d in journal.decisions(run_id) if d.kind == "entry" and d.taken
            and d.security_id == first.security_id and d.at == first.at]
    assert book[first.correlation_id] == [("BUY", "REJECTED")]
    # exits still placed and filled with the positions API failing all day
    assert len(trades) >= 3
    for trade in trades:
        assert book[trade.exit_correlation_id] == [("SELL", "TRADED")], trade
    assert journal.open_positions(run_id) == []
    # nothing lost or duplicated: one order per id at Dhan, each one journalled, and back
    assert all(len(sent) == 1 for sent in book.values()), book
    assert set(book) <= {o.record.correlation_id for o in orders}
    assert {o.record.correlation_id for o in orders if o.status != "REJECTED"} <= set(book)
    # the storm was answered 429 and each call retried; the positions calls failed all day
    assert (left["storm_requests"], left["fail_status"]) == (0, {"positions": 503})
    retried = [r.getMessage() for r in caplog.records if "; retry " in r.getMessage()]
    assert len([m for m in retried if "DH-904" in m]) == STORM
    positions_retries = len([m for m in retried if m.startswith("positions failed")])
    assert positions_retries >= 2 * app.dhan.max_retries  # at start and in the session
    assert runtime.client is not None
    assert runtime.client.retries == len(retried)


def test_live_without_the_arming_switches_sends_nothing(
        market: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPTSCALP_LIVE", raising=False)
    with serving(market) as server:
        # the day's first entry is at 09:44:05 IST (see the replay in test_live_parity)
        app = live_app(market, "dry", server, "mode=live", "paper.stop_at=09:50")
        runtime, journal = run_live(app, monkeypatch, server)
        book = emulator_book(server)
    assert book == {}
    orders = journal.orders(runtime.run_id)
    assert orders
    not_sent = {e.correlation_id for e in journal.order_events(runtime.run_id)
                if e.detail == "dry run: not sent"}
    assert {o.record.correlation_id for o in orders} == not_sent
    assert {o.status for o in orders} == {"CANCELLED"}
    assert journal.trades(runtime.run_id) == []
