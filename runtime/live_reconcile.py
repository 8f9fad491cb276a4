"""Periodic reconciliation during a live session: Dhan's net positions against the broker's.

At start, lots Dhan holds beyond the journal are adopted (:mod:`runtime.adoption`). During the
session this thread compares Dhan's positions with what the engine's broker believes it holds
every ``live.reconcile_s`` seconds. A difference seen on two checks in a row (one check may
race an order in flight) is an ALERT in the log and on the health page: a human decides,
because selling or buying on a reconciliation guess could double a loss. A failed positions
call is logged and skipped; it never touches the engine, so exits never wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.errors import BrokerError
from runtime.threads import Worker

log = logging.getLogger(__name__)


def position_mismatches(broker_positions: Iterable[Mapping[str, Any]],
                        held: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Security id -> (Dhan's net quantity, ours) wherever the two differ."""
    dhan: dict[int, int] = {}
    for row in broker_positions:
        sid = int(row.get("securityId") or 0)
        dhan[sid] = dhan.get(sid, 0) + int(row.get("netQty") or 0)
    return {sid: (dhan.get(sid, 0), held.get(sid, 0))
            for sid in sorted(set(dhan) | set(held))
            if dhan.get(sid, 0) != held.get(sid, 0)}


class PositionWatch:
    """The reconciliation thread's state: what differed last time, what was alerted."""

    def __init__(self, positions: Callable[[], list[dict[str, Any]]],
                 held: Callable[[], dict[int, int]], notes: list[str]) -> None:
        self._positions = positions
        self._held = held
        self._notes = notes
        self._last: dict[int, tuple[int, int]] = {}
        self.checks = 0

    def check(self) -> dict[int, tuple[int, int]]:
        """One comparison; the differences seen twice in a row (alerted)."""
        try:
            found = position_mismatches(self._positions(), self._held())
        except BrokerError as e:
            log.warning("reconciliation skipped: Dhan positions unavailable (%s)", e)
            return {}
        self.checks += 1
        lasting = {sid: q for sid, q in found.items() if self._last.get(sid) == q}
        self._last = found
        for sid, (dhan, ours) in lasting.items():
            text = (f"ALERT: security {sid}: Dhan holds {dhan}, the engine {ours}; "
                    "check the Dhan app and close or adopt (restart) by hand")
            log.error("%s", text)
            if text not in self._notes:
                self._notes.append(text)
        return lasting

    def run(self, worker: Worker, interval_s: float) -> None:
        while not worker.wait(interval_s):
            worker.beat()
            self.check()
