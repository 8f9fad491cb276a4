"""Live against the emulator: one catalog day served at max speed (lockstep) over the real
feed and REST, traded by ``mode=paper feed=dhan`` and ``mode=live``, equals the replay."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.config_check import compose_config
from core.db import migrate
from core.db.engine import make_engine, session_factory
from feeds.catalog import Catalog
from feeds.ingest import import_catalog_contracts
from jobs.data_jobs import days_with_warmup
from reports.journal import Journal
from runtime.live import LiveRuntime
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.orders import FillSettings
from sim.dhan_emulator.settings import settings_from_app
from sim.market import write_days
from strategies.engine import run_days
from strategies.records import MemoryJournal, TradeRecord
from strategies.setup import build_setup, run_tag_for

DAY = date(2024, 10, 8)
SIM = ["sim.tick_seconds=5", "sim.near_quote_seconds=5", "sim.far_quote_seconds=15"]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("live")
    app = compose_config([f"data.root={root}", *SIM, f"data.days={DAY}"])
    calendar = TradingCalendar(app.data.extra_sessions)
    write_days(Catalog(root), app.index, app.sim, calendar, days_with_warmup(app, calendar))
    return root


@pytest.fixture
def emulator(market: Path) -> Iterator[EmulatorServer]:
    app = compose_config([f"data.root={market}", *SIM])
    fills = FillSettings(slippage_ticks=app.broker.slippage_ticks,
                         cap_by_top_qty=app.broker.cap_by_top_qty, fill_on_next_quote=True)
    settings = settings_from_app(app, DAY, speed="max", lockstep=True, fills=fills,
                                 opening_balance=10_000_000.0)
    with EmulatorServer(settings) as server:
        yield server


def live_overrides(root: Path, name: str, server: EmulatorServer, *extra: str) -> list[str]:
    return [f"data.root={root}", *SIM, f"data.days={DAY}", f"live.day={DAY}",
            "live.lockstep=true", f"db.url=sqlite:///{root}/{name}.db",
            f"paper.kill_file={root}/{name}.kill", f"paper.log_dir={root}/logs-{name}",
            "paper.health_port=0", f"dhan.base_url={server.base_url}",
            f"dhan.feed_url={server.feed_url}", f"dhan.order_update_url={server.order_update_url}",
            *extra]


def seeded(app: AppConfig, root: Path) -> None:
    migrate.upgrade(app.db.url)
    rows = Catalog(root).read_contracts(app.index.name, DAY).to_pylist()
    import_catalog_contracts(session_factory(make_engine(app.db.url)), rows)


def replayed(root: Path, run_id: str) -> list[TradeRecord]:
    app = compose_config(["mode=replay", f"data.root={root}", *SIM])
    journal = MemoryJournal()
    run_days(app, build_setup(app, run_tag=run_tag_for(run_id)), Catalog(root),
             TradingCalendar(app.data.extra_sessions), [DAY], journal)
    return sorted(journal.trades, key=lambda t: t.entry_at)


def run_live(app: AppConfig, send_orders: bool, monkeypatch: pytest.MonkeyPatch,
             server: EmulatorServer) -> tuple[LiveRuntime, list[TradeRecord]]:
    monkeypatch.setenv("DHAN_CLIENT_ID", server.settings.client_id)
    monkeypatch.setenv("DHAN_ACCESS_TOKEN", server.settings.access_token)
    runtime = LiveRuntime(app, send_orders=send_orders, install_signals=False)
    assert runtime.run() == 0
    journal = Journal(session_factory(make_engine(app.db.url)))
    return runtime, journal.trades(runtime.run_id)


def test_paper_on_the_emulator_feed_trades_like_the_replay(
        market: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    app = compose_config(["mode=paper", "feed=dhan",
                          *live_overrides(market, "paper-feed", emulator)])
    seeded(app, market)
    runtime, trades = run_live(app, False, monkeypatch, emulator)
    expected = replayed(market, runtime.run_id)
    assert len(expected) >= 3
    assert trades == expected


def test_live_armed_on_the_emulator_trades_like_the_replay(
        market: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTSCALP_LIVE", "1")
    app = compose_config(["mode=live", "live.orders_enabled=true",
                          *live_overrides(market, "live-armed", emulator)])
    seeded(app, market)
    runtime, trades = run_live(app, True, monkeypatch, emulator)
    expected = replayed(market, runtime.run_id)
    assert len(expected) >= 3
    assert [dataclasses.replace(t, charges=round(t.charges, 6)) for t in trades] == [
        dataclasses.replace(t, charges=round(t.charges, 6)) for t in expected]
    book = emulator.call(lambda: [(o.correlation_id, o.status)
                                  for o in emulator.emulator.book.orders.values()])
    assert len(book) == 2 * len(trades)
    assert {status for _, status in book} == {"TRADED"}
