"""REST: orders, trades, positions, fund limits (``/v2/...``), every answer a JSON body.

Placing: the answer is ``{"orderId", "orderStatus": "TRANSIT"}`` (``"REJECTED"`` when the
RMS refused it) and, unless an acknowledgement delay is set, the order has already reached
the exchange and been matched against the quote of the current replay time when the answer
leaves, so an order-book read right after it is deterministic.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from sim.dhan_emulator.emulator import EMULATOR, Emulator
from sim.dhan_emulator.errors import DhanApiError, json_response
from sim.dhan_emulator.orders import Order, OrderRequest, order_request
from sim.dhan_emulator.views import funds_view, order_view, position_view, trade_view


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or DH-905."""
    text = await request.text()
    try:
        body = json.loads(text) if text else {}
    except ValueError as e:
        raise DhanApiError("DH-905", f"Request body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise DhanApiError("DH-905", "Request body must be a JSON object")
    return body


def _require_open(em: Emulator, action: str) -> None:
    if not em.market_open():
        raise DhanApiError("DH-906", f"Market is Closed! You cannot {action} an order now.")


def _submit(em: Emulator, req: OrderRequest) -> Order:
    """Place and, unless acknowledgements are delayed, release to the exchange now."""
    order = em.book.place(req, em.now())
    if order.status == "TRANSIT":
        delay = em.faults.ack_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(
                delay, lambda: em.book.release(order, em.now()))
        else:
            em.book.release(order, em.now())
    return order


def _ack(order: Order) -> dict[str, str]:
    return {"orderId": order.order_id,
            "orderStatus": "REJECTED" if order.status == "REJECTED" else "TRANSIT"}


async def place_order(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    req = order_request(await json_body(request))
    _require_open(em, "place")
    return json_response(_ack(_submit(em, req)))


async def place_sliced_order(request: web.Request) -> web.Response:
    """``/orders/slicing``: split at the freeze quantity (in whole lots); a list of acks."""
    em = request.app[EMULATOR]
    req = order_request(await json_body(request))
    _require_open(em, "place")
    instrument = em.market.instrument(req.security_id)
    if instrument is None or not instrument.freeze_qty:
        return json_response([_ack(_submit(em, req))])
    lot = instrument.lot_size
    slice_qty = max(instrument.freeze_qty // lot, 1) * lot
    acks, left = [], req.quantity
    while left > 0:
        qty = min(slice_qty, left)
        acks.append(_ack(_submit(em, OrderRequest(**{**req.__dict__, "quantity": qty}))))
        left -= qty
    return json_response(acks)


def _lookup_answer(em: Emulator, order: Order) -> Any:
    view = order_view(order, em.settings.client_id)
    return [view] if em.settings.order_lookup_as_list else view


async def list_orders(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    return json_response([order_view(o, em.settings.client_id)
                          for o in em.book.orders.values()])


async def get_order(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    return json_response(_lookup_answer(em, em.book.get(request.match_info["order_id"])))


async def get_order_by_correlation(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    order = em.book.by_correlation(request.match_info["correlation_id"])
    return json_response(_lookup_answer(em, order))


async def modify_order(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await json_body(request)
    _require_open(em, "modify/cancel")
    order = em.book.modify(request.match_info["order_id"], body, em.now())
    return json_response({"orderId": order.order_id, "orderStatus": order.status})


async def cancel_order(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    _require_open(em, "modify/cancel")
    order = em.book.cancel(request.match_info["order_id"], em.now())
    return json_response({"orderId": order.order_id, "orderStatus": order.status})


async def list_trades(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    wanted = request.match_info.get("order_id")
    return json_response([trade_view(t, em.settings.client_id) for t in em.book.trades
                          if wanted is None or t.order.order_id == wanted])


async def list_positions(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    return json_response([position_view(p, em.settings.client_id)
                          for p in em.book.positions(em.now())])


async def exit_all_positions(request: web.Request) -> web.Response:
    """``DELETE /positions``: cancel working orders, sell every long at market."""
    em = request.app[EMULATOR]
    _require_open(em, "place")
    now = em.now()
    for order in list(em.book.orders.values()):
        if order.open:
            em.book.cancel(order.order_id, now)
    for pos in em.book.positions(now):
        if pos.net_qty > 0:
            _submit(em, OrderRequest(
                security_id=pos.instrument.security_id, segment=pos.instrument.segment,
                side="SELL", product=pos.product, order_type="MARKET", validity="DAY",
                quantity=pos.net_qty, price=0.0, trigger_price=0.0, disclosed_qty=0,
                correlation_id=None))
    return json_response({"status": "SUCCESS",
                          "message": "All orders and positions exited successfully"})


async def fund_limits(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    return json_response(funds_view(em.book.funds(em.now()), em.settings.client_id))


async def holdings(request: web.Request) -> web.Response:
    return json_response([])


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/orders", place_order),
        web.post(f"{prefix}/orders/slicing", place_sliced_order),
        web.get(f"{prefix}/orders", list_orders),
        web.get(f"{prefix}/orders/external/{{correlation_id}}", get_order_by_correlation),
        web.get(f"{prefix}/orders/{{order_id}}", get_order),
        web.put(f"{prefix}/orders/{{order_id}}", modify_order),
        web.delete(f"{prefix}/orders/{{order_id}}", cancel_order),
        web.get(f"{prefix}/trades", list_trades),
        web.get(f"{prefix}/trades/", list_trades),
        web.get(f"{prefix}/trades/{{order_id}}", list_trades),
        web.get(f"{prefix}/positions", list_positions),
        web.delete(f"{prefix}/positions", exit_all_positions),
        web.get(f"{prefix}/fundlimit", fund_limits),
        web.get(f"{prefix}/holdings", holdings),
    ]
