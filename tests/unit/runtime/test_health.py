"""The health view over a real replay store: feed ages, stale feeds, kill over HTTP, and the
feed pump's stall caught by the watchdog."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import backtrader as bt
import pytest

from core.calendar import TradingCalendar
from core.clock import ns_from_utc
from feeds.catalog import Catalog
from feeds.paced import PacedReplayStore, PaceGate
from runtime.controls import OperatorControls
from runtime.health import HealthServer
from runtime.pump import FeedPump
from runtime.status import RuntimeStatus
from runtime.threads import ThreadSupervisor, Watchdog
from sim.clock import ReplayClock
from tests.integration.scenario import (
    DAY,
    Scenario,
    at,
    config,
    option,
    ramp,
    steps,
    write_scenario,
)

CE = 1001


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health")
    quotes = steps(("09:15", 150.0), gaps=[("10:00", "10:05")])  # the CE goes silent
    write_scenario(path, Scenario(index=ramp(("09:15", 24490.0), ("15:29:59", 24510.0)),
                                  options=[option(CE, 24500, quotes)]))
    return path


def make_status(root: Path, clock: ReplayClock,
                supervisor: ThreadSupervisor) -> tuple[RuntimeStatus, PaceGate]:
    app = config(root)
    calendar = TradingCalendar(app.data.extra_sessions)
    gate = PaceGate(clock, max_wait_s=0.01)
    store = PacedReplayStore(Catalog(root), app.index, calendar, DAY, 1, gate, 5)
    store.add_feeds(bt.Cerebro(), 2)
    controls = OperatorControls(root / "paper.kill", clock, False)
    status = RuntimeStatus("r20241009-001", DAY, 5.0, clock, controls, supervisor,
                           store=store, gate=gate)
    return status, gate


def move_to(clock: ReplayClock, gate: PaceGate, hhmmss: str) -> None:
    clock.advance_to(at(hhmmss))
    gate.publish(ns_from_utc(at(hhmmss)))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_reports_feed_ages_and_a_feed_whose_ticks_stopped(root: Path) -> None:
    clock = ReplayClock(at("09:15"), at("15:30"), "max")
    supervisor = ThreadSupervisor()
    status, gate = make_status(root, clock, supervisor)
    store = status.store
    assert store is not None
    slot = store.slot_feeds[0]
    slot.bind(store.book.contracts[CE], store.book.series(CE), ns_from_utc(at("09:16")))
    server = HealthServer(status, status.controls, port=0)
    supervisor.spawn("health-http", server.serve)
    try:
        move_to(clock, gate, "09:59:58")
        code, body = get(f"{server.url}/health")
        fresh = json.loads(body)
        assert code == 200
        assert [(f["name"], f["age_s"], f["stale"]) for f in fresh["feeds"]] == [
            ("NIFTY", 0.0, False), ("NIFTY 2024-10-10 24500 CE", 3.0, False)]
        assert fresh["replay_time"] == "2024-10-09T09:59:58+05:30"
        move_to(clock, gate, "10:00:30")  # the index ticks on, the CE is silent
        code, body = get(f"{server.url}/health")
        silent = json.loads(body)
        assert code == 503
        assert [(f["age_s"], f["stale"]) for f in silent["feeds"]] == [
            (0.0, False), (35.0, True)]
        assert silent["feeds"][1]["last_tick"] == "2024-10-09T09:59:55+05:30"
        code, page = get(f"{server.url}/")
        assert code == 200
        assert '<meta http-equiv="refresh" content="2">' in page
        assert "STALE" in page
        assert get(f"{server.url}/nope")[0] == 404
    finally:
        supervisor.stop()


def test_post_kill_engages_the_kill_switch(root: Path) -> None:
    clock = ReplayClock(at("09:15"), at("15:30"), "max")
    supervisor = ThreadSupervisor()
    status, _ = make_status(root, clock, supervisor)
    server = HealthServer(status, status.controls, port=0)
    supervisor.spawn("health-http", server.serve)
    try:
        request = urllib.request.Request(f"{server.url}/kill", data=b"operator: news",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
        assert status.controls.kill_requested
        assert status.controls.kill_info["reason"] == "operator: news"
        assert (root / "paper.kill").exists()
        code, body = get(f"{server.url}/health")
        assert code == 503
        assert json.loads(body)["kill_switch"]["engaged"]
    finally:
        (root / "paper.kill").unlink(missing_ok=True)
        supervisor.stop()


def wait_for(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_a_stalled_feed_pump_turns_feeds_stale_until_the_watchdog_restarts_it(
        root: Path) -> None:
    wall = [0.0]
    clock = ReplayClock(at("09:30"), at("15:30"), 1.0, wall=lambda: wall[0])
    supervisor = ThreadSupervisor(wall=lambda: wall[0])
    status, gate = make_status(root, clock, supervisor)
    pump = FeedPump(clock, gate, max_wait_s=0.01, freshness_s=2.5)
    watchdog = Watchdog(supervisor, stall_s=5.0)
    watchdog.watch(supervisor.spawn("feed-pump", pump.run), pump.run)
    status.watchdog = watchdog
    index_age = lambda: status.snapshot()["feeds"][0]["age_s"]  # noqa: E731
    try:
        clock.start()
        wall[0] = 10.0  # replay 09:30:10
        wait_for(lambda: gate.published_ns == ns_from_utc(at("09:30:10")))
        assert index_age() == 0.0
        pump.stall_next.set()
        wait_for(lambda: not pump.stall_next.is_set())  # the pump hangs
        wall[0] = 20.0  # replay 09:30:20: nothing published since 09:30:10
        time.sleep(0.05)
        assert index_age() == 10.0
        assert status.snapshot()["feeds"][0]["stale"]
        assert watchdog.check(wall[0]) == ["feed-pump"]
        wait_for(lambda: gate.published_ns == ns_from_utc(at("09:30:20")))
        assert index_age() == 0.0
        assert status.snapshot()["restarts"] == {"feed-pump": 1}
    finally:
        supervisor.stop()
