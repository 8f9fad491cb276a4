"""Market feed v2 over WebSocket: query-string auth, JSON (un)subscribe, binary packets.

Each connection has its own outgoing queue and sender task, so a slow reader never blocks the
replay; frames past ``MAX_QUEUED_FRAMES`` are dropped for that reader (counted, logged once).
Every frame holds exactly one packet (the official client parses only the first one).
Limits: a sixth connection pushes the oldest out with disconnect code 805; more than 100
instruments in one message, or 5000 on a connection, disconnects with 804. Client binary
frames (the client's legacy 83-byte disconnect header) are ignored.

Lockstep (``EmulatorSettings.lockstep``, max speed only) is a rehearsal affordance of the
emulator; real Dhan sends and takes no such messages. After the replay publishes the rows of
an instant T, each connection that was sent a packet of it also gets the text frame
``{"Lockstep": T}`` (UTC ns), and the replay stays at T until each of them has answered
``{"LockstepAck": ns}`` with ns >= T on the same socket, or closed, or ``lockstep_timeout_s``
has passed (logged as an error). At the session close every connection gets one marker with
the close's ns. A client that never gets a marker (lockstep off) never acks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from brokers.dhan.parsing import (
    MAX_FEED_CONNECTIONS,
    MAX_INSTRUMENTS_PER_CONNECTION,
    MAX_INSTRUMENTS_PER_MESSAGE,
    SUBSCRIBE_CODES,
    UNSUBSCRIBE_CODES,
    DisconnectPacket,
    FeedRequest,
    encode_packet,
    parse_feed_request,
)
from core.errors import MalformedDataError
from sim.dhan_emulator.feed_packets import market_status_packet, mode_packets, prev_close_packet

if TYPE_CHECKING:
    from sim.dhan_emulator.emulator import Emulator

log = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 50_000
DRAINED_FRAMES = 256  # max mode waits until every reader is this close to caught up
LOCKSTEP_MARKER = "Lockstep"  # {"Lockstep": ns}: emulator -> client, after instant ns
LOCKSTEP_ACK = "LockstepAck"  # {"LockstepAck": ns}: client -> emulator, done with up to ns
_CONNECTION_NUMBERS = itertools.count(1)


def lockstep_marker(at_ns: int) -> str:
    """The text frame that closes replay instant ``at_ns`` for one connection."""
    return json.dumps({LOCKSTEP_MARKER: int(at_ns)})


def parse_lockstep_ack(text: str) -> int | None:
    """The ns of a ``{"LockstepAck": ns}`` message; None if ``text`` is not a valid one."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or set(message) != {LOCKSTEP_ACK}:
        return None
    ns = message[LOCKSTEP_ACK]
    return ns if isinstance(ns, int) and not isinstance(ns, bool) else None


@dataclass(frozen=True)
class _Close:
    """Queue marker: close the socket (after what was queued before it)."""


@dataclass(eq=False)  # one connection is itself: compared and hashed by identity
class FeedConnection:
    request: web.Request
    ws: web.WebSocketResponse
    subs: dict[int, int] = field(default_factory=dict)  # security id -> subscribe code
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    name: str = ""
    # Lockstep: the last marker sent, the highest ack received, set while nothing is owed.
    marker_ns: int = -1
    acked_ns: int = -1
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    got_close_marker: bool = False

    def __post_init__(self) -> None:
        self.caught_up.set()
        self.acked.set()
        if not self.name:
            self.name = f"feed connection #{next(_CONNECTION_NUMBERS)} from {self.request.remote}"

    def enqueue(self, frames: list[bytes]) -> None:
        if self.queue.qsize() + len(frames) > MAX_QUEUED_FRAMES:
            if not self.dropped:
                log.warning("feed reader too slow: dropping frames")
            self.dropped += len(frames)
            return
        for frame in frames:
            self.queue.put_nowait(frame)
        if self.queue.qsize() > DRAINED_FRAMES:
            self.caught_up.clear()

    def send_marker(self, at_ns: int) -> None:
        """Queue the lockstep marker of ``at_ns`` (never dropped) and owe its ack."""
        self.queue.put_nowait(lockstep_marker(at_ns))
        self.marker_ns = max(self.marker_ns, at_ns)
        if self.acked_ns < self.marker_ns:
            self.acked.clear()

    def on_ack(self, ns: int) -> None:
        self.acked_ns = max(self.acked_ns, ns)
        if self.acked_ns >= self.marker_ns:
            self.acked.set()

    def reset_lockstep(self) -> None:
        """Forget markers and acks (the replay went back in time)."""
        self.marker_ns = self.acked_ns = -1
        self.got_close_marker = False
        self.acked.set()

    def disconnect(self, code: int | None) -> None:
        """Queue a disconnect packet with ``code`` (none if None), then the close."""
        if code is not None:
            self.queue.put_nowait(encode_packet(DisconnectPacket(0, 0, code)))
        self.queue.put_nowait(_Close())

    async def send_loop(self) -> None:
        try:
            while True:
                if self.queue.qsize() <= DRAINED_FRAMES:
                    self.caught_up.set()
                item = await self.queue.get()
                if isinstance(item, _Close):
                    await self.ws.close()
                    return
                if isinstance(item, str):
                    await self.ws.send_str(item)
                else:
                    await self.ws.send_bytes(item)
        except (ConnectionError, RuntimeError):
            return  # the peer went away; the reader side cleans up
        finally:
            self.caught_up.set()  # never keep max-speed replay waiting on a dead reader


class FeedHub:
    """All market-feed connections of the emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.em = emulator
        self.connections: list[FeedConnection] = []
        self._receivers: dict[FeedConnection, None] = {}  # sent a packet since the last take

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The WebSocket endpoint (``/feed?version=2&token=&clientId=&authType=2``)."""
        ws = web.WebSocketResponse(heartbeat=self.em.settings.ping_seconds, compress=False)
        await ws.prepare(request)
        conn = FeedConnection(request, ws)
        problem = self._auth_problem(request)
        if problem is not None:
            await ws.send_bytes(encode_packet(DisconnectPacket(0, 0, problem)))
            await ws.close()
            return ws
        if len(self.connections) >= MAX_FEED_CONNECTIONS:
            self.connections.pop(0).disconnect(805)
        self.connections.append(conn)
        sender = asyncio.create_task(conn.send_loop())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_request(conn, msg.data)
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
            sender.cancel()
            conn.acked.set()  # a closed connection owes no ack
        return ws

    def _auth_problem(self, request: web.Request) -> int | None:
        query, settings = request.query, self.em.settings
        if query.get("version") != "2" or query.get("authType") != "2":
            return 814
        if query.get("clientId") != settings.client_id:
            return 810
        if query.get("token") != settings.access_token:
            return 809
        if self.em.faults.token_expired:
            return 807
        return None

    def _on_request(self, conn: FeedConnection, text: str) -> None:
        if LOCKSTEP_ACK in text:  # not Dhan's: answered before the request parser sees it
            ack = parse_lockstep_ack(text)
            if ack is None:
                log.info("ignoring a bad lockstep ack: %s", text[:200])
            else:
                conn.on_ack(ack)
            return
        try:
            request = parse_feed_request(text)
        except MalformedDataError as e:
            log.info("ignoring a bad feed request: %s", e)
            return
        if request.code == FeedRequest.DISCONNECT:
            conn.disconnect(None)
        elif request.code in SUBSCRIBE_CODES:
            self._subscribe(conn, request.code, request.instruments)
        elif request.code in UNSUBSCRIBE_CODES:
            for _, sid in request.instruments:
                conn.subs.pop(sid, None)
        else:
            log.info("ignoring feed request code %s", request.code)

    def _subscribe(self, conn: FeedConnection, code: int,
                   instruments: tuple[tuple[str, int], ...]) -> None:
        new = {sid for _, sid in instruments} - set(conn.subs)
        if len(instruments) > MAX_INSTRUMENTS_PER_MESSAGE or \
                len(conn.subs) + len(new) > MAX_INSTRUMENTS_PER_CONNECTION:
            conn.disconnect(804)
            return
        market, now_ns = self.em.market, self.em.now_ns()
        for segment, sid in instruments:
            instrument = market.instrument(sid)
            if instrument is None or instrument.segment != segment:
                log.info("feed: unknown instrument %s %s, not subscribed", segment, sid)
                continue
            conn.subs[sid] = code
            prev_close, prev_oi = market.prev_close(sid)
            frames = [prev_close_packet(instrument, prev_close, prev_oi)]
            snap = market.snapshot(sid, now_ns)
            if snap is not None and not self.em.faults.feed_stalled(sid):
                frames += mode_packets(code, instrument, snap)
            conn.enqueue(frames)

    # ----- called by the replay engine and the admin endpoint -----------------------------

    def subscribed_ids(self) -> set[int]:
        return {sid for conn in self.connections for sid in conn.subs}

    def publish(self, security_id: int, at_ns: int) -> None:
        """Send ``security_id``'s state at ``at_ns`` to every subscriber (unless stalled)."""
        if self.em.faults.feed_stalled(security_id):
            return
        snap = self.em.market.snapshot(security_id, at_ns)
        instrument = self.em.market.instrument(security_id)
        if snap is None or instrument is None:
            return
        by_mode: dict[int, list[bytes]] = {}
        for conn in self.connections:
            mode = conn.subs.get(security_id)
            if mode is None:
                continue
            if mode not in by_mode:
                by_mode[mode] = mode_packets(mode, instrument, snap)
            conn.enqueue(by_mode[mode])
            self._receivers[conn] = None

    def take_receivers(self) -> list[FeedConnection]:
        """Connections :meth:`publish` sent packets to since the last call (in order)."""
        found, self._receivers = list(self._receivers), {}
        return found

    def has_subscriptions(self) -> bool:
        return any(conn.subs for conn in self.connections)

    def reset_lockstep(self) -> None:
        for conn in self.connections:
            conn.reset_lockstep()

    async def lockstep(self, at_ns: int, receivers: list[FeedConnection],
                       timeout_s: float) -> None:
        """Send each receiver the marker of ``at_ns``; wait for their acks (or closes).

        A connection silent past ``timeout_s`` is logged as an error and no longer waited for.
        """
        live = [conn for conn in receivers if conn in self.connections]
        for conn in live:
            conn.send_marker(at_ns)
        waits = {conn: asyncio.ensure_future(conn.acked.wait()) for conn in live
                 if not conn.acked.is_set()}
        if not waits:
            return
        _, late = await asyncio.wait(waits.values(), timeout=timeout_s)
        for task in late:
            task.cancel()
        for conn, task in waits.items():
            if task in late:
                log.error("lockstep: %s did not ack %d within %.1f s; replay goes on",
                          conn.name, at_ns, timeout_s)

    def broadcast_market_status(self) -> None:
        for conn in self.connections:
            conn.enqueue([market_status_packet()])

    def disconnect_all(self, code: int | None) -> int:
        """Disconnect every connection (with a disconnect packet when ``code``); how many."""
        closing, self.connections = self.connections, []
        for conn in closing:
            conn.disconnect(code)
        return len(closing)

    def drop_all(self) -> int:
        """Cut every connection at the transport, with no packet and no close handshake."""
        closing, self.connections = self.connections, []
        for conn in closing:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        return len(closing)

    def drop_instrument(self, security_id: int) -> int:
        """Forget ``security_id`` on every connection, silently; how many had it."""
        count = 0
        for conn in self.connections:
            if conn.subs.pop(security_id, None) is not None:
                count += 1
        return count

    async def drained(self) -> None:
        """Wait until every reader has at most ``DRAINED_FRAMES`` frames queued."""
        for conn in list(self.connections):
            await conn.caught_up.wait()
