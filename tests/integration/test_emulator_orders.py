"""Trading against the emulator with the real dhanhq client: orders, trades, positions, funds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from brokers.fills import round_to_tick
from sim.dhan_emulator import EmulatorServer
from sim.dhan_emulator.orders import FillSettings
from tests.integration.emulator_support import (
    TEN_AM,
    admin,
    cassette,
    dhan_client,
    ist,
    quoted_options,
    serve,
    shape_differences,
    wait_until,
)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


def _quote(server: EmulatorServer, security_id: int):  # noqa: ANN202 - a test helper
    return server.call(lambda: server.emulator.market.snapshot(
        security_id, server.emulator.now_ns()))


def _one(response: dict) -> dict:
    assert response["status"] == "success", response
    data = response["data"]
    assert isinstance(data, list)
    assert len(data) == 1
    return data[0]


def test_market_order_is_traded_everywhere(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    quote = _quote(server, option.security_id)
    lots = option.lot_size
    placed = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", lots, "MARKET",
                              "INTRADAY", 0, tag="entry_NIFTY_CE_1")
    assert placed["status"] == "success"
    assert placed["data"]["orderStatus"] == "TRANSIT"
    order_id = placed["data"]["orderId"]

    by_id = _one(dhan.get_order_by_id(order_id))
    by_tag = _one(dhan.get_order_by_correlationID("entry_NIFTY_CE_1"))
    assert by_id == by_tag
    assert by_id["orderStatus"] == "TRADED"
    assert by_id["filledQty"] == lots
    assert by_id["remainingQuantity"] == 0
    assert by_id["averageTradedPrice"] == quote.ask  # a buy takes the ask
    assert by_id["exchangeTime"] == "2024-10-09 10:00:00"  # IST, the replay time
    assert [o["orderId"] for o in dhan.get_order_list()["data"]] == [order_id]

    trades = dhan.get_trade_book()["data"]
    assert [(t["orderId"], t["tradedQuantity"], t["tradedPrice"]) for t in trades] == \
        [(order_id, lots, quote.ask)]
    assert dhan.get_trade_book(order_id)["data"] == trades

    position = _one(dhan.get_positions())
    assert position["securityId"] == str(option.security_id)
    assert position["positionType"] == "LONG"
    assert position["netQty"] == lots
    assert position["buyAvg"] == quote.ask
    assert position["drvOptionType"] == ("CALL" if option.option_type == "CE" else "PUT")


def test_order_and_trade_books_have_the_real_shape(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                                "MARKET", "INTRADAY", 0)["data"]["orderId"]
    real_order = cassette("models__orders__all__0.json")
    assert shape_differences(dhan.get_order_list()["data"], real_order) == []
    assert shape_differences(dhan.get_order_by_id(order_id)["data"],
                             cassette("models__orders__order__0.json")) == []
    assert shape_differences(dhan.get_trade_book()["data"],
                             cassette("models__trade_today__0.json")) == []
    assert shape_differences(dhan.place_order(
        str(option.security_id), "NSE_FNO", "BUY", option.lot_size, "MARKET", "INTRADAY",
        0)["data"], cassette("models__orders__create__0.json")) == []


def test_fund_limits_pay_premium_and_charges(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    before = dhan.get_fund_limits()["data"]
    assert before["availabelBalance"] == before["sodLimit"] == 100_000.0
    assert before["utilizedAmount"] == 0.0
    option = quoted_options(server)[0]
    ask = _quote(server, option.security_id).ask
    dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size, "MARKET",
                     "INTRADAY", 0)
    after = dhan.get_fund_limits()["data"]
    premium = ask * option.lot_size
    charges = 100_000.0 - premium - after["availabelBalance"]
    assert 20.0 < charges < 30.0  # brokerage 20 + GST and small exchange fees, stamp duty
    assert after["utilizedAmount"] == pytest.approx(premium + charges)
    assert set(after) == {"dhanClientId", "availabelBalance", "sodLimit", "collateralAmount",
                          "receiveableAmount", "utilizedAmount", "blockedPayoutAmount",
                          "withdrawableBalance"}


def test_limit_order_rests_then_is_cancelled(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[-1]
    bid = _quote(server, option.security_id).bid
    limit = round_to_tick(bid * 0.5, option.tick_size, "down")
    placed = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                              "LIMIT", "INTRADAY", limit)
    order_id = placed["data"]["orderId"]
    resting = _one(dhan.get_order_by_id(order_id))
    assert resting["orderStatus"] == "PENDING"
    assert resting["price"] == limit
    funds = dhan.get_fund_limits()["data"]
    assert funds["availabelBalance"] == pytest.approx(100_000.0 - limit * option.lot_size)

    cancelled = dhan.cancel_order(order_id)
    assert cancelled["data"] == {"orderId": order_id, "orderStatus": "CANCELLED"}
    assert _one(dhan.get_order_by_id(order_id))["orderStatus"] == "CANCELLED"
    assert dhan.get_trade_book()["data"] == []
    assert dhan.get_fund_limits()["data"]["availabelBalance"] == 100_000.0
    again = dhan.cancel_order(order_id)
    assert again["status"] == "failure"
    assert again["remarks"]["error_code"] == "DH-906"


def test_resting_limit_fills_when_the_market_crosses_it(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    market = server.emulator.market
    start_ns = server.emulator.now_ns()
    later = [market.snapshot(option.security_id, start_ns + k * 60_000_000_000)
             for k in range(1, 120)]
    asks = [s.ask for s in later if s is not None]
    limit = round_to_tick(min(asks), option.tick_size, "up")
    now_ask = _quote(server, option.security_id).ask
    if limit >= now_ask:
        pytest.skip("the synthetic path never trades below the 10:00 ask in two hours")
    order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                                "LIMIT", "INTRADAY", limit)["data"]["orderId"]
    assert _one(dhan.get_order_by_id(order_id))["orderStatus"] == "PENDING"
    admin(server, "clock", {"speed": "max", "action": "start"})
    assert wait_until(lambda: _one(dhan.get_order_by_id(order_id))["orderStatus"] == "TRADED")
    assert _one(dhan.get_order_by_id(order_id))["averageTradedPrice"] == limit


def test_modify_a_resting_order_to_cross(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    quote = _quote(server, option.security_id)
    low = round_to_tick(quote.bid * 0.5, option.tick_size, "down")
    order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                                "LIMIT", "INTRADAY", low)["data"]["orderId"]
    modified = dhan.modify_order(order_id, "LIMIT", "NA", option.lot_size, quote.ask + 5, 0,
                                 0, "DAY")
    assert modified["status"] == "success"
    order = _one(dhan.get_order_by_id(order_id))
    assert order["orderStatus"] == "TRADED"
    assert order["averageTradedPrice"] == quote.ask  # crossing fills at the touch


def test_insufficient_funds_is_rejected(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = max(quoted_options(server), key=lambda i: _quote(server, i.security_id).ask)
    ask = _quote(server, option.security_id).ask
    lots = int(100_000 / (ask * option.lot_size)) + 1
    qty = min(lots * option.lot_size, option.freeze_qty or 10**9)
    if qty * ask <= 100_000:
        pytest.skip("cannot exceed the balance within the freeze quantity")
    placed = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", qty, "MARKET",
                              "INTRADAY", 0)
    assert placed["data"]["orderStatus"] == "REJECTED"
    order = _one(dhan.get_order_by_id(placed["data"]["orderId"]))
    assert order["orderStatus"] == "REJECTED"
    assert order["omsErrorDescription"].startswith("RMS:Margin Exceeds")
    assert dhan.get_positions()["data"] == []


def test_selling_what_is_not_held_is_rejected(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    placed = dhan.place_order(str(option.security_id), "NSE_FNO", "SELL", option.lot_size,
                              "MARKET", "INTRADAY", 0)
    order = _one(dhan.get_order_by_id(placed["data"]["orderId"]))
    assert order["orderStatus"] == "REJECTED"
    assert "Short selling" in order["omsErrorDescription"]


def test_round_trip_realises_profit_and_closes_the_position(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    sid = str(option.security_id)
    buy = _quote(server, option.security_id)
    dhan.place_order(sid, "NSE_FNO", "BUY", option.lot_size, "MARKET", "INTRADAY", 0)
    admin(server, "clock", {"seek": (TEN_AM + timedelta(minutes=30)).isoformat()})
    sell = _quote(server, option.security_id)
    dhan.place_order(sid, "NSE_FNO", "SELL", option.lot_size, "MARKET", "INTRADAY", 0)
    position = _one(dhan.get_positions())
    assert position["positionType"] == "CLOSED"
    assert position["netQty"] == 0
    assert position["realizedProfit"] == pytest.approx(
        (sell.bid - buy.ask) * option.lot_size, abs=0.01)
    trades = dhan.get_trade_book()["data"]
    assert [t["transactionType"] for t in trades] == ["BUY", "SELL"]
    assert trades[1]["exchangeTime"] == "2024-10-09 10:30:00"


def test_partial_fill_by_top_of_book_quantity(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    quote = _quote(server, option.security_id)
    qty = quote.ask_qty + 2 * option.lot_size
    order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", qty, "MARKET",
                                "INTRADAY", 0)["data"]["orderId"]
    order = _one(dhan.get_order_by_id(order_id))
    assert order["orderStatus"] == "PART_TRADED"
    assert order["filledQty"] == quote.ask_qty
    assert order["remainingQuantity"] == qty - quote.ask_qty
    admin(server, "clock", {"speed": "max", "action": "start"})
    assert wait_until(lambda: _one(dhan.get_order_by_id(order_id))["orderStatus"] == "TRADED")
    assert len(dhan.get_trade_book(order_id)["data"]) >= 2


def test_market_order_with_price_protection_can_rest_pending(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # A band narrower than the spread: Dhan's market-as-limit order cannot reach the ask.
    with serve(tmp_path_factory, fills=FillSettings(price_protection_pct=0.0001)) as running:
        dhan = dhan_client(running)
        option = quoted_options(running)[0]
        quote = _quote(running, option.security_id)
        band = round_to_tick(quote.ltp * 1.0001, option.tick_size, "down")
        if band >= quote.ask:
            pytest.skip("spread inside the band at 10:00")
        order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY",
                                    option.lot_size, "MARKET", "INTRADAY", 0)["data"]["orderId"]
        order = _one(dhan.get_order_by_id(order_id))
        assert order["orderStatus"] == "PENDING"
        assert order["orderType"] == "MARKET"
        assert order["price"] == band


def test_stop_loss_market_triggers_on_the_ltp(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    sid = str(option.security_id)
    quote = _quote(server, option.security_id)
    dhan.place_order(sid, "NSE_FNO", "BUY", option.lot_size, "MARKET", "INTRADAY", 0)
    waiting = dhan.place_order(sid, "NSE_FNO", "SELL", option.lot_size, "STOP_LOSS_MARKET",
                               "INTRADAY", 0, trigger_price=round(quote.ltp * 0.5, 1))
    assert _one(dhan.get_order_by_id(waiting["data"]["orderId"]))["orderStatus"] == "PENDING"
    second = dhan.place_order(sid, "NSE_FNO", "SELL", option.lot_size, "STOP_LOSS_MARKET",
                              "INTRADAY", 0, trigger_price=round(quote.ltp * 0.5, 1))
    assert second["data"]["orderStatus"] == "REJECTED"  # the pending stop holds the lot
    dhan.cancel_order(waiting["data"]["orderId"])
    hit = dhan.place_order(sid, "NSE_FNO", "SELL", option.lot_size, "STOP_LOSS_MARKET",
                           "INTRADAY", 0, trigger_price=round(quote.ltp * 1.01, 1))
    order = _one(dhan.get_order_by_id(hit["data"]["orderId"]))
    assert order["orderStatus"] == "TRADED"
    assert order["averageTradedPrice"] == quote.bid


def test_exit_all_positions(server: EmulatorServer) -> None:
    dhan = dhan_client(server)
    options = quoted_options(server)
    for option in options[:2]:
        dhan.place_order(str(option.security_id), "NSE_FNO", "BUY", option.lot_size,
                         "MARKET", "INTRADAY", 0)
    answer = dhan.exit_all_positions()
    assert answer["data"]["status"] == "SUCCESS"
    assert {p["positionType"] for p in dhan.get_positions()["data"]} == {"CLOSED"}


def test_working_orders_expire_at_the_close(tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, start_at=ist(15, 29, 50), speed=50) as running:
        dhan = dhan_client(running)
        option = quoted_options(running)[0]
        limit = round_to_tick(_quote(running, option.security_id).bid * 0.5, option.tick_size,
                              "down")
        order_id = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY",
                                    option.lot_size, "LIMIT", "INTRADAY", limit)["data"]["orderId"]
        assert _one(dhan.get_order_by_id(order_id))["orderStatus"] == "PENDING"
        admin(running, "clock", {"action": "start"})
        assert wait_until(
            lambda: _one(dhan.get_order_by_id(order_id))["orderStatus"] == "EXPIRED")
        assert dhan.get_fund_limits()["data"]["availabelBalance"] == 100_000.0


@pytest.mark.parametrize(("change", "code", "text"), [
    ({"quantity": 7}, "DH-906", "multiple of lot size"),
    ({"security_id": "999999"}, "DH-905", "Invalid SecurityId"),
    ({"product": "CNC"}, "DH-906", "not allowed for derivatives"),
    ({"transaction": "HOLD"}, "DH-905", "transactionType"),
    ({"order_type": "LIMIT"}, "DH-905", "price must be > 0"),
    ({"tag": "way-too-long-correlation-id-over-30"}, "DH-905", "correlationId"),
])
def test_bad_orders_get_dhan_errors(server: EmulatorServer, change: dict, code: str,
                                    text: str) -> None:
    dhan = dhan_client(server)
    option = quoted_options(server)[0]
    args = {"security_id": str(option.security_id), "transaction": "BUY",
            "quantity": option.lot_size, "order_type": "MARKET", "product": "INTRADAY",
            "tag": None, **change}
    answer = dhan.place_order(args["security_id"], "NSE_FNO", args["transaction"],
                              args["quantity"], args["order_type"], args["product"], 0,
                              tag=args["tag"])
    assert answer["status"] == "failure"
    assert answer["remarks"]["error_code"] == code
    assert text in answer["remarks"]["error_message"]
    assert dhan.get_order_list()["data"] == []


def test_orders_outside_the_session_are_refused(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve(tmp_path_factory, start_at=ist(15, 30)) as running:
        dhan = dhan_client(running)
        option = running.emulator.market.options(running.emulator.market.expiries[0])[0]
        answer = dhan.place_order(str(option.security_id), "NSE_FNO", "BUY",
                                  option.lot_size, "MARKET", "INTRADAY", 0)
        assert answer["remarks"]["error_code"] == "DH-906"
        assert "Market is Closed" in answer["remarks"]["error_message"]


@pytest.mark.parametrize(("token", "client_id"), [("wrong-token", None), (None, "1999999999")])
def test_headers_are_checked(server: EmulatorServer, token: str | None,
                             client_id: str | None) -> None:
    dhan = dhan_client(server, token=token, client_id=client_id)
    answer = dhan.get_order_list()
    assert answer["status"] == "failure"
    assert answer["remarks"] == {
        "error_code": "DH-901", "error_type": "Invalid_Authentication",
        "error_message": "Client ID or user generated access token is invalid or expired."}


def test_error_envelopes_match_the_recorded_ones(server: EmulatorServer) -> None:
    import requests

    real = cassette("client__error_dh_901__0.json")
    answer = requests.get(f"{server.base_url}/orders", timeout=5,
                          headers={"access-token": "x", "client-id": "y"})
    assert answer.status_code == 401
    assert answer.json() == real
    unknown = requests.get(f"{server.base_url}/invalid_endpoint", timeout=5,
                           headers={"access-token": server.settings.access_token,
                                    "client-id": server.settings.client_id})
    assert unknown.status_code == 404
    assert shape_differences(unknown.json(), cassette("client__error_400__0.json")) == []
    assert unknown.json()["path"] == "/v2/invalid_endpoint"
