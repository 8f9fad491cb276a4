"""Operator controls of a running paper/live process: the kill switch and shutdown.

The kill switch lives in a file (``paper.kill_file``) so it survives restarts:
``python main.py mode=kill`` writes it, and so do ``POST /kill`` on the health server and
SIGUSR1. A running process polls the file; once engaged, the strategy flattens everything
(exit tag ``kill_switch``) and takes no entries for the rest of the process. Removing the
file (``mode=kill paper.kill_release=true``) re-arms the *next* start; a running process
stays killed.

Shutdown (SIGINT/SIGTERM) stops entries at once and, with ``paper.flatten_on_shutdown``,
flattens before the engine stops; otherwise the positions are kept and the next start
resumes them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from core.clock import Clock, to_ist
from runtime.threads import Worker

log = logging.getLogger(__name__)


def engage_kill_file(path: Path, source: str, reason: str, at: datetime) -> None:
    """Write the kill file atomically (an operator tool or a process may read it any time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps({"at": at.isoformat(), "source": source, "reason": reason}))
    temp.replace(path)


def release_kill_file(path: Path) -> bool:
    """Remove the kill file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def read_kill_file(path: Path) -> dict[str, str] | None:
    """The kill file's content, None when absent; an unreadable file still means killed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        return {"source": "file", "reason": f"unreadable kill file: {e}"}
    try:
        data = json.loads(text)
    except ValueError:
        return {"source": "file", "reason": text.strip()[:200] or "kill file present"}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {
        "source": "file", "reason": str(data)}


class OperatorControls:
    """Kill switch and shutdown state, shared by the threads that set and read it.

    Implements the strategy's :class:`~strategies.resume.OperatorView`.
    """

    def __init__(self, kill_file: Path, clock: Clock, flatten_on_shutdown: bool) -> None:
        self.kill_file = kill_file
        self._clock = clock
        self.flatten_on_shutdown = flatten_on_shutdown
        self._kill = threading.Event()
        self._shutdown = threading.Event()
        self.kill_info: dict[str, str] = {}
        self.shutdown_reason = ""
        self.strategy: object | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- OperatorView ---------------------------------------------------------------------------
    @property
    def kill_requested(self) -> bool:
        return self._kill.is_set()

    @property
    def flatten_requested(self) -> bool:
        return self.flatten_on_shutdown and self._shutdown.is_set()

    @property
    def entries_stopped(self) -> bool:
        return self._shutdown.is_set()

    @property
    def keep_open_on_stop(self) -> bool:
        # A stop before the session's end keeps what is open for the next start to resume.
        return self._shutdown.is_set()

    def attach(self, strategy: object) -> None:
        self.strategy = strategy

    # -- commands -------------------------------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every command (e.g. to wake a waiting engine)."""
        self._listeners.append(listener)

    def kill(self, source: str, reason: str) -> None:
        """Engage the kill switch: persist it, then tell the strategy."""
        if not self.kill_file.exists():
            engage_kill_file(self.kill_file, source, reason, self._clock.now())
        self._engage({"source": source, "reason": reason,
                      "at": self._clock.now().isoformat()})

    def request_shutdown(self, reason: str) -> None:
        if not self._shutdown.is_set():
            self.shutdown_reason = reason
            log.warning("shutdown requested (%s): entries stop, positions %s", reason,
                        "flattened" if self.flatten_on_shutdown else "kept")
            self._shutdown.set()
            self._notify()

    @property
    def shutdown_requested(self) -> bool:
        return self._shutdown.is_set()

    def poll_kill_file(self) -> bool:
        """Engage the kill switch if its file appeared; True when engaged."""
        if not self._kill.is_set():
            info = read_kill_file(self.kill_file)
            if info is not None:
                self._engage(info)
        return self._kill.is_set()

    def watch(self, worker: Worker, interval_s: float) -> None:
        """Poll the kill file (a supervised target)."""
        while True:
            worker.beat()
            self.poll_kill_file()
            if worker.wait(interval_s):
                return

    def _engage(self, info: dict[str, str]) -> None:
        if self._kill.is_set():
            return
        self.kill_info = info
        log.warning("KILL SWITCH engaged by %s at %s: %s", info.get("source", "?"),
                    to_ist(self._clock.now()).strftime("%H:%M:%S IST"), info.get("reason", ""))
        self._kill.set()
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
