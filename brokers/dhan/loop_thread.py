"""An asyncio connection loop on its own thread: the shared shell of the Dhan stream clients.

Subclasses supply ``_supervise`` (the reconnecting coroutine, which must create ``self._stop``
first), ``_connection_counts`` and ``_on_loop_closed``; start, stop from any thread and
waiting for a connection are the same for every stream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any


class LoopThread:
    """Runs ``_supervise`` on a private event loop in a named background thread."""

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect on a background thread (returns at once; see :meth:`wait_connected`)."""
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wait_connected(self, connects: int = 1, timeout_s: float = 5.0) -> bool:
        """True once the stream has connected ``connects`` times and is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            connected, count = self._connection_counts()
            if connected and count >= connects:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._supervise())
        finally:
            self._loop.close()
            self._on_loop_closed()

    async def _supervise(self) -> None:
        raise NotImplementedError

    def _connection_counts(self) -> tuple[bool, int]:
        raise NotImplementedError

    def _on_loop_closed(self) -> None:
        raise NotImplementedError

    async def _frames(self, ws: Any) -> AsyncIterator[str | bytes]:
        """The connection's frames until ``self._stop`` is set (then the wait is cancelled).

        A closed connection raises out of the iteration (websockets' ConnectionClosed).
        """
        stop_wait = asyncio.ensure_future(self._stop.wait())  # type: ignore[union-attr]
        try:
            while True:
                receive = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait({receive, stop_wait},
                                             return_when=asyncio.FIRST_COMPLETED)
                if stop_wait in done:
                    receive.cancel()
                    return
                yield receive.result()
        finally:
            stop_wait.cancel()
