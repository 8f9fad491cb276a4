"""The aiohttp application and a server that runs it on its own thread and event loop.

Paths: REST under ``/v2`` (Dhan's), the market feed at ``/feed``, order updates at
``/order-update``, the admin endpoint under ``/admin``. Every ``/v2`` request passes the
gateway in this order: expired-token fault (DH-901), ``access-token`` and ``client-id``
headers (DH-901), 429 storm (DH-904), injected 5xx (DH-908 envelope), injected delay, rate
limits (DH-904), then the handler; unknown paths get the real gateway's 404 body.

Point the official ``dhanhq`` 2.3.0 client at a server with three lines
(:meth:`EmulatorServer.client_lines`)::

    ctx.get_dhan_http().base_url = "http://127.0.0.1:PORT/v2"      # DhanContext ctx
    MarketFeed.market_feed_wss = "ws://127.0.0.1:PORT/feed"       # class attribute
    order_update.order_feed_wss = "ws://127.0.0.1:PORT/order-update"  # per OrderUpdate
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

from core.clock import ns_from_utc
from sim.dhan_emulator import admin, charts, rest_market, rest_orders
from sim.dhan_emulator.emulator import EMULATOR, Emulator
from sim.dhan_emulator.errors import DhanApiError, error_response, not_found_response
from sim.dhan_emulator.settings import EmulatorSettings

log = logging.getLogger(__name__)

API_PREFIX = "/v2"
FEED_PATH = "/feed"
ORDER_UPDATE_PATH = "/order-update"
START_TIMEOUT_S = 30.0
T = TypeVar("T")


def _limit_group(method: str, group: str) -> str | None:
    if group == "orders" and method in ("POST", "PUT", "DELETE"):
        return "orders"
    if group == "charts":
        return "data"
    if group == "marketfeed":
        return "quotes"
    if group == "optionchain":
        return None  # per unique request, in the handler
    return "other"


def _check_gateway(em: Emulator, request: web.Request, group: str) -> None:
    settings = em.settings
    if em.faults.token_expired or request.headers.get("access-token") != \
            settings.access_token or request.headers.get("client-id") != settings.client_id:
        raise DhanApiError("DH-901")
    if em.faults.take_storm():
        raise DhanApiError("DH-904")
    status = em.faults.fail_status.get(group)
    if status is not None:
        raise DhanApiError("DH-908", status=status)


@web.middleware
async def dhan_gateway(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    em = request.app[EMULATOR]
    group = request.path[len(API_PREFIX) + 1:].split("/", 1)[0]
    try:
        _check_gateway(em, request, group)
        delay = em.faults.delay_seconds.get(group)
        if delay:
            await asyncio.sleep(delay)
        limit = _limit_group(request.method, group)
        if limit is not None and not em.limits.allow(limit):
            raise DhanApiError("DH-904")
        return await handler(request)
    except DhanApiError as e:
        return error_response(e)
    except web.HTTPNotFound:
        return not_found_response(request.path, ns_from_utc(em.now()) // 1_000_000)


def create_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator``."""
    app = web.Application(middlewares=[admin.admin_errors, dhan_gateway])
    app[EMULATOR] = emulator
    app.add_routes(rest_orders.routes(API_PREFIX))
    app.add_routes(rest_market.routes(API_PREFIX))
    app.add_routes(charts.routes(API_PREFIX))
    app.add_routes(admin.routes())
    app.add_routes([web.get(FEED_PATH, emulator.feed.handle),
                    web.get(ORDER_UPDATE_PATH, emulator.updates.handle)])
    return app


class EmulatorServer:
    """An emulator on a background thread: ``with EmulatorServer(settings) as server: ...``."""

    def __init__(self, settings: EmulatorSettings,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.emulator = Emulator(settings, wall)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dhan-emulator",
                                        daemon=True)
        self._runner: web.AppRunner | None = None

    # ----- lifecycle ----------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        try:
            self.port = future.result(timeout=START_TIMEOUT_S)
        except BaseException:
            self.stop()  # e.g. the port is taken: leave no thread or loop behind
            raise
        log.info("DhanHQ emulator on %s (%s %s)", self.base_url, self.settings.underlying,
                 self.settings.day)
        return self

    async def _serve(self) -> int:
        self._runner = web.AppRunner(create_app(self.emulator), shutdown_timeout=1.0,
                                     access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.emulator.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    async def _shutdown(self) -> None:
        await self.emulator.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the server's loop (the only thread that may touch its state)."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as e:  # handed to the caller's thread
                future.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=timeout)

    # ----- addresses ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.settings.host

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def feed_url(self) -> str:
        return f"ws://{self.host}:{self.port}{FEED_PATH}"

    @property
    def order_update_url(self) -> str:
        return f"ws://{self.host}:{self.port}{ORDER_UPDATE_PATH}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}/admin"

    def client_lines(self) -> list[str]:
        """The three lines that point a ``dhanhq`` 2.3.0 script at this server."""
        return [f'ctx.get_dhan_http().base_url = "{self.base_url}"',
                f'MarketFeed.market_feed_wss = "{self.feed_url}"',
                f'order_update.order_feed_wss = "{self.order_update_url}"']
