"""The DhanHQ v2 market feed, supervised: reconnect with backoff, resubscribe, staleness.

Runs its own asyncio loop on one thread and talks to the WebSocket directly (``websockets``),
decoding packets with :mod:`brokers.dhan.parsing` at full float32 precision: the official
client formats prices to strings and reads only the first packet of a frame. Every decoded
packet goes to ``on_packet(packet, receive_ns)`` on the feed thread, so the callback must be
quick (queue it). A disconnect packet's code decides what happens next (see
:data:`DISCONNECT_ACTIONS`): reconnect, reconnect after a longer pause, or stop for good
(token expired or invalid: no reconnect can help; entries must stop and someone be alerted).

Lockstep is an emulator-only rehearsal affordance (real Dhan sends no such message): a
lockstep emulator follows the packets of each replay instant with a text frame
``{"Lockstep": ns}``, handed to ``on_lockstep(ns)`` on the feed thread after every packet of
the earlier frames went to ``on_packet``, and holds its replay clock until the client calls
:meth:`MarketFeedClient.ack_lockstep` with that ns. The client only acks when it got a marker,
so against real Dhan nothing is ever sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import websockets

from brokers.dhan.client import Credentials
from brokers.dhan.limits import Backoff
from brokers.dhan.loop_thread import LoopThread
from brokers.dhan.parsing import (
    FEED_ERROR_MESSAGES,
    DisconnectPacket,
    FeedRequest,
    Packet,
    decode_packet,
    split_packets,
    subscription_messages,
)
from core.config import DhanConfig
from core.errors import MalformedDataError

log = logging.getLogger(__name__)

Instrument = tuple[str, int]  # (REST segment name, security id)
PacketHandler = Callable[[Packet, int], None]
LOCKSTEP_MARKER = "Lockstep"  # the emulator's {"Lockstep": ns} text frame
LOCKSTEP_ACK = "LockstepAck"  # the client's {"LockstepAck": ns} answer
UNSUBSCRIBE = {FeedRequest.SUBSCRIBE_TICKER: FeedRequest.UNSUBSCRIBE_TICKER,
               FeedRequest.SUBSCRIBE_QUOTE: FeedRequest.UNSUBSCRIBE_QUOTE,
               FeedRequest.SUBSCRIBE_FULL: FeedRequest.UNSUBSCRIBE_FULL}


def lockstep_marker_ns(text: str) -> int | None:
    """The ns of an emulator's ``{"Lockstep": ns}`` frame; None for any other text."""
    if LOCKSTEP_MARKER not in text:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or set(message) != {LOCKSTEP_MARKER}:
        return None
    ns = message[LOCKSTEP_MARKER]
    return ns if isinstance(ns, int) and not isinstance(ns, bool) else None


class DisconnectAction(Enum):
    RECONNECT = "reconnect"
    RECONNECT_SLOWLY = "reconnect after the longest backoff"  # too many connections/requests
    STOP_AUTH = "stop: credentials"  # token expired/invalid: alert, entries stop


DISCONNECT_ACTIONS: dict[int, DisconnectAction] = {
    805: DisconnectAction.RECONNECT_SLOWLY,
    806: DisconnectAction.STOP_AUTH,
    807: DisconnectAction.STOP_AUTH,
    808: DisconnectAction.STOP_AUTH,
    809: DisconnectAction.STOP_AUTH,
    810: DisconnectAction.STOP_AUTH,
}


def disconnect_action(code: int | None) -> DisconnectAction:
    """What to do after a disconnect with ``code`` (None = dropped without a packet)."""
    return DISCONNECT_ACTIONS.get(int(code), DisconnectAction.RECONNECT) if code else \
        DisconnectAction.RECONNECT


@dataclass
class FeedStatus:
    """What the health page shows about the feed."""

    connected: bool = False
    connects: int = 0
    last_disconnect_code: int | None = None
    stopped_reason: str = ""
    bad_packets: int = 0
    history: list[str] = field(default_factory=list)


class MarketFeedClient(LoopThread):
    """A supervised market-feed connection for up to 5000 instruments."""

    def __init__(self, credentials: Credentials, on_packet: PacketHandler,
                 cfg: DhanConfig | None = None, *, url: str | None = None,
                 mode: FeedRequest = FeedRequest.SUBSCRIBE_FULL,
                 wall: Callable[[], float] = time.monotonic,
                 receive_ns: Callable[[], int] = time.time_ns,
                 on_lockstep: Callable[[int], None] | None = None) -> None:
        super().__init__("dhan-market-feed")
        self.cfg = cfg or DhanConfig()
        self._url = (f"{(url or self.cfg.feed_url).rstrip('/')}?version=2"
                     f"&token={credentials.access_token}&clientId={credentials.client_id}"
                     "&authType=2")
        self._on_packet, self._mode = on_packet, mode
        self._on_lockstep = on_lockstep
        self._wall, self._receive_ns = wall, receive_ns
        self._backoff = Backoff(self.cfg.feed_reconnect_base_s, self.cfg.feed_reconnect_cap_s,
                                self.cfg.backoff_jitter,
                                random.Random())  # noqa: S311 - jitter, not security
        self._lock = threading.Lock()
        self._subscribed: dict[Instrument, float] = {}  # -> wall time subscribed
        self._last_seen: dict[int, float] = {}
        self._ws: Any = None
        # FIFO, made per loop in _supervise: an ack never overtakes an earlier subscription
        self._send_lock: asyncio.Lock | None = None
        self.status = FeedStatus()

    # ----- control (any thread) -------------------------------------------------------------

    def subscribe(self, instruments: Iterable[Instrument]) -> None:
        """Stream these instruments from now on (kept across reconnects)."""
        new = [i for i in instruments if i not in self._subscribed]
        with self._lock:
            now = self._wall()
            for item in new:
                self._subscribed[item] = now
        self._send(subscription_messages(self._mode, new) if new else [])

    def unsubscribe(self, instruments: Iterable[Instrument]) -> None:
        gone = [i for i in instruments if i in self._subscribed]
        with self._lock:
            for item in gone:
                self._subscribed.pop(item, None)
                self._last_seen.pop(item[1], None)
        self._send(subscription_messages(UNSUBSCRIBE[self._mode], gone) if gone else [])

    def subscribed(self) -> list[Instrument]:
        with self._lock:
            return sorted(self._subscribed)

    def stale(self, now: float | None = None) -> dict[int, float]:
        """Subscribed security id -> seconds silent, for those silent over ``feed_stale_s``."""
        at = self._wall() if now is None else now
        with self._lock:
            ages = {sid: at - self._last_seen.get(sid, since)
                    for (_, sid), since in self._subscribed.items()}
        return {sid: age for sid, age in ages.items() if age > self.cfg.feed_stale_s}

    def ack_lockstep(self, ns: int) -> None:
        """Tell a lockstep emulator the client is done with replay time up to ``ns``.

        Any thread; a no-op while disconnected (the emulator stops waiting on a closed
        connection, and a reconnect starts afresh).
        """
        loop = self._loop
        if self._ws is None or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between: nothing to ack
            asyncio.run_coroutine_threadsafe(self._send_ack(int(ns)), loop)

    async def _send_ack(self, ns: int) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._send_now([{LOCKSTEP_ACK: ns}])

    def _send(self, messages: list[dict]) -> None:
        loop = self._loop
        if messages and loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._send_now(messages), loop)

    # ----- the feed thread -----------------------------------------------------------------

    def _connection_counts(self) -> tuple[bool, int]:
        return self.status.connected, self.status.connects

    def _on_loop_closed(self) -> None:
        self.status.connected = False

    async def _supervise(self) -> None:
        self._stop = asyncio.Event()
        self._send_lock = asyncio.Lock()
        attempt = 0
        while not self._stop.is_set():
            code = await self._connect_and_read()
            action = disconnect_action(code)
            self.status.history.append(f"disconnected code={code}: {action.value}")
            if action is DisconnectAction.STOP_AUTH:
                self.status.stopped_reason = (f"feed stopped: {code} "
                                              f"{FEED_ERROR_MESSAGES.get(code, '')}")
                log.error("%s; entries must stop until a new token is set",
                          self.status.stopped_reason)
                return
            delay = (self.cfg.feed_reconnect_cap_s if action is DisconnectAction.RECONNECT_SLOWLY
                     else self._backoff.delay(attempt))
            attempt = 0 if self.status.connected else attempt + 1
            self.status.connected = False
            log.warning("market feed down (code %s): reconnecting in %.2fs", code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connect_and_read(self) -> int | None:
        """One connection's life; the disconnect code it ended with (None if none)."""
        try:
            async with websockets.connect(self._url, max_size=None, ping_interval=None,
                                          open_timeout=self.cfg.timeout_s) as ws:
                self._ws = ws
                self.status.connected = True
                self.status.connects += 1
                await self._send_now(subscription_messages(self._mode, self.subscribed())
                                     if self._subscribed else [])
                return await self._read(ws)
        except (OSError, websockets.WebSocketException, TimeoutError) as e:
            log.warning("market feed connection failed: %s", e)
            return None
        finally:
            self._ws = None

    async def _read(self, ws: Any) -> int | None:
        async with contextlib.aclosing(self._frames(ws)) as frames:  # stop waiting on return
            async for frame in frames:
                code = self._on_frame(frame)
                if code is not None:
                    self.status.last_disconnect_code = code
                    return code
        await ws.close()  # stopped
        return None

    def _on_frame(self, frame: bytes | str) -> int | None:
        """Decode every packet of a frame; the disconnect code if the frame carries one."""
        if isinstance(frame, str):
            self._on_text(frame)
            return None
        received = self._receive_ns()
        try:
            chunks = split_packets(frame)
        except MalformedDataError as e:
            self.status.bad_packets += 1
            log.warning("skipped a malformed feed frame: %s", e)
            return None
        for chunk in chunks:
            try:
                packet = decode_packet(chunk)
            except MalformedDataError as e:
                self.status.bad_packets += 1
                log.warning("skipped a feed packet: %s", e)
                continue
            if isinstance(packet, DisconnectPacket):
                return packet.reason
            with self._lock:
                self._last_seen[packet.security_id] = self._wall()
            self._on_packet(packet, received)
        return None

    def _on_text(self, text: str) -> None:
        ns = lockstep_marker_ns(text)
        if ns is None:
            log.info("market feed text message: %s", text[:200])
        elif self._on_lockstep is not None:
            self._on_lockstep(ns)
        else:
            log.debug("lockstep marker %d ignored: no on_lockstep handler", ns)

    async def _send_now(self, messages: list[dict]) -> None:
        ws, lock = self._ws, self._send_lock
        if ws is None or lock is None:
            return  # sent on (re)connect from the subscription set
        async with lock:
            for message in messages:
                await ws.send(json.dumps(message))
