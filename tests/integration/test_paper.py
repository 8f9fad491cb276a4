"""The paper runtime end to end on synthetic days at max speed: it trades like the backtest
replay, survives kill -9 mid-position, keeps the breaker latch and the kill switch across
restarts, resolves an order that was journalled but never acknowledged, and its health view
answers while the engine runs.

Days (seeded synthetic NIFTY, 5 s ticks, times IST): 2024-10-08 holds a PE from 09:47:05
to 11:11:50 (trailing stop); 2024-10-09 trips the daily breaker at 12:08; 2024-10-07 is the
warm-up session.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from core.calendar import TradingCalendar
from core.clock import ns_from_utc
from core.config import AppConfig
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from feeds.catalog import Catalog
from jobs.data_jobs import days_with_warmup
from reports.journal import Journal
from runtime.supervisor import PaperRuntime
from sim.market import write_days
from strategies.engine import run_days
from strategies.records import MemoryJournal, TradeRecord
from strategies.setup import build_setup, run_tag_for
from tests.integration.scenario import at

REPO = Path(__file__).resolve().parents[2]
DAY, BREAKER_DAY, NEXT_DAY = date(2024, 10, 8), date(2024, 10, 9), date(2024, 10, 10)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paper")
    app = compose_config([f"data.root={root}", "sim.tick_seconds=5",
                          f"data.days={DAY}:{NEXT_DAY}"])
    calendar = TradingCalendar(app.data.extra_sessions)
    write_days(Catalog(root), app.index, app.sim, calendar, days_with_warmup(app, calendar))
    return root


def overrides(root: Path, name: str, day: date = DAY, *extra: str) -> list[str]:
    """A paper run of ``day`` with its own database, kill file and logs under ``root``."""
    return ["mode=paper", f"data.root={root}", "sim.tick_seconds=5", f"data.days={day}",
            f"db.url=sqlite:///{root}/{name}.db", f"paper.kill_file={root}/{name}.kill",
            f"paper.log_dir={root}/logs-{name}", "paper.health_port=0", *extra]


def run_here(args: list[str], *hooks) -> PaperRuntime:  # noqa: ANN002
    runtime = PaperRuntime(compose_config(args))
    runtime.step_hooks.extend(hooks)
    assert runtime.run() == 0
    return runtime


def start_crashing(args: list[str]) -> subprocess.Popen:
    """``python main.py`` with these overrides in a subprocess that must die by SIGKILL."""
    return subprocess.Popen([sys.executable, "main.py", *args], cwd=REPO, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def crashed(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]


@pytest.fixture(scope="module")
def crashes(market: Path) -> dict[str, subprocess.Popen]:
    """The runs that die, started at once (they overlap the reference run, in fresh processes)."""
    procs = {
        "crash": start_crashing(overrides(market, "crash", DAY, "paper.stop_at=10:30",
                                          "paper.stop_signal=SIGKILL")),
        # the third order of the day is the first position's trailing-stop exit (10:47:45)
        "unacked": start_crashing(overrides(market, "unacked", DAY,
                                            "paper.kill_after_order=3")),
        "breaker": start_crashing(overrides(market, "breaker", BREAKER_DAY,
                                            "paper.stop_at=12:30",
                                            "paper.stop_signal=SIGKILL")),
    }
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def journal_of(root: Path, name: str) -> Journal:
    return Journal(session_factory(make_engine(f"sqlite:///{root}/{name}.db")))


def without_ids(trades: list[TradeRecord]) -> list[TradeRecord]:
    return [dataclasses.replace(t, entry_correlation_id="", exit_correlation_id="")
            for t in trades]


@dataclasses.dataclass
class Uninterrupted:
    run_id: str
    trades: list[TradeRecord]
    health: list[dict]
    journal: Journal


@pytest.fixture(scope="module")
def uninterrupted(market: Path, crashes: dict) -> Uninterrupted:
    """The reference paper day, with /health polled from another thread while it runs."""
    samples: list[dict] = []
    runtime = PaperRuntime(compose_config(overrides(market, "ref")))

    def poll() -> None:
        runtime.ready.wait(60)
        while runtime.status is not None and runtime.status.state in ("starting", "running"):
            assert runtime.health is not None
            try:
                with urllib.request.urlopen(f"{runtime.health.url}/health", timeout=5) as r:
                    samples.append(json.loads(r.read()))
            except OSError:
                return  # stopped between the check and the request

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    assert runtime.run() == 0
    poller.join(10)
    journal = journal_of(market, "ref")
    return Uninterrupted(runtime.run_id, journal.trades(runtime.run_id), samples, journal)


def test_a_paper_day_trades_like_the_backtest_replay(market: Path,
                                                     uninterrupted: Uninterrupted) -> None:
    app: AppConfig = compose_config(["mode=replay", f"data.root={market}",
                                     "sim.tick_seconds=5"])
    replayed = MemoryJournal()
    run_days(app, build_setup(app, run_tag=run_tag_for(uninterrupted.run_id)),
             Catalog(market), TradingCalendar(app.data.extra_sessions), [DAY], replayed)
    assert len(uninterrupted.trades) >= 5
    # every field, correlation ids included (the journal reads trades in entry order)
    assert uninterrupted.trades == sorted(replayed.trades, key=lambda t: t.entry_at)
    journal, run_id = uninterrupted.journal, uninterrupted.run_id
    events: dict[str, list[str]] = {}
    for event in journal.order_events(run_id):
        events.setdefault(event.correlation_id, []).append(event.status)
    orders = journal.orders(run_id)
    assert {o.status for o in orders} == {"TRADED"}
    for order in orders:  # Dhan's lifecycle: TRANSIT (the journalled row) -> PENDING -> TRADED
        assert events[order.record.correlation_id][0] == "PENDING"
        assert events[order.record.correlation_id][-1] == "TRADED"
    [day] = journal.days(run_id)
    assert day.trades == len(uninterrupted.trades)
    assert journal.run(run_id).status == "finished"


@pytest.mark.parametrize("day", [BREAKER_DAY, NEXT_DAY])
def test_paper_and_backtest_replay_agree_on_the_other_days(market: Path, day: date) -> None:
    # With every 5m confirmation bar reaching the backtest too, the two engines agree on any
    # day, including one where the breaker trips (BREAKER_DAY).
    name = f"parity-{day:%m%d}"
    runtime = run_here(overrides(market, name, day))
    paper = journal_of(market, name).trades(runtime.run_id)
    app = compose_config(["mode=replay", f"data.root={market}", "sim.tick_seconds=5"])
    replayed = MemoryJournal()
    run_days(app, build_setup(app, run_tag=run_tag_for(runtime.run_id)), Catalog(market),
             TradingCalendar(app.data.extra_sessions), [day], replayed)
    assert paper
    assert without_ids(paper) == without_ids(sorted(replayed.trades, key=lambda t: t.entry_at))


def test_health_answers_while_the_engine_runs(uninterrupted: Uninterrupted) -> None:
    running = [s for s in uninterrupted.health if s["state"] == "running"]
    assert running  # answered during the run (latency: bench/bench_paced.py)
    sample = running[-1]
    assert sample["run_id"] == uninterrupted.run_id
    assert sample["feeds"][0]["name"] == "NIFTY"
    assert sample["broker"] == {**sample["broker"], "name": "paper", "connected": True}
    assert set(sample["day_pnl"]) == {"realised", "unrealised", "total"}
    assert sample["breaker"] == {"latched": False}
    assert not sample["kill_switch"]["engaged"]


def test_kill_9_mid_position_then_restart_exits_by_the_same_rule(
        market: Path, uninterrupted: Uninterrupted, crashes: dict) -> None:
    crashed(crashes["crash"])  # SIGKILL at 10:30 while a PE is held
    journal = journal_of(market, "crash")
    [run] = journal.runs()
    assert run.status == "running"  # nobody marked it: it died
    [held] = journal.open_positions(run.id)
    assert (held.status, held.symbol) == ("active", "NIFTY 2024-10-10 23850 PE")
    assert held.hwm > held.entry_price
    restarted = run_here(overrides(market, "crash"))
    assert restarted.run_id == run.id  # resumed, not a new run
    assert without_ids(journal.trades(run.id)) == without_ids(uninterrupted.trades)
    [resumed] = [d for d in journal.decisions(run.id) if d.kind == "session_resume"]
    assert "1 position(s) held" in resumed.reason
    assert journal.open_positions(run.id) == []
    assert journal.run(run.id).status == "finished"


def test_an_exit_journalled_but_never_acknowledged_is_resolved_without_a_duplicate(
        market: Path, uninterrupted: Uninterrupted, crashes: dict) -> None:
    crashed(crashes["unacked"])  # died after journalling an exit, before sending it
    journal = journal_of(market, "unacked")
    [run] = journal.runs()
    lost = journal.orders(run.id)[-1]
    assert (lost.record.purpose, lost.status) == ("exit", "TRANSIT")
    assert not [e for e in journal.order_events(run.id)
                if e.correlation_id == lost.record.correlation_id]
    run_here(overrides(market, "unacked"))
    [resolved] = [o for o in journal.orders(run.id)
                  if o.record.correlation_id == lost.record.correlation_id]
    assert resolved.status == "REJECTED"
    [event] = [e for e in journal.order_events(run.id)
               if e.correlation_id == lost.record.correlation_id]
    assert event.detail == "never acknowledged before the restart; not sent again"
    fills = journal.fills(run.id)
    assert not [f for f in fills if f.correlation_id == lost.record.correlation_id]
    position = lost.record.security_id
    sold = [f for f in fills if f.security_id == position and f.side == "SELL"]
    bought = [f for f in fills if f.security_id == position and f.side == "BUY"]
    assert sum(f.quantity for f in sold) == sum(f.quantity for f in bought)  # sold once
    first = journal.trades(run.id)[0]
    assert first.exit_tag == uninterrupted.trades[0].exit_tag  # re-raised by the same rule
    assert len(journal.trades(run.id)) == len(uninterrupted.trades)


def test_the_breaker_latch_survives_a_restart_and_resets_next_session(
        market: Path, crashes: dict) -> None:
    crashed(crashes["breaker"])  # SIGKILL at 12:30, after the 12:08 trip
    journal = journal_of(market, "breaker")
    [run] = journal.runs()
    assert journal.breaker_latched(run.id, BREAKER_DAY)
    orders_before = len(journal.orders(run.id))
    run_here(overrides(market, "breaker", BREAKER_DAY))
    assert journal.breaker_latched(run.id, BREAKER_DAY)
    assert len(journal.orders(run.id)) == orders_before  # no entry after the restart
    later = [d for d in journal.decisions(run.id)
             if d.kind == "entry" and d.at > at("12:30", BREAKER_DAY)]
    assert later
    assert all(not d.taken and any(c.name == "breaker" and not c.passed for c in d.checks)
               for d in later)
    # The next session starts unlatched (a new run: one paper run per session) and trades.
    next_run = run_here(overrides(market, "breaker", NEXT_DAY, "paper.stop_at=13:00"))
    assert next_run.run_id != run.id
    assert not journal.breaker_latched(next_run.run_id, NEXT_DAY)
    checks = [c for d in journal.decisions(next_run.run_id) for c in d.checks
              if c.name == "breaker"]
    assert checks
    assert all(c.passed for c in checks)
    assert [o.record.purpose for o in journal.orders(next_run.run_id)][:1] == ["entry"]


def test_the_kill_switch_flattens_and_survives_a_restart(market: Path) -> None:
    posted: list[int] = []
    runtime: PaperRuntime | None = None
    kill_at = ns_from_utc(at("10:00", DAY))

    def kill_over_http(proposed_ns: int) -> None:
        if proposed_ns >= kill_at and not posted:
            posted.append(proposed_ns)
            assert runtime is not None
            assert runtime.health is not None
            request = urllib.request.Request(f"{runtime.health.url}/kill", data=b"test",
                                             method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202

    args = overrides(market, "kill", DAY)
    runtime = PaperRuntime(compose_config([*args, "paper.stop_at=11:00"]))
    runtime.step_hooks.append(kill_over_http)
    assert runtime.run() == 0
    assert os.path.exists(market / "kill.kill")
    journal = journal_of(market, "kill")
    [run] = journal.runs()
    killed = [t for t in journal.trades(run.id) if t.exit_tag == "kill_switch"]
    assert [t.symbol for t in killed] == ["NIFTY 2024-10-10 23850 PE"]  # held at 10:00
    assert killed[0].exit_at > at("10:00", DAY)
    assert not [o for o in journal.orders(run.id)
                if o.record.purpose == "entry" and o.record.at >= at("10:00", DAY)]
    run_here(args)  # restart: resumes the run, still killed
    assert journal.run(run.id).status == "finished"
    after = [d for d in journal.decisions(run.id)
             if d.kind == "entry" and d.at > at("11:00", DAY)]
    assert after  # signals kept coming after the restart...
    assert all(not d.taken for d in after)  # ...and the kill switch refused every one
    assert all(any(c.name == "kill_switch" and not c.passed for c in d.checks) for d in after)
    assert not [o for o in journal.orders(run.id) if o.record.at >= at("10:00", DAY)
                and o.record.purpose == "entry"]


def test_sigterm_keeps_positions_for_the_next_start_or_flattens_them(market: Path) -> None:
    args = overrides(market, "sigterm", DAY)
    run_here([*args, "paper.stop_at=10:30"])  # SIGTERM to itself at 10:30, keep positions
    journal = journal_of(market, "sigterm")
    [run] = journal.runs()
    assert journal.run(run.id).status == "finished"
    [kept] = journal.open_positions(run.id)
    assert kept.status == "active"
    [stop] = [d for d in journal.decisions(run.id) if d.kind == "session_stop"]
    assert (stop.at, stop.reason) == (at("10:30", DAY), "stopped (SIGTERM)")
    # The next start resumes it; this time a SIGTERM at 10:45 flattens before stopping.
    run_here([*args, "paper.stop_at=10:45", "paper.flatten_on_shutdown=true"])
    assert journal.open_positions(run.id) == []
    [flattened] = [t for t in journal.trades(run.id) if t.exit_tag == "shutdown"]
    assert flattened.entry_correlation_id == kept.position_key
    assert at("10:45", DAY) < flattened.exit_at < at("10:46", DAY)
    assert not [o for o in journal.orders(run.id)  # entries stopped while it flattened
                if o.record.purpose == "entry" and o.record.at >= at("10:45", DAY)]
