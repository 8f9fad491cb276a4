"""What the health view shows: one JSON-able snapshot of a running session.

Read from other threads while the engine runs: it only copies (lists of dict values, floats),
never iterates the engine's dicts in place, and never calls into backtrader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from brokers.paper import PaperBroker
from core.clock import ns_from_utc, to_ist, utc_from_ns
from feeds.paced import PacedReplayStore, PaceGate
from runtime.controls import OperatorControls
from runtime.threads import ThreadSupervisor, Watchdog
from sim.clock import ReplayClock
from strategies.records import DecisionRecord


@dataclass
class RuntimeStatus:
    """The parts of a running session the health view reads; filled in as services start."""

    run_id: str
    day: date
    stale_feed_s: float
    clock: ReplayClock
    controls: OperatorControls
    threads: ThreadSupervisor
    state: str = "starting"  # starting | running | stopping | finished | failed
    store: PacedReplayStore | None = None
    gate: PaceGate | None = None
    broker: PaperBroker | None = None
    watchdog: Watchdog | None = None
    last_decision: DecisionRecord | None = None
    breaker_latched: bool = False
    notes: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The ``/health`` document."""
        now = self.clock.now()
        strategy = self.controls.strategy
        positions, realised, unrealised = _positions(strategy)
        latched = bool(getattr(strategy, "breaker_latched", False)) or self.breaker_latched
        return {
            "run_id": self.run_id, "day": self.day.isoformat(), "state": self.state,
            "replay_time": to_ist(now).isoformat(timespec="seconds"),
            "speed": "max" if self.clock.is_max else self.clock.speed,
            "feeds": self._feeds(ns_from_utc(now)),
            "broker": self._broker(),
            "breaker": {"latched": latched},
            "kill_switch": {"engaged": self.controls.kill_requested,
                            **self.controls.kill_info},
            "shutdown": {"requested": self.controls.shutdown_requested,
                         "reason": self.controls.shutdown_reason},
            "positions": positions,
            "day_pnl": {"realised": round(realised, 2), "unrealised": round(unrealised, 2),
                        "total": round(realised + unrealised, 2)},
            "last_decision": _decision(self.last_decision),
            "threads": self.threads.snapshot(),
            "restarts": self.watchdog.restarts() if self.watchdog is not None else {},
            "notes": list(self.notes),
        }

    def _feeds(self, now_ns: int) -> list[dict[str, Any]]:
        store, gate = self.store, self.gate
        if store is None or gate is None:
            return []
        delivered = min(gate.published_ns, now_ns)  # what the market data has brought
        subscribed = [(store.book.index_id, store.underlying)]
        bound = [s.contract for s in list(store.slot_feeds)]  # read once: the engine rebinds
        subscribed += [(c.security_id, c.symbol) for c in bound if c is not None]
        out = []
        for security_id, name in subscribed:
            last = store.last_tick_ns(security_id, delivered)
            age = None if last is None else max(now_ns - last, 0) / 1e9
            out.append({"security_id": security_id, "name": name,
                        "last_tick": None if last is None else
                        to_ist(utc_from_ns(last)).isoformat(timespec="seconds"),
                        "age_s": None if age is None else round(age, 3),
                        "stale": age is None or age > self.stale_feed_s})
        return out

    def _broker(self) -> dict[str, Any]:
        broker = self.broker
        if broker is None:
            return {"name": "paper", "connected": False}
        return {"name": getattr(broker, "broker_name", "paper"), "connected": broker.connected,
                "cash": round(broker.getcash(), 2),
                "open_orders": [vars(o) for o in broker.open_orders()]}


def _positions(strategy: object) -> tuple[list[dict[str, Any]], float, float]:
    book = getattr(strategy, "book", None)
    if book is None:
        return [], 0.0, 0.0
    held = list(book.positions.values())
    out = []
    for position in held:
        state = position.state
        mark = position.mark
        out.append({
            "key": position.key, "symbol": position.contract.symbol,
            "status": "pending" if state is None else ("exiting" if position.exit else "active"),
            "quantity": position.filled_qty - position.exit_qty,
            "entry_price": None if state is None else round(position.entry_price, 4),
            "mark": None if math.isnan(mark) else mark,
            "hwm": None if state is None else state.hwm,
            "breakeven_locked": bool(state and state.breakeven_locked),
            "unrealised": round(position.unrealised(), 2)})
    return out, float(book.realised), float(sum(p.unrealised() for p in held))


def _decision(record: DecisionRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"at": to_ist(record.at).isoformat(timespec="seconds"), "kind": record.kind,
            "taken": record.taken, "reason": record.reason, "symbol": record.symbol}
