"""Journalled orders to the emulator: dry run sends nothing, slicing, exits until flat."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from brokers.dhan.client import Credentials, DhanClient
from brokers.dhan.order_updates import OrderUpdateClient
from brokers.dhan.orders import (
    Contract,
    OrderGateway,
    live_armed,
    round_correlation_id,
    slice_correlation_id,
    slice_quantities,
)
from core.config import DhanConfig, LiveConfig
from core.errors import OrderRejected
from sim.dhan_emulator import EmulatorServer
from strategies.records import MemoryJournal, OrderRecord
from tests.integration.emulator_support import (
    admin,
    listening,
    quoted_options,
    serve,
    wait_until,
)

AT = datetime(2024, 10, 9, 4, 30, tzinfo=UTC)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


def _client(server: EmulatorServer) -> DhanClient:
    return DhanClient(Credentials(server.settings.client_id, server.settings.access_token),
                      DhanConfig(backoff_base_s=0.01, backoff_cap_s=0.05),
                      base_url=server.base_url, rng=random.Random(1))


def _record(option: object, side: str, lots: int, cid: str) -> OrderRecord:
    return OrderRecord(correlation_id=cid, tag=cid, at=AT, side=side,
                       security_id=option.security_id, symbol="NIFTY-TEST",  # type: ignore[attr-defined]
                       quantity=lots * option.lot_size, reference_price=100.0,  # type: ignore[attr-defined]
                       purpose="entry" if side == "BUY" else "exit")


def _book(server: EmulatorServer) -> list[tuple[str, str, int, str]]:
    return server.call(lambda: [(o.correlation_id, o.side, o.quantity, o.status)
                                for o in server.emulator.book.orders.values()])


@pytest.mark.parametrize(("enabled", "env", "armed", "says"), [
    (False, {}, False, "set live.orders_enabled=true and env OPTSCALP_LIVE=1"),
    (True, {}, False, "set env OPTSCALP_LIVE=1"),
    (False, {"OPTSCALP_LIVE": "1"}, False, "set live.orders_enabled=true)"),
    (True, {"OPTSCALP_LIVE": "yes"}, False, "DRY RUN"),
    (True, {"OPTSCALP_LIVE": "1"}, True, "LIVE: orders WILL be sent"),
])
def test_two_switches_arm_live_orders(enabled: bool, env: dict, armed: bool, says: str) -> None:
    got, text = live_armed(LiveConfig(orders_enabled=enabled), env)
    assert got is armed
    assert says in text


def test_dry_run_never_sends_an_order(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    journal = MemoryJournal()
    armed, _ = live_armed(LiveConfig(orders_enabled=True), {})
    gateway = OrderGateway(_client(server), journal, armed)
    contract = Contract("NSE_FNO", option.lot_size)
    assert gateway.send(_record(option, "BUY", 1, "en_dry_1"), contract) == []
    assert gateway.exit_until_flat(_record(option, "SELL", 1, "sl_dry_1"), contract) == 0
    assert _book(server) == []
    assert [u.detail for u in journal.order_updates] == ["dry run: not sent"] * 2
    assert [r.correlation_id for r in gateway.would_send] == ["en_dry_1", "sl_dry_1"]


def test_quantity_above_freeze_is_sent_in_whole_lot_slices(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    journal = MemoryJournal()
    gateway = OrderGateway(_client(server), journal, armed=True)
    contract = Contract("NSE_FNO", option.lot_size, freeze_qty=2 * option.lot_size + 1)
    sent = gateway.send(_record(option, "BUY", 5, "en_NIFTY_CE_25000-abc"), contract)
    lot = option.lot_size
    assert [(s.correlation_id, s.quantity) for s in sent] == [
        ("en_NIFTY_CE_25000-abc-s1", 2 * lot), ("en_NIFTY_CE_25000-abc-s2", 2 * lot),
        ("en_NIFTY_CE_25000-abc-s3", lot)]
    assert [(cid, qty) for cid, _, qty, _ in _book(server)] == \
        [(s.correlation_id, s.quantity) for s in sent]
    statuses = [gateway.refresh(s).status for s in sent]
    assert statuses == [status for *_, status in _book(server)]
    assert statuses[0] in ("TRADED", "PART_TRADED")  # capped by the top-of-book quantity


def test_rejected_order_is_journalled_with_the_reason(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    journal = MemoryJournal()
    gateway = OrderGateway(_client(server), journal, armed=True)
    admin(server, "faults", {"reject_next_orders": 1})
    [sent] = gateway.send(_record(option, "BUY", 1, "en_rej"), Contract("NSE_FNO",
                                                                      option.lot_size))
    assert sent.status == "REJECTED"
    assert journal.order_updates[-1].status == "REJECTED"
    assert "RMS:Order rejected" in journal.order_updates[-1].detail
    assert journal.order_updates[-1].broker_order_id == sent.order_id


def test_exit_left_pending_is_cancelled_and_resent_until_flat(server: EmulatorServer) -> None:
    """Positions failing does not matter; an exit stuck in the book is re-sent."""
    option = quoted_options(server)[0]
    contract = Contract("NSE_FNO", option.lot_size)
    entry = OrderGateway(_client(server), MemoryJournal(), armed=True)
    assert entry.wait_final(entry.send(_record(option, "BUY", 1, "en_x"), contract)[0],
                           5).status == "TRADED"
    admin(server, "faults", {"ack_delay_ms": 60_000, "fail_status": {"positions": 503}})
    polls: list[float] = []

    def poll_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:  # the exchange comes back: the re-sent exit fills at once
            admin(server, "faults", {"ack_delay_ms": 0})

    gateway = OrderGateway(_client(server), MemoryJournal(), armed=True, exit_wait_polls=3,
                           poll_sleep=poll_sleep)
    assert gateway.exit_until_flat(_record(option, "SELL", 1, "sl_x"), contract) == \
        option.lot_size
    sells = [(cid, status) for cid, side, _, status in _book(server) if side == "SELL"]
    assert sells == [("sl_x", "CANCELLED"), ("sl_x-r1", "TRADED")]


@pytest.mark.parametrize(("quantity", "lot", "freeze", "slices"), [
    (75, 75, None, [75]), (1800, 75, 1800, [1800]), (1875, 75, 1800, [1800, 75]),
    (3750, 75, 1800, [1800, 1800, 150]), (150, 75, 100, [75, 75])])
def test_slice_quantities(quantity: int, lot: int, freeze: int | None, slices: list[int]
                          ) -> None:
    assert slice_quantities(quantity, lot, freeze) == slices


def test_bad_quantity_and_long_ids() -> None:
    with pytest.raises(OrderRejected, match="not a positive whole number of lots of 75"):
        slice_quantities(100, 75, None)
    parent = "x" * 30
    assert len(slice_correlation_id(parent, 12, 12)) == 30
    assert slice_correlation_id(parent, 1, 1) == parent
    assert round_correlation_id(parent, 3).endswith("-r3")
    assert len(round_correlation_id(parent, 3)) == 30


def test_order_updates_give_the_status_and_survive_a_reconnect(server: EmulatorServer) -> None:
    option = quoted_options(server)[0]
    creds = Credentials(server.settings.client_id, server.settings.access_token)
    updates = OrderUpdateClient(creds, DhanConfig(feed_reconnect_base_s=0.05,
                                                  feed_reconnect_cap_s=0.1),
                                url=server.order_update_url)
    updates.start()
    try:
        assert updates.wait_connected()
        assert wait_until(listening(server))
        admin(server, "order-updates/close")
        assert updates.wait_connected(connects=2)
        assert wait_until(listening(server))
        gateway = OrderGateway(_client(server), MemoryJournal(), armed=True, updates=updates)
        [sent] = gateway.send(_record(option, "BUY", 1, "en_upd"),
                              Contract("NSE_FNO", option.lot_size))
        assert wait_until(lambda: (updates.latest(sent.order_id) or sent).status == "TRADED")
        assert gateway.refresh(sent).status == "TRADED"
        assert gateway.polls == 0
        assert updates.latest(sent.order_id).correlation_id == "en_upd"  # type: ignore[union-attr]
    finally:
        updates.stop()


def test_token_expiry_stops_entries_but_exits_are_still_tried(
        server: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    option = quoted_options(server)[0]
    contract = Contract("NSE_FNO", option.lot_size)
    journal = MemoryJournal()
    gateway = OrderGateway(_client(server), journal, armed=True, exit_rounds=3,
                           poll_sleep=lambda _s: None)
    gateway.send(_record(option, "BUY", 1, "en_a"), contract)
    admin(server, "faults", {"token_expired": True})
    [refused] = gateway.send(_record(option, "BUY", 1, "en_b"), contract)
    assert refused.status == "REJECTED"
    assert "DH-901" in gateway.auth_problem
    assert "ALERT: DhanHQ credentials failed" in caplog.text
    assert gateway.exit_until_flat(_record(option, "SELL", 1, "sl_a"), contract) == 0
    assert [u.status for u in journal.order_updates if u.correlation_id.startswith("sl_a")] \
        == ["REJECTED"] * 3  # every round tried
    admin(server, "faults", {"token_expired": False})
    [blocked] = gateway.send(_record(option, "BUY", 1, "en_c"), contract)
    assert blocked.detail.startswith("entries stopped: ")
    assert gateway.exit_until_flat(_record(option, "SELL", 1, "sl_a2"), contract) == \
        option.lot_size
    assert [(cid, side, status) for cid, side, _, status in _book(server)] == [
        ("en_a", "BUY", "TRADED"), ("sl_a2", "SELL", "TRADED")]
