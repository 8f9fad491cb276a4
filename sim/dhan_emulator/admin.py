"""The admin endpoint (not part of Dhan's API): replay clock, fault knobs, feed actions.

==========================  ==================================================================
``GET  /admin/state``       clock, faults, connection and order counts
``POST /admin/faults``      set knobs: any of the :class:`~sim.dhan_emulator.faults.Faults`
                            fields plus ``reject_next_orders``
``POST /admin/clock``       ``{"seek": ISO time, "speed": "max"|x, "action": "start"|"pause"}``
                            (each optional; applied in that order)
``POST /admin/feed/disconnect``  ``{"code": 805}``: disconnect packet, then close, every feed
``POST /admin/feed/drop``   ``{}`` cut every feed connection (no packet, no close handshake);
                            ``{"security_id": n}`` silently drop that instrument everywhere
``POST /admin/order-updates/close``  close every order-update connection
==========================  ==================================================================

Setting ``token_expired`` also disconnects the feeds with code 807 and closes the
order-update connections, as an expiring token does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from sim.dhan_emulator.emulator import EMULATOR, Emulator
from sim.dhan_emulator.errors import json_response


class AdminError(ValueError):
    """A bad admin request (answered 400 with the message)."""


async def _body(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    try:
        body = json.loads(text) if text else {}
    except ValueError as e:
        raise AdminError(f"body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def _answer(em: Emulator, **extra: Any) -> web.Response:
    return json_response({**em.state(), **extra})


async def state(request: web.Request) -> web.Response:
    return _answer(request.app[EMULATOR])


async def faults(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await _body(request)
    was_expired = em.faults.token_expired
    if "reject_next_orders" in body:
        count = body["reject_next_orders"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise AdminError(f"reject_next_orders must be a whole number >= 0, got {count!r}")
        em.book.reject_next = count
    em.faults.update(body)
    if em.faults.token_expired and not was_expired:
        em.feed.disconnect_all(807)
        em.updates.close_all()
    return _answer(em)


async def clock(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await _body(request)
    if "seek" in body:
        when = datetime.fromisoformat(str(body["seek"]))
        if when.tzinfo is None:
            raise AdminError(f"seek needs a time zone: {body['seek']!r}")
        em.clock.seek(when)
    if "speed" in body:
        em.clock.set_speed(body["speed"])
    action = body.get("action")
    if action == "start":
        em.clock.start()
    elif action == "pause":
        em.clock.pause()
    elif action is not None:
        raise AdminError(f"action must be 'start' or 'pause', got {action!r}")
    return _answer(em)


async def feed_disconnect(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    code = int((await _body(request)).get("code", 805))
    return _answer(em, disconnected=em.feed.disconnect_all(code))


async def feed_drop(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    sid = (await _body(request)).get("security_id")
    if sid is None:
        return _answer(em, dropped=em.feed.drop_all())
    return _answer(em, dropped=em.feed.drop_instrument(int(sid)))


async def close_order_updates(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    return _answer(em, closed=em.updates.close_all())


@web.middleware
async def admin_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bad admin input -> 400 with a one-line message (only for /admin paths)."""
    if not request.path.startswith("/admin"):
        return await handler(request)
    try:
        return await handler(request)
    except (AdminError, ValueError, TypeError) as e:
        return json_response({"error": str(e)}, status=400)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/admin/state", state),
        web.post("/admin/faults", faults),
        web.post("/admin/clock", clock),
        web.post("/admin/feed/disconnect", feed_disconnect),
        web.post("/admin/feed/drop", feed_drop),
        web.post("/admin/order-updates/close", close_order_updates),
    ]
