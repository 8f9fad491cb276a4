"""Shared parts of the emulator tests: a small synthetic catalog, a server per test, the real
``dhanhq`` client pointed at it, bounded feed/update readers, and a structural comparator.

Every wait here has a timeout and every client loop is closed in a ``finally``, so a broken
emulator fails a test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
import requests

from core.calendar import TradingCalendar
from core.clock import ist_to_utc
from core.config import AppConfig
from core.config_check import compose_config
from feeds.catalog import Catalog
from sim.dhan_emulator import EmulatorServer, EmulatorSettings
from sim.market import write_days

DAY = date(2024, 10, 9)
PREVIOUS_DAY = date(2024, 10, 8)
INDEX_ID = 13
TEN_AM = ist_to_utc(DAY, dtime(10, 0))
CASSETTES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata"
             / "dhan_api_cassettes")
WAIT_S = 5.0


_CATALOGS: dict[int, Path] = {}


def shared_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic NIFTY days (5 s ticks, few strikes): the replayed day and the one before.

    Built once per test session (memoised on the session's temp-path factory).
    """
    key = id(tmp_path_factory)
    if key not in _CATALOGS:
        app = _app()
        sim = dataclasses.replace(app.sim, tick_seconds=5.0, strikes_each_side=2)
        root = tmp_path_factory.mktemp("emulator_catalog")
        write_days(Catalog(root), app.index, sim, TradingCalendar(app.data.extra_sessions),
                   [PREVIOUS_DAY, DAY])
        _CATALOGS[key] = root
    return _CATALOGS[key]


@functools.cache
def _app() -> AppConfig:
    return compose_config(["index=nifty"])


def make_settings(root: Path, **overrides: Any) -> EmulatorSettings:
    """Paused at 10:00 IST on DAY, pace 1x, real charges; override anything."""
    app = _app()
    base: dict[str, Any] = {
        "catalog_root": str(root), "underlying": "NIFTY", "day": DAY,
        "index_security_id": INDEX_ID, "speed": 1, "start_at": TEN_AM, "start_paused": True,
        "charges": app.broker.charges, "extra_sessions": tuple(app.data.extra_sessions)}
    base.update(overrides)
    return EmulatorSettings(**base)


@contextmanager
def serve(tmp_path_factory: pytest.TempPathFactory, **overrides: Any
          ) -> Iterator[EmulatorServer]:
    """A running emulator on the shared catalog (see :func:`make_settings`)."""
    with EmulatorServer(make_settings(shared_catalog(tmp_path_factory), **overrides)) as running:
        yield running


def dhan_client(server: EmulatorServer, timeout: float = WAIT_S, token: str | None = None,
                client_id: str | None = None) -> Any:
    """The official client with its base URL pointed at ``server`` (line 1 of 3)."""
    from dhanhq import DhanContext, dhanhq

    ctx = DhanContext(client_id or server.settings.client_id,
                      token or server.settings.access_token)
    ctx.get_dhan_http().base_url = server.base_url
    ctx.get_dhan_http().timeout = timeout
    return dhanhq(ctx)


def admin(server: EmulatorServer, path: str, body: dict | None = None) -> dict[str, Any]:
    url = f"{server.admin_url}/{path}"
    if body is None and path == "state":
        response = requests.get(url, timeout=WAIT_S)
    else:
        response = requests.post(url, json=body or {}, timeout=WAIT_S)
    assert response.status_code == 200, response.text
    return response.json()


def quoted_options(server: EmulatorServer) -> list[Any]:
    """Option instruments with a two-sided quote at the current replay time, by strike."""
    def pick() -> list[Any]:
        market, at = server.emulator.market, server.emulator.now_ns()
        found = []
        for inst in market.instruments.values():
            snap = market.snapshot(inst.security_id, at)
            if inst.is_option and snap is not None and snap.ask == snap.ask and snap.ask > 0:
                found.append(inst)
        return sorted(found, key=lambda i: (i.strike, i.option_type))
    return server.call(pick)


def wait_until(check: Callable[[], bool], timeout: float = WAIT_S,
               step: Callable[[], None] | None = None) -> bool:
    """Poll ``check`` (running ``step`` between polls) until true or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if step is not None:
            step()
        else:
            time.sleep(0.1)  # REST polls stay under Dhan's 20 requests/s
    return check()


class FeedReader:
    """The official MarketFeed on the emulator (line 2 of 3), read with timeouts."""

    def __init__(self, server: EmulatorServer, instruments: list[tuple], token: str | None = None
                 ) -> None:
        from dhanhq import DhanContext, MarketFeed

        self._class = MarketFeed
        self._old_url = MarketFeed.market_feed_wss
        MarketFeed.market_feed_wss = server.feed_url
        ctx = DhanContext(server.settings.client_id, token or server.settings.access_token)
        self.closed = 0
        self.feed = MarketFeed(ctx, instruments, version="v2",
                               on_close=lambda _feed: self._on_close())

    def _on_close(self) -> None:
        self.closed += 1

    def __enter__(self) -> FeedReader:
        try:
            self._run(self.feed.connect())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Any, timeout: float = WAIT_S) -> Any:
        return self.feed.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def read(self, timeout: float = WAIT_S) -> Any:
        """The next decoded message (TimeoutError if none comes in time)."""
        return self._run(self.feed.get_instrument_data(), timeout)

    def read_until(self, check: Callable[[Any], bool], limit: int = 500,
                   timeout: float = WAIT_S) -> list[Any]:
        """Messages up to and including the first that passes ``check``."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < limit:
            got.append(self.read(max(deadline - time.monotonic(), 0.01)))
            if check(got[-1]):
                return got
        raise AssertionError(f"no matching message in {limit}: last {got[-3:]}")

    def silent_for(self, seconds: float) -> bool:
        """True if nothing arrives for ``seconds``."""
        try:
            self.read(seconds)
        except TimeoutError:
            return True
        return False

    def drain(self, quiet: float = 0.2, limit: int = 200) -> list[Any]:
        """Read until nothing arrives for ``quiet`` seconds; what was read."""
        got: list[Any] = []
        while len(got) < limit:
            try:
                got.append(self.read(quiet))
            except TimeoutError:
                return got
        raise AssertionError(f"the feed never went quiet: last {got[-3:]}")

    def send(self, message: dict) -> None:
        self._run(self.feed.ws.send(json.dumps(message)))

    def close(self) -> None:
        try:
            if self.feed.ws is not None:
                self._run(self.feed.ws.close(), timeout=2.0)
        except Exception:  # noqa: S110 - closing a broken socket: nothing left to do
            pass
        finally:
            self.feed.loop.close()
            asyncio.set_event_loop(None)
            self._class.market_feed_wss = self._old_url


class UpdateListener:
    """The official OrderUpdate on the emulator (line 3 of 3), its loop run in short steps."""

    def __init__(self, server: EmulatorServer, token: str | None = None) -> None:
        from dhanhq import DhanContext, OrderUpdate

        ctx = DhanContext(server.settings.client_id, token or server.settings.access_token)
        self.client = OrderUpdate(ctx)
        self.client.order_feed_wss = server.order_update_url
        self.messages: list[dict] = []
        self.client.on_update = self.messages.append
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(self.client.connect_order_update())

    def step(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0.02))

    def wait_for(self, check: Callable[[list[dict]], bool], timeout: float = WAIT_S) -> bool:
        return wait_until(lambda: check(self.messages), timeout, self.step)

    def statuses(self, order_id: str) -> list[str]:
        return [m["Data"]["Status"] for m in self.messages if m["Data"]["OrderNo"] == order_id]

    def close(self) -> None:
        self.task.cancel()
        try:
            self.loop.run_until_complete(asyncio.wait_for(self.task, 2.0))
        except BaseException:  # noqa: S110 - cancelled or closed: either way it is over
            pass
        finally:
            self.loop.close()


def listening(server: EmulatorServer, count: int = 1) -> Callable[[], bool]:
    return lambda: server.call(lambda: len(server.emulator.updates.listeners)) >= count


# ----- structural comparison with real bodies ---------------------------------------------

_STRIKE_KEY = re.compile(r"^\d+\.\d{6}$")
_ID_KEY = re.compile(r"^\d+$")


def cassette(name: str) -> Any:
    path = CASSETTES / name
    if not path.is_file():
        pytest.skip(f"real DhanHQ response bodies absent: {path}")
    return json.loads(path.read_text())


def shape(body: Any, path: str = "") -> dict[str, set[str]]:
    """Every value's generalised path -> the JSON types seen there.

    Map keys that are data (a chain's ``"24500.000000"`` strikes, quote security ids) and
    list positions collapse to ``<strike>``, ``<id>`` and ``[]``.
    """
    found: dict[str, set[str]] = {}

    def walk(value: Any, where: str) -> None:
        found.setdefault(where, set()).add(_kind(value))
        if isinstance(value, dict):
            for key, item in value.items():
                name = ("<strike>" if _STRIKE_KEY.match(key)
                        else "<id>" if _ID_KEY.match(key) else key)
                walk(item, f"{where}.{name}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{where}[]")

    walk(body, path)
    return found


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "bool" if isinstance(value, bool) else "null"
    return {int: "int", float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


def shape_differences(ours: Any, real: Any, check_types: bool = True) -> list[str]:
    """How ``ours`` differs from ``real`` in keys and JSON types (empty = same structure).

    The real API prints integral floats without ``.0`` (``"last_price": 126``), so where it
    shows floats an int is accepted too; where it shows only ints, only ints are.
    """
    mine, theirs = shape(ours), shape(real)
    problems = [f"missing {p}" for p in sorted(set(theirs) - set(mine))]
    problems += [f"extra {p}" for p in sorted(set(mine) - set(theirs))]
    if check_types:
        for path in sorted(set(mine) & set(theirs)):
            allowed = set(theirs[path]) | ({"int"} if "float" in theirs[path] else set())
            if not mine[path] <= allowed:
                problems.append(f"{path}: {sorted(mine[path])} vs real {sorted(theirs[path])}")
    return problems


def ist(hour: int, minute: int, second: int = 0) -> datetime:
    return ist_to_utc(DAY, dtime(hour, minute, second))
