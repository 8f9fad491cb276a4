"""Order updates with the real dhanhq OrderUpdate, and each REST/order fault knob as the
client sees it (the feed's faults are in test_emulator_feed.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sim.dhan_emulator import EmulatorServer
from tests.integration.emulator_support import (
    UpdateListener,
    admin,
    dhan_client,
    listening,
    quoted_options,
    serve,
    wait_until,
)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


@pytest.fixture
def listener(server: EmulatorServer) -> Iterator[UpdateListener]:
    updates = UpdateListener(server)
    try:
        assert wait_until(listening(server), step=updates.step)
        yield updates
    finally:
        updates.close()


def _buy(server: EmulatorServer, **kwargs: object) -> dict:
    option = quoted_options(server)[0]
    return dhan_client(server).place_order(str(option.security_id), "NSE_FNO", "BUY",
                                           option.lot_size, "MARKET", "INTRADAY", 0, **kwargs)


def _status(server: EmulatorServer, order_id: str) -> str:
    return dhan_client(server).get_order_by_id(order_id)["data"][0]["orderStatus"]


def test_order_update_receives_the_fill(server: EmulatorServer,
                                        listener: UpdateListener) -> None:
    placed = _buy(server, tag="entry_upd_1")
    order_id = placed["data"]["orderId"]
    assert listener.wait_for(lambda m: "Traded" in listener.statuses(order_id))
    assert listener.statuses(order_id) == ["Transit", "Pending", "Traded"]
    fill = listener.messages[-1]
    assert fill["Type"] == "order_alert"
    data = fill["Data"]
    order = dhan_client(server).get_order_by_id(order_id)["data"][0]
    assert (data["Exchange"], data["Segment"], data["Product"], data["TxnType"],
            data["OrderType"]) == ("NSE", "D", "I", "B", "MKT")
    assert data["TradedQty"] == order["filledQty"]
    assert data["AvgTradedPrice"] == order["averageTradedPrice"]
    assert data["CorrelationId"] == "entry_upd_1"
    assert data["SecurityId"] == order["securityId"]
    assert data["LastUpdatedTime"] == "2024-10-09 10:00:00"


def test_reject_next_orders(server: EmulatorServer, listener: UpdateListener) -> None:
    admin(server, "faults", {"reject_next_orders": 2})
    first, second, third = (_buy(server)["data"] for _ in range(3))
    assert [first["orderStatus"], second["orderStatus"]] == ["REJECTED", "REJECTED"]
    assert _status(server, third["orderId"]) == "TRADED"
    order = dhan_client(server).get_order_by_id(first["orderId"])["data"][0]
    assert "reject_next_orders" in order["omsErrorDescription"]
    assert listener.wait_for(lambda m: "Rejected" in listener.statuses(second["orderId"]))
    assert admin(server, "state")["faults"]["reject_next_orders"] == 0


def test_429_storm_is_dh904(server: EmulatorServer) -> None:
    admin(server, "faults", {"storm_requests": 3})
    dhan = dhan_client(server)
    answers = [dhan.get_fund_limits() for _ in range(4)]
    assert [a["status"] for a in answers] == ["failure"] * 3 + ["success"]
    assert {a["remarks"]["error_code"] for a in answers[:3]} == {"DH-904"}
    admin(server, "faults", {"storm_requests": 1})
    raw = requests.get(f"{server.base_url}/positions", timeout=5,
                       headers={"access-token": server.settings.access_token,
                                "client-id": server.settings.client_id})
    assert raw.status_code == 429


ROUTES = [("positions", "get_positions", "/positions"), ("orders", "get_order_list", "/orders")]


@pytest.mark.parametrize(("group", "call", "path"), ROUTES)
def test_5xx_on_a_route(server: EmulatorServer, group: str, call: str, path: str) -> None:
    admin(server, "faults", {"fail_status": {group: 503}})
    dhan = dhan_client(server)
    failed = getattr(dhan, call)()
    assert failed["status"] == "failure"
    assert failed["remarks"]["error_code"] == "DH-908"
    assert dhan.get_fund_limits()["status"] == "success"  # other routes are unaffected
    raw = requests.get(f"{server.base_url}{path}", timeout=5,
                       headers={"access-token": server.settings.access_token,
                                "client-id": server.settings.client_id})
    assert raw.status_code == 503
    assert raw.json()["errorCode"] == "DH-908"
    admin(server, "faults", {"fail_status": {}})
    assert getattr(dhan, call)()["status"] == "success"


@pytest.mark.parametrize(("group", "call", "path"), ROUTES)
def test_timeouts_on_a_route(server: EmulatorServer, group: str, call: str,
                             path: str) -> None:  # noqa: ARG001 - path is for the 5xx test
    admin(server, "faults", {"delay_seconds": {group: 1.0}})
    impatient = dhan_client(server, timeout=0.2)
    answer = getattr(impatient, call)()
    assert answer["status"] == "failure"
    assert "timed out" in str(answer["remarks"]).lower()
    assert impatient.get_fund_limits()["status"] == "success"
    admin(server, "faults", {"delay_seconds": {}})
    assert getattr(impatient, call)()["status"] == "success"


def test_delayed_acknowledgement_keeps_the_order_in_transit(
        server: EmulatorServer, listener: UpdateListener) -> None:
    admin(server, "faults", {"ack_delay_ms": 300})
    order_id = _buy(server)["data"]["orderId"]
    assert _status(server, order_id) == "TRANSIT"
    assert listener.statuses(order_id) in ([], ["Transit"])
    assert wait_until(lambda: _status(server, order_id) == "TRADED")
    assert listener.wait_for(lambda m: listener.statuses(order_id) ==
                             ["Transit", "Pending", "Traded"])


def test_expired_token(server: EmulatorServer, listener: UpdateListener) -> None:
    admin(server, "faults", {"token_expired": True})
    answer = dhan_client(server).get_fund_limits()
    assert answer["remarks"]["error_code"] == "DH-901"
    assert listener.wait_for(lambda m: listener.task.done())  # the socket was closed
    assert server.call(lambda: len(server.emulator.updates.listeners)) == 0
    late = UpdateListener(server)
    try:
        assert wait_until(late.task.done, step=late.step)  # a new login is refused
        assert late.messages == []
    finally:
        late.close()
    admin(server, "faults", {"token_expired": False})
    assert dhan_client(server).get_fund_limits()["status"] == "success"


def test_order_update_login_is_checked(server: EmulatorServer) -> None:
    wrong = UpdateListener(server, token="not-the-token")
    try:
        assert wait_until(wrong.task.done, step=wrong.step)
    finally:
        wrong.close()
    assert server.call(lambda: len(server.emulator.updates.listeners)) == 0


@pytest.mark.parametrize("body", [{"storm_requests": -1}, {"fail_status": {"nowhere": 500}},
                                  {"fail_status": {"orders": 200}}, {"bogus": 1},
                                  {"reject_next_orders": "many"}])
def test_admin_rejects_bad_knobs(server: EmulatorServer, body: dict) -> None:
    answer = requests.post(f"{server.admin_url}/faults", json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_faults_can_be_set_from_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, faults={"reject_next_orders": 1,
                                         "fail_status": {"fundlimit": 500}}) as running:
        assert _buy(running)["data"]["orderStatus"] == "REJECTED"
        assert dhan_client(running).get_fund_limits()["remarks"]["error_code"] == "DH-908"
