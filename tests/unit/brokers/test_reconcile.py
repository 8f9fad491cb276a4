"""Restart reconciliation of journalled orders/positions against the broker's fills."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from brokers.paper import account_from_fills
from brokers.reconcile import Correction, reconcile, resolve_orders
from core.errors import ReconciliationError
from strategies.records import FillRecord, OrderRecord, PositionRecord

T = datetime(2024, 10, 9, 4, 0, tzinfo=UTC)
SID = 1001


@dataclass(frozen=True)
class Order:
    record: OrderRecord
    status: str


def order(key: str, side: str = "BUY", qty: int = 75, status: str = "TRADED",
          sid: int = SID, minute: int = 0) -> Order:
    purpose = "entry" if side == "BUY" else "exit"
    return Order(OrderRecord(key, "tag", T + timedelta(minutes=minute), side, sid, "X", qty,
                             100.0, purpose, "" if side == "BUY" else "stop_loss"), status)


def fill(key: str, qty: int, side: str = "BUY", price: float = 100.0, sid: int = SID,
         minute: int = 0) -> FillRecord:
    return FillRecord(key, T + timedelta(minutes=minute, seconds=5), sid, side, price, qty,
                      20.0)


def position(key: str, status: str = "active", qty: int = 75, sid: int = SID) -> PositionRecord:
    return PositionRecord(key, T, status, sid, "X", qty, 100.0, 110.0, True)


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("TRANSIT", 0, ("REJECTED", "never acknowledged before the restart; not sent again")),
    ("PENDING", 0, ("CANCELLED", "PENDING at the broker when it stopped; cancelled, not sent "
                                 "again")),
    ("PART_TRADED", 25, ("CANCELLED", "25 of 75 filled before the restart; the rest "
                                      "cancelled, not sent again")),
    ("PENDING", 75, ("TRADED", "filled before the restart")),
    ("TRADED", 75, None),
    ("CANCELLED", 0, None),
])
def test_live_orders_get_a_final_status(status: str, filled: int,
                                        expected: tuple[str, str] | None) -> None:
    fixes = resolve_orders([order("e1", status=status)], {"e1": filled} if filled else {})
    assert fixes == ([] if expected is None else [Correction("order", "e1", *expected)])


def test_an_unacknowledged_entry_without_a_position_is_rejected_only() -> None:
    result = reconcile([order("e1", status="TRANSIT")], [], [], [])
    assert result.corrections == (Correction(
        "order", "e1", "REJECTED", "never acknowledged before the restart; not sent again"),)
    assert result.held == result.closed == ()


def test_a_pending_position_whose_entry_never_filled_is_cancelled() -> None:
    result = reconcile([order("e1", status="PENDING")], [], [position("e1", "pending")], [])
    assert [(c.target, c.key, c.status) for c in result.corrections] == [
        ("order", "e1", "CANCELLED"), ("position", "e1", "cancelled")]
    assert result.held == ()


def test_an_active_position_with_an_unfilled_exit_is_held_and_the_exit_dropped() -> None:
    orders = [order("e1"), order("x1", "SELL", status="TRANSIT", minute=30)]
    result = reconcile(orders, [fill("e1", 75)], [position("e1")], [])
    assert [(c.key, c.status) for c in result.corrections] == [("x1", "REJECTED")]
    [lot] = result.held
    assert lot.held == 75
    assert lot.exit_order is not None
    assert lot.exit_order.correlation_id == "x1"
    assert lot.exit_fills == ()


def test_a_pending_position_that_filled_becomes_active() -> None:
    result = reconcile([order("e1", status="TRANSIT")], [fill("e1", 75)],
                       [position("e1", "pending")], [])
    assert [(c.target, c.status) for c in result.corrections] == [
        ("order", "TRADED"), ("position", "active")]
    assert [lot.held for lot in result.held] == [75]


def test_a_position_sold_out_before_the_stop_is_closed() -> None:
    orders = [order("e1"), order("x1", "SELL", status="PENDING", minute=30)]
    fills = [fill("e1", 75), fill("x1", 75, "SELL", 90.0, minute=30)]
    result = reconcile(orders, fills, [position("e1")], [])
    assert result.held == ()
    [lot] = result.closed
    assert lot.held == 0
    assert [(c.key, c.status) for c in result.corrections] == [("x1", "TRADED")]


def test_a_partly_sold_position_is_held_with_what_is_left() -> None:
    orders = [order("e1"), order("x1", "SELL", status="PART_TRADED", minute=30)]
    fills = [fill("e1", 75), fill("x1", 50, "SELL", 90.0, minute=30)]
    result = reconcile(orders, fills, [position("e1")], [])
    [lot] = result.held
    assert lot.held == 25
    assert sum(f.quantity for f in lot.exit_fills) == 50


def test_broker_lots_without_a_journal_position_are_adopted() -> None:
    result = reconcile([order("e1")], [fill("e1", 75)], [], [])
    assert result.corrections == (Correction(
        "position", "e1", "active", "adopted: broker lot without a journal position"),)
    [lot] = result.held
    assert (lot.position.position_key, lot.position.status, lot.held) == ("e1", "active", 75)


@pytest.mark.parametrize(("orders", "fills", "positions", "message"), [
    ([], [fill("ghost", 75)], [], "fill of 75 for unjournalled order ghost"),
    ([order("e1"), order("x1", "SELL")], [fill("e1", 75), fill("x1", 100, "SELL")],
     [position("e1")], "position e1: 25 more sold than bought"),
    ([order("x9", "SELL", sid=2002)], [fill("x9", 75, "SELL", sid=2002)], [],
     "fills of order x9 (security 2002) belong to no position"),
])
def test_what_cannot_be_explained_needs_a_human(orders: list, fills: list, positions: list,
                                                message: str) -> None:
    with pytest.raises(ReconciliationError, match=re.escape(message)):
        reconcile(orders, fills, positions, [])


def test_the_account_replays_cash_exactly_as_the_broker_booked_it() -> None:
    fills = [fill("e1", 75, price=150.05), fill("x1", 75, "SELL", 104.95, minute=40),
             fill("e2", 50, price=101.1, sid=2002, minute=50)]
    cash = 100_000.0
    cash -= 75 * 150.05 + 20.0
    cash -= -75 * 104.95 + 20.0
    cash -= 50 * 101.1 + 20.0
    account = account_from_fills(100_000.0, fills)
    assert account.cash == cash  # the same float, not approximately
    assert account.held == {2002: 50}
