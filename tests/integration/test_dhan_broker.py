"""DhanBroker against the emulator with the real dhanhq client, driven step by step.

No cerebro: a real SlotFeed bound to an emulator contract and its quotes, orders built
through ``broker.buy``/``broker.sell`` and ``broker.next()`` called in a loop, as the engine
would. Wall time is a counter the test advances, so the polling policy and the exit rounds
are asserted in engine steps, never in seconds.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import backtrader as bt
import pytest

from brokers.charges import ChargeSchedule, order_charges
from brokers.dhan.broker import DhanBroker
from brokers.dhan.client import Credentials, DhanClient
from brokers.dhan.order_updates import OrderUpdateClient
from brokers.dhan.orders import OrderGateway
from core.clock import utc_from_ns
from core.config import DhanConfig
from core.instruments import OptionContract
from feeds.bt_feeds import SlotFeed
from feeds.catalog import Catalog
from feeds.daybook import DayBook, QuoteSeries, contracts_from_table
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.market import Snapshot
from strategies.records import MemoryJournal
from tests.integration.emulator_support import DAY, INDEX_ID, admin, listening, serve, wait_until

Order = bt.Order


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


@dataclass
class Rig:
    """One broker over the emulator, its gateway, the slot it trades and the wall counter."""

    server: EmulatorServer
    broker: DhanBroker
    gateway: OrderGateway
    slot: SlotFeed
    contract: OptionContract
    schedule: ChargeSchedule
    wall: list[float]

    @property
    def lot(self) -> int:
        return self.contract.lot_size

    def order(self, side: str, lots: int, cid: str) -> bt.Order:
        send = self.broker.buy if side == "BUY" else self.broker.sell
        return send(owner=None, data=self.slot, size=lots * self.lot, exectype=Order.Market,
                    correlation_id=cid, submit_ns=self.slot.ts_ns())

    def notifications(self) -> list[bt.Order]:
        out = []
        while (note := self.broker.get_notification()) is not None:
            out.append(note)
        return out

    def step(self, seconds: float = 1.0) -> None:
        self.wall[0] += seconds
        self.broker.next()

    def drive(self, done: Callable[[], bool], seconds: float = 1.0, limit: int = 40) -> int:
        """``next()`` calls (``seconds`` of wall apart) until ``done``; how many it took."""
        for calls in range(limit):
            if done():
                return calls
            self.step(seconds)
        raise AssertionError(f"not done after {limit} engine steps")

    def book(self) -> list[tuple[str, str, int, str]]:
        em = self.server.emulator
        return self.server.call(lambda: [(o.correlation_id, o.side, o.quantity, o.status)
                                         for o in em.book.orders.values()])

    def trades(self) -> list[tuple[str, int, float]]:
        em = self.server.emulator
        return self.server.call(lambda: [(t.order.correlation_id, t.quantity, t.price)
                                         for t in em.book.trades])


def _by_depth(snap: Snapshot) -> float:
    return min(snap.bid_qty, snap.ask_qty)


def _pick_contract(server: EmulatorServer, rank: Callable[[Snapshot], float]
                   ) -> tuple[OptionContract, QuoteSeries]:
    """The two-sided option ranked highest by ``rank`` now, and its day of quotes."""
    root = Catalog(server.settings.catalog_root)
    book = DayBook("NIFTY", DAY, INDEX_ID, root.read_ticks("NIFTY", DAY),
                   contracts_from_table(root.read_contracts("NIFTY", DAY).to_pylist(), "NIFTY"),
                   strike_step=50)
    em = server.emulator

    def ranked() -> list[tuple[float, int]]:
        found = []
        for sid in book.contracts:
            snap = em.market.snapshot(sid, em.now_ns())
            if snap is not None and snap.ask > 0 and snap.bid > 0:
                found.append((rank(snap), sid))
        return found

    _, sid = max(server.call(ranked))
    series = book.series(sid)
    assert series is not None
    return book.contracts[sid], series


def _rig(server: EmulatorServer, *, armed: bool = True, freeze_lots: int | None = None,
         updates: OrderUpdateClient | None = None,
         rank: Callable[[Snapshot], float] = _by_depth, **broker_kwargs: object) -> Rig:
    client = DhanClient(Credentials(server.settings.client_id, server.settings.access_token),
                        DhanConfig(backoff_base_s=0.01, backoff_cap_s=0.02, max_retries=1),
                        base_url=server.base_url, rng=random.Random(1))
    gateway = OrderGateway(client, MemoryJournal(), armed, updates=updates)
    contract, series = _pick_contract(server, rank)
    if freeze_lots is not None:
        contract = dataclasses.replace(contract, freeze_qty=freeze_lots * contract.lot_size)
    slot = SlotFeed(0, lambda: False)
    slot.setenvironment(bt.Cerebro())  # what cerebro.adddata does; no engine is run
    slot._start()
    slot.bind(contract, series, server.emulator.now_ns())
    assert server.settings.charges is not None
    schedule = ChargeSchedule.from_config(server.settings.charges)
    wall = [0.0]
    broker = DhanBroker(gateway, schedule, "NSE", DAY, 100_000.0, slot.ts_ns,
                        wall=lambda: wall[0], **broker_kwargs)  # type: ignore[arg-type]
    broker.start()
    return Rig(server, broker, gateway, slot, contract, schedule, wall)


def _statuses(orders: list[bt.Order]) -> list[str]:
    return [o.getstatusname() for o in orders]


def test_a_buy_fills_on_a_poll_when_its_contract_ticks_and_a_sell_closes_it(
        server: EmulatorServer) -> None:
    rig = _rig(server)
    buy = rig.order("BUY", 1, "en_fill_1")
    assert _statuses(rig.notifications()) == ["Submitted", "Accepted"]
    for _ in range(3):  # no new quote of its contract, no wall time: no REST poll
        rig.broker.next()
    assert (rig.gateway.polls, buy.status) == (0, Order.Accepted)
    assert rig.slot.next()  # the contract delivers its next quote
    rig.broker.next()
    assert rig.gateway.polls == 1
    [done] = rig.notifications()
    [(_, qty, price)] = rig.trades()
    charges = order_charges("BUY", price * qty, "NSE", DAY, rig.schedule)
    assert (done.getstatusname(), done.executed.size, done.executed.price) == \
        ("Completed", rig.lot, price)
    assert done.executed.charges == charges
    assert done.executed.fill_ts_ns == rig.slot.ts_ns()
    assert rig.broker.getposition(rig.slot).size == rig.lot
    assert rig.broker.getcash() == pytest.approx(100_000.0 - price * rig.lot - charges.total)
    assert rig.broker.held() == {rig.contract.security_id: rig.lot}
    assert rig.broker.open_orders() == []

    rig.order("SELL", 1, "sl_fill_1")
    rig.step()  # a second of wall time: one poll
    sold = rig.notifications()[-1]
    _, (_, _, sell_price) = rig.trades()
    sell_charges = order_charges("SELL", sell_price * rig.lot, "NSE", DAY, rig.schedule)
    assert (sold.getstatusname(), sold.executed.price) == ("Completed", sell_price)
    assert rig.broker.getposition(rig.slot).size == 0
    assert rig.broker.getcash() == pytest.approx(
        100_000.0 + (sell_price - price) * rig.lot - charges.total - sell_charges.total)
    assert rig.broker.held() == {}


def test_dry_run_cancels_the_order_and_sends_nothing(server: EmulatorServer) -> None:
    rig = _rig(server, armed=False)
    rig.order("BUY", 1, "en_dry_1")
    notes = rig.notifications()
    assert _statuses(notes) == ["Submitted", "Canceled"]
    assert notes[-1].info["status_detail"] == "dry run: not sent"
    rig.step()
    assert rig.book() == []
    assert rig.broker.open_orders() == []
    assert [r.correlation_id for r in rig.gateway.would_send] == ["en_dry_1"]


def test_rejected_order_is_notified_with_the_reason(server: EmulatorServer) -> None:
    rig = _rig(server)
    admin(server, "faults", {"reject_next_orders": 1})
    rig.order("BUY", 1, "en_rej_1")
    notes = rig.notifications()
    assert _statuses(notes) == ["Submitted", "Rejected"]
    assert "RMS:Order rejected" in notes[-1].info["status_detail"]
    assert rig.broker.open_orders() == []
    assert rig.book() == [("en_rej_1", "BUY", rig.lot, "REJECTED")]


def test_exit_resting_unfilled_is_cancelled_and_resent_without_blocking(
        server: EmulatorServer) -> None:
    rig = _rig(server, exit_wait_s=2.0, poll_interval_s=1.0)
    rig.order("BUY", 1, "en_x")
    rig.drive(lambda: not rig.broker.open_orders())
    admin(server, "faults", {"ack_delay_ms": 60_000})  # only orders placed now are held
    sell = rig.order("SELL", 1, "sl_x")
    admin(server, "faults", {"ack_delay_ms": 0})
    rig.notifications()
    assert [o.status for o in rig.broker.open_orders()] == ["TRANSIT"]

    seen: list[list[str]] = []

    def resent() -> bool:
        seen.append([cid for cid, side, _, _ in rig.book() if side == "SELL"])
        return len(seen[-1]) == 2

    # Each step is half a second of wall: 2 s unfilled is over after 5 steps (cancel), the
    # next step's poll sees it cancelled and sends round 1; every step returned at once.
    assert rig.drive(resent, seconds=0.5) == 6
    assert seen[:6] == [["sl_x"]] * 6
    assert sell.status == Order.Accepted
    rig.drive(lambda: not sell.alive())
    assert _statuses(rig.notifications())[-1] == "Completed"
    assert [(cid, status) for cid, side, _, status in rig.book() if side == "SELL"] == \
        [("sl_x", "CANCELLED"), ("sl_x-r1", "TRADED")]
    assert rig.broker.getposition(rig.slot).size == 0


def test_exit_never_filled_ends_not_flat_after_the_last_round(
        server: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    rig = _rig(server, exit_wait_s=2.0, exit_rounds=2)
    rig.order("BUY", 1, "en_nf")
    rig.drive(lambda: not rig.broker.open_orders())
    admin(server, "faults", {"ack_delay_ms": 60_000})  # every round stays in transit
    sell = rig.order("SELL", 1, "sl_nf")
    rig.drive(lambda: not sell.alive(), seconds=0.5)
    notes = rig.notifications()
    assert _statuses(notes)[-1] == "Canceled"
    assert notes[-1].info["status_detail"] == f"NOT flat after 2 rounds: {rig.lot} of " \
                                              f"{rig.lot} unsold"
    assert "sl_nf NOT flat after 2 rounds" in caplog.text
    assert [(cid, status) for cid, side, _, status in rig.book() if side == "SELL"] == \
        [("sl_nf", "CANCELLED"), ("sl_nf-r1", "CANCELLED")]
    assert rig.broker.getposition(rig.slot).size == rig.lot


def test_failing_status_polls_do_not_raise_and_the_order_completes_later(
        server: EmulatorServer) -> None:
    rig = _rig(server)
    admin(server, "faults", {"ack_delay_ms": 0})
    buy = rig.order("BUY", 1, "en_503")
    admin(server, "faults", {"fail_status": {"orders": 503}})
    for _ in range(3):
        rig.step()  # each step polls and fails: logged, not raised
    assert rig.gateway.polls == 3
    assert buy.status == Order.Accepted
    admin(server, "faults", {"fail_status": {}})
    rig.step()
    assert _statuses(rig.notifications())[-1] == "Completed"
    assert rig.broker.getposition(rig.slot).size == rig.lot


def test_order_above_the_freeze_quantity_is_one_bt_order_of_two_slices(
        server: EmulatorServer) -> None:
    rig = _rig(server, freeze_lots=1)
    buy = rig.order("BUY", 2, "en_frz")
    rig.notifications()
    assert [(cid, qty) for cid, _, qty, _ in rig.book()] == \
        [("en_frz-s1", rig.lot), ("en_frz-s2", rig.lot)]
    rig.step()
    notes = rig.notifications()
    assert _statuses(notes) == ["Partial", "Completed"]
    assert [(n.executed.size, len(n.executed.exbits)) for n in notes] == \
        [(rig.lot, 1), (2 * rig.lot, 2)]  # exbits[-1] of each notification is its own fill
    assert buy.executed.size == 2 * rig.lot
    assert [bit.size for bit in buy.executed.exbits] == [rig.lot, rig.lot]
    assert rig.broker.getposition(rig.slot).size == 2 * rig.lot


def test_strategy_cancel_cancels_the_slices_at_dhan(server: EmulatorServer) -> None:
    rig = _rig(server)
    admin(server, "faults", {"ack_delay_ms": 60_000})
    buy = rig.order("BUY", 1, "en_cxl")
    rig.notifications()
    assert rig.broker.cancel(buy)
    assert rig.book() == [("en_cxl", "BUY", rig.lot, "CANCELLED")]
    rig.broker.next()  # a cancel asks for the outcome at once
    notes = rig.notifications()
    assert _statuses(notes) == ["Canceled"]
    assert notes[0].info["status_detail"].startswith(f"0 of {rig.lot} filled")
    assert not rig.broker.cancel(buy)


def test_fills_come_from_the_order_update_stream_without_polls(
        server: EmulatorServer) -> None:
    creds = Credentials(server.settings.client_id, server.settings.access_token)
    updates = OrderUpdateClient(creds, DhanConfig(), url=server.order_update_url)
    updates.start()
    try:
        assert updates.wait_connected()
        assert wait_until(listening(server))
        rig = _rig(server, updates=updates)
        buy = rig.order("BUY", 1, "en_upd")
        rig.notifications()
        order_id = rig.gateway.sent["en_upd"][0].order_id
        assert wait_until(lambda: getattr(updates.latest(order_id), "status", "") == "TRADED")
        rig.broker.next()  # no new quote, no wall time: the stream alone
        assert (buy.status, rig.gateway.polls) == (Order.Completed, 0)
        assert _statuses(rig.notifications()) == ["Completed"]
    finally:
        updates.stop()


def test_a_failed_cancel_is_retried_and_failing_positions_do_not_matter(
        server: EmulatorServer) -> None:
    rig = _rig(server, exit_wait_s=2.0)
    rig.order("BUY", 1, "en_fc")
    rig.drive(lambda: not rig.broker.open_orders())
    admin(server, "faults", {"ack_delay_ms": 60_000})
    sell = rig.order("SELL", 1, "sl_fc")
    admin(server, "faults", {"ack_delay_ms": 0,
                             "fail_status": {"orders": 503, "positions": 503}})
    for _ in range(8):  # 4 s of wall: over the wait; every cancel and poll fails
        rig.step(0.5)
    assert sell.alive()
    assert [(cid, status) for cid, side, _, status in rig.book() if side == "SELL"] == \
        [("sl_fc", "TRANSIT")]
    admin(server, "faults", {"fail_status": {"positions": 503}})
    rig.drive(lambda: not sell.alive(), seconds=0.5)
    assert _statuses(rig.notifications())[-1] == "Completed"
    assert [(cid, status) for cid, side, _, status in rig.book() if side == "SELL"] == \
        [("sl_fc", "CANCELLED"), ("sl_fc-r1", "TRADED")]


def test_a_partly_filled_slice_books_each_increase_as_an_execution(
        server: EmulatorServer) -> None:
    # the option whose whole ask costs least
    rig = _rig(server, rank=lambda snap: -snap.ask_qty * snap.ask)
    em = server.emulator
    snap = server.call(lambda: em.market.snapshot(rig.contract.security_id, em.now_ns()))
    lots = snap.ask_qty // rig.lot + 1  # one lot more than the ask offers now
    assert lots * rig.lot * snap.ask < 90_000  # affordable
    buy = rig.order("BUY", lots, "en_part")
    rig.step()
    assert (buy.status, buy.executed.size) == (Order.Partial, snap.ask_qty)
    admin(server, "clock", {"seek": utc_from_ns(em.now_ns() + 60 * 10**9).isoformat()})
    assert wait_until(lambda: rig.book()[0][3] == "TRADED")
    rig.step()
    assert buy.status == Order.Completed
    trades = rig.trades()
    assert [bit.size for bit in buy.executed.exbits] == [snap.ask_qty, lots * rig.lot
                                                         - snap.ask_qty]
    assert buy.executed.exbits[0].price == trades[0][2] == snap.ask
    # Later increases are priced from Dhan's average price, which is rounded to the paisa:
    # what is booked adds up to average x filled, within half a paisa a unit of the trades.
    average = server.call(lambda: next(iter(em.book.orders.values())).average_price)
    booked = sum(bit.size * bit.price for bit in buy.executed.exbits)
    assert booked == pytest.approx(average * lots * rig.lot, abs=1e-6)
    value = sum(qty * price for _, qty, price in trades)
    assert booked == pytest.approx(value, abs=lots * rig.lot * 0.005 + 1e-6)
