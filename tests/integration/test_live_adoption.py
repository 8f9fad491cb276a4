"""A lot Dhan holds that the journal never knew: adopted at start, its stop applied, sold."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import time as dtime
from pathlib import Path

import pytest

from brokers.dhan.client import Credentials, DhanClient
from core.clock import ist_to_utc
from core.config import DhanConfig
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from reports.journal import Journal
from runtime.adoption import unknown_lots
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.settings import settings_from_app
from tests.integration.emulator_support import quoted_options
from tests.integration.test_live_parity import (  # noqa: F401 - the module's market fixture
    DAY,
    SIM,
    live_overrides,
    market,
    run_live,
    seeded,
)

RULE_EXITS = {"stop_loss", "take_profit", "breakeven_stop", "trailing_stop", "time_exit"}


@pytest.fixture
def emulator_at_half_past_nine(market: Path) -> Iterator[EmulatorServer]:  # noqa: F811
    app = compose_config([f"data.root={market}", *SIM])
    settings = settings_from_app(app, DAY, speed="max", lockstep=True,
                                 start_at=ist_to_utc(DAY, dtime(9, 30)),
                                 opening_balance=10_000_000.0)
    with EmulatorServer(settings) as server:
        yield server


def test_a_broker_position_unknown_to_the_journal_is_adopted_and_exited(
        market: Path, emulator_at_half_past_nine: EmulatorServer,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = emulator_at_half_past_nine
    client = DhanClient(Credentials(server.settings.client_id, server.settings.access_token),
                        DhanConfig(), base_url=server.base_url, rng=random.Random(1))
    option = quoted_options(server)[0]
    ack = client.place_order(security_id=option.security_id, segment=option.segment,
                             side="BUY", quantity=option.lot_size, correlation_id="by-hand-1",
                             product="INTRADAY")
    assert client.order_by_id(str(ack["orderId"]))["orderStatus"] == "TRADED"
    monkeypatch.setenv("OPTSCALP_LIVE", "1")
    app = compose_config(["mode=live", "live.orders_enabled=true",
                          *live_overrides(market, "adopt", server)])
    seeded(app, market)
    runtime, trades = run_live(app, True, monkeypatch, server)
    journal = Journal(session_factory(make_engine(app.db.url)))
    adopted = [t for t in trades if t.entry_correlation_id.startswith("adopt-")]
    assert len(adopted) == 1
    [trade] = adopted
    assert trade.security_id == option.security_id
    assert trade.quantity == option.lot_size
    assert trade.exit_reason in RULE_EXITS
    decisions = [d for d in journal.decisions(runtime.run_id) if d.kind == "adopt"]
    assert len(decisions) == 1
    assert decisions[0].security_id == option.security_id
    # Dhan is flat in that contract at the end: the adopted lot was sold by our exit
    net = {int(p["securityId"]): int(p["netQty"]) for p in client.positions()}
    assert net[option.security_id] == 0


@pytest.mark.parametrize(("positions", "journal", "expected"), [
    ([{"securityId": "7", "netQty": 50, "buyAvg": 101.5}], {}, {7: (50, 101.5)}),
    ([{"securityId": "7", "netQty": 50, "buyAvg": 101.5}], {7: 25}, {7: (25, 101.5)}),
    ([{"securityId": "7", "netQty": 50, "buyAvg": 101.5}], {7: 50}, {}),
    ([{"securityId": "7", "netQty": 0, "buyAvg": 101.5}], {}, {}),
    ([{"securityId": "7", "netQty": -25, "costPrice": 90.0}], {}, {}),
    ([{"securityId": "8", "netQty": 75, "costPrice": 90.0}], {}, {8: (75, 90.0)}),
])
def test_unknown_lots_are_the_broker_excess_over_the_journal(
        positions: list[dict], journal: dict[int, int], expected: dict) -> None:
    assert unknown_lots(positions, journal) == expected
