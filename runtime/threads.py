"""Every thread of a long-lived run is started here: named, heartbeated, crash-logged, joined.

:meth:`ThreadSupervisor.spawn` is the only way the runtime starts a thread. The target gets
its :class:`Worker`, beats :meth:`Worker.beat` as it makes progress and leaves when
:attr:`Worker.stopping` turns true (sleeping through :meth:`Worker.wait`, which a stop cuts
short). An exception is logged with its traceback and recorded on the worker, never lost.
:class:`Watchdog` restarts a restartable worker (the market-data feed) that died or went
silent, with a growing backoff, and reports the others.

Heartbeats are wall time (``time.monotonic``): they measure whether a thread is alive, not
market time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Target = Callable[["Worker"], None]


class Worker:
    """One supervised thread: its heartbeat, failure and stop flag."""

    def __init__(self, name: str, target: Target, shutdown: threading.Event,
                 wall: Callable[[], float]) -> None:
        self.name = name
        self._target = target
        self._shutdown = shutdown
        self._own_stop = threading.Event()
        self._wall = wall
        self.last_beat = wall()
        self.failed = False
        self.error = ""
        self.finished = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._own_stop.is_set() or self._shutdown.is_set()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def beat(self) -> None:
        self.last_beat = self._wall()

    def heartbeat_age(self) -> float:
        return max(self._wall() - self.last_beat, 0.0)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (cut short by a stop); True when stopping."""
        if seconds > 0:
            self._own_stop.wait(seconds)
        return self.stopping

    def stop(self) -> None:
        self._own_stop.set()

    def _run(self) -> None:
        self.beat()
        try:
            self._target(self)
        except Exception as e:  # a thread must never die silently
            self.failed = True
            self.error = f"{type(e).__name__}: {e}"
            log.exception("thread %s crashed", self.name)
        finally:
            self.finished = True


class ThreadSupervisor:
    """Starts, tracks and joins the run's threads (see the module docstring)."""

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self.shutdown = threading.Event()
        self.wall = wall
        self._lock = threading.Lock()
        self.workers: list[Worker] = []

    def spawn(self, name: str, target: Target) -> Worker:
        """Start ``target`` in a thread called ``name``."""
        worker = Worker(name, target, self.shutdown, self.wall)
        with self._lock:
            self.workers.append(worker)
        worker.thread.start()
        log.info("thread %s started", name)
        return worker

    def stop(self, timeout_s: float = 5.0) -> list[str]:
        """Ask every thread to stop and join each; returns the names still running."""
        self.shutdown.set()
        with self._lock:
            workers = list(self.workers)
        deadline = self.wall() + timeout_s
        stuck = []
        for worker in workers:
            worker.stop()
            worker.thread.join(max(deadline - self.wall(), 0.0))
            if worker.alive:
                stuck.append(worker.name)
        if stuck:
            log.error("threads still running after %.1f s: %s", timeout_s, ", ".join(stuck))
        return stuck

    def snapshot(self) -> list[dict[str, object]]:
        """Name, liveness, heartbeat age and failure of every thread (for the health view)."""
        with self._lock:
            workers = list(self.workers)
        return [{"name": w.name, "alive": w.alive, "heartbeat_age_s": round(w.heartbeat_age(), 3),
                 "failed": w.failed, "error": w.error} for w in workers]


@dataclass
class _Watched:
    worker: Worker
    target: Target
    restarts: int = 0
    next_try: float = 0.0


class Watchdog:
    """Restarts watched workers that died or whose heartbeat is older than ``stall_s``."""

    def __init__(self, supervisor: ThreadSupervisor, stall_s: float,
                 backoff_s: float = 0.1, max_backoff_s: float = 10.0) -> None:
        self._supervisor = supervisor
        self.stall_s = stall_s
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._watched: dict[str, _Watched] = {}
        self._lock = threading.Lock()

    def watch(self, worker: Worker, target: Target) -> None:
        """Restart ``worker`` with ``target`` when it stalls or dies."""
        with self._lock:
            self._watched[worker.name.split("#")[0]] = _Watched(worker, target)

    def restarts(self) -> dict[str, int]:
        with self._lock:
            return {name: w.restarts for name, w in self._watched.items()}

    def current(self, name: str) -> Worker:
        with self._lock:
            return self._watched[name].worker

    def check(self, now: float) -> list[str]:
        """One pass: restart what is stalled or dead (backoff permitting); names restarted."""
        restarted = []
        with self._lock:
            items = list(self._watched.items())
        for name, watched in items:
            worker = watched.worker
            stalled = worker.heartbeat_age() > self.stall_s
            if not (stalled or not worker.alive) or self._supervisor.shutdown.is_set():
                continue
            if now < watched.next_try:
                continue
            why = "died" if not worker.alive else f"silent for {worker.heartbeat_age():.1f} s"
            log.warning("restarting %s: %s (restart %d)", name, why, watched.restarts + 1)
            worker.stop()  # a stalled thread leaves when it wakes; it is not joined here
            watched.restarts += 1
            delay = min(self._backoff_s * 2 ** (watched.restarts - 1), self._max_backoff_s)
            watched.next_try = now + delay
            watched.worker = self._supervisor.spawn(f"{name}#{watched.restarts + 1}",
                                                    watched.target)
            restarted.append(name)
        return restarted

    def run(self, worker: Worker, interval_s: float) -> None:
        """The watchdog's own loop (a supervised target)."""
        while not worker.wait(interval_s):
            worker.beat()
            self.check(self._supervisor.wall())
