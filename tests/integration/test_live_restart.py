"""mode=live killed (SIGKILL) mid-position, restarted: the position is resumed and exited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from core.clock import IST
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from reports.journal import Journal
from sim.dhan_emulator import EmulatorServer
from tests.integration.test_live_parity import (  # noqa: F401 - the module's market fixture
    DAY,
    emulator,
    live_overrides,
    market,
    replayed,
    seeded,
)

REPO = Path(__file__).resolve().parents[2]
RULE_EXITS = {"stop_loss", "take_profit", "breakeven_stop", "trailing_stop", "time_exit"}


def _main(args: list[str], server: EmulatorServer) -> subprocess.CompletedProcess:
    env = {**os.environ, "DHAN_CLIENT_ID": server.settings.client_id,
           "DHAN_ACCESS_TOKEN": server.settings.access_token, "OPTSCALP_LIVE": "1"}
    return subprocess.run([sys.executable, "main.py", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=300, check=False)


def test_killed_mid_position_then_restarted_exits_the_position(
        market: Path, emulator: EmulatorServer) -> None:  # noqa: F811 - fixtures
    first = replayed(market, "r0")[0]
    middle = first.entry_at + (first.exit_at - first.entry_at) / 2
    kill_at = middle.astimezone(IST).strftime("%H:%M:%S")
    args = ["mode=live", "live.orders_enabled=true", "report.enabled=false",
            *live_overrides(market, "restart", emulator)]
    seeded(compose_config(args), market)
    crashed = _main([*args, f"paper.stop_at={kill_at}", "paper.stop_signal=SIGKILL"], emulator)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    journal = Journal(session_factory(make_engine(compose_config(args).db.url)))
    [run] = journal.runs()
    held = [p for p in journal.positions(run.id) if p.status == "active"]
    assert [p.security_id for p in held] == [first.security_id]  # killed holding it
    restarted = _main(args, emulator)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert [r.id for r in journal.runs()] == [run.id]  # the same run, resumed
    trades = {t.entry_correlation_id: t for t in journal.trades(run.id)}
    resumed = trades[held[0].position_key]
    assert resumed.entry_at == first.entry_at
    assert resumed.exit_reason in RULE_EXITS
    assert resumed.exit_at.astimezone(IST).date() == DAY  # replay time, not the wall clock
    assert resumed.exit_at > middle
    book = emulator.call(lambda: [(o.correlation_id, o.instrument.security_id, o.side,
                                   o.filled_qty) for o in emulator.emulator.book.orders.values()])
    assert max(Counter(cid for cid, *_ in book).values()) == 1  # nothing sent twice
    net: Counter[int] = Counter()
    for _, sid, side, filled in book:
        net[sid] += filled if side == "BUY" else -filled
    assert set(net.values()) == {0}  # Dhan is flat at the end of the day
