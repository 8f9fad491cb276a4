"""The paced replay's market-data connection: publishes replay time to the engine.

Live, a WebSocket thread receives ticks and the engine reads them; here the ticks are already
in memory, so what the "connection" delivers is *time*: this thread publishes the replay
clock to the :class:`~feeds.paced.PaceGate` as it passes, often enough that the health
view's feed ages stay fresh and promptly when the engine's next item falls due. If it stops
(a stall), the engine waits and every feed turns stale, exactly like a dead feed; the
watchdog then restarts it.
"""

from __future__ import annotations

import logging
import threading

from core.clock import ns_from_utc, utc_from_ns
from feeds.paced import PaceGate
from runtime.threads import Worker
from sim.clock import ReplayClock

log = logging.getLogger(__name__)


class FeedPump:
    """Publishes replay time to ``gate`` (see the module docstring); :meth:`run` is a target."""

    def __init__(self, clock: ReplayClock, gate: PaceGate, max_wait_s: float,
                 freshness_s: float) -> None:
        self._clock = clock
        self._gate = gate
        self._max_wait_s = max_wait_s
        self._freshness_s = freshness_s  # publish at least this often in replay time
        self.stall_next = threading.Event()  # fault knob: the next loop hangs (tests, demos)

    def run(self, worker: Worker) -> None:
        while not worker.stopping:
            worker.beat()
            if self.stall_next.is_set():
                self.stall_next.clear()
                log.warning("%s: stalled (fault knob)", worker.name)
                while not worker.wait(0.02):
                    pass  # hung: no heartbeat, no publishing, until told to stop
                return
            worker.wait(self._interval())
            self._gate.publish(ns_from_utc(self._clock.now()))

    def _interval(self) -> float:
        speed = self._clock.speed or 1.0
        interval = min(self._max_wait_s, self._freshness_s / speed)
        due = self._gate.next_due_ns
        if due is not None and due > self._gate.published_ns:
            interval = min(interval, self._clock.seconds_until(utc_from_ns(due)))
        return max(interval, 0.0)
