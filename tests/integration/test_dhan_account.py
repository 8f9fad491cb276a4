"""Start-up reconciliation against the emulator's books: journal lots and unknown lots."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from brokers.dhan.account import (
    KnownOrder,
    ledger_from_books,
    parent_id,
    reconcile_with_dhan,
    utc_from_ist_text,
)
from brokers.dhan.client import Credentials, DhanClient
from brokers.dhan.orders import Contract, OrderGateway
from core.config import DhanConfig
from sim.dhan_emulator import EmulatorServer
from strategies.records import MemoryJournal, OrderRecord
from tests.integration.emulator_support import TEN_AM, dhan_client, quoted_options, serve


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


def test_journal_lots_and_unknown_broker_lots_are_both_held(server: EmulatorServer) -> None:
    """Killed after the entry filled but before its position row; plus a lot bought by hand."""
    ours, theirs = quoted_options(server)[:2]
    client = DhanClient(Credentials(server.settings.client_id, server.settings.access_token),
                        DhanConfig(), base_url=server.base_url, rng=random.Random(3))
    entry = OrderRecord(correlation_id="en_NIFTY_CE_1-a1", tag="entry_NIFTY_CE_1", at=TEN_AM,
                        side="BUY", security_id=ours.security_id, symbol="ours",
                        quantity=2 * ours.lot_size, reference_price=100.0, purpose="entry")
    gateway = OrderGateway(client, MemoryJournal(), armed=True)
    sent = gateway.send(entry, Contract("NSE_FNO", ours.lot_size, freeze_qty=ours.lot_size))
    assert [s.correlation_id for s in sent] == ["en_NIFTY_CE_1-a1-s1", "en_NIFTY_CE_1-a1-s2"]
    manual = dhan_client(server).place_order(str(theirs.security_id), "NSE_FNO", "BUY",
                                             theirs.lot_size, "MARKET", "INTRADAY", 0)
    assert manual["status"] == "success"

    result = reconcile_with_dhan([KnownOrder(entry, "TRANSIT")], [], [], client.orders(),
                                 client.trades())
    held = {lot.position.security_id: lot for lot in result.held}
    assert set(held) == {ours.security_id, theirs.security_id}
    assert held[ours.security_id].held == 2 * ours.lot_size  # both slices booked to the entry
    assert held[theirs.security_id].held == theirs.lot_size
    assert held[theirs.security_id].entry_order.correlation_id == \
        f"adopt-{manual['data']['orderId']}"  # type: ignore[union-attr]
    statuses = {(c.key, c.status) for c in result.corrections}
    assert ("en_NIFTY_CE_1-a1", "TRADED") in statuses  # TRANSIT in the journal, filled at Dhan


@pytest.mark.parametrize(("cid", "parent"), [
    ("en_1", "en_1"), ("en_1-s2", "en_1"), ("sl_1-r3", "sl_1"), ("other-s1", "other-s1"),
    ("en_1-sx", "en_1-sx")])
def test_children_map_to_their_journalled_parent(cid: str, parent: str) -> None:
    assert parent_id(cid, {"en_1", "sl_1"}) == parent


def test_times_and_unknown_sells() -> None:
    assert utc_from_ist_text("2024-10-09 10:00:00") == datetime(2024, 10, 9, 4, 30, tzinfo=UTC)
    trade = {"orderId": "9", "exchangeTime": "2024-10-09 10:00:00", "securityId": "5",
             "transactionType": "SELL", "tradedQuantity": 25, "tradedPrice": 10.0}
    fills, adopted = ledger_from_books([{"orderId": "9", "correlationId": "NA"}], [trade],
                                       set())
    assert adopted == []  # a sell of nothing known is left for reconcile to refuse loudly
    assert fills[0].correlation_id == "adopt-9"
