"""Walking held contracts' bar paths quote by quote (bar mode), for the scalper.

A mixin of :class:`strategies.scalper.Scalper`, kept apart to keep each module readable.
Batched slots deliver a minute of a contract's path at once; the walk replays it instant by
instant with the broker filling in between, so fills, exits and the breaker interleave as
they would with one engine step per quote. Driven slots (bar mode taking every bar) are
handed their quotes here too.
"""

from __future__ import annotations

from typing import Any

import backtrader as bt


class PathWalk:
    """The path walk of a strategy with ``slots``, ``_slot_seen`` and ``_on_slot_tick``."""

    # Provided by the strategy (and bt.Strategy: broker, _addnotification); not defined
    # here, or they would shadow the strategy's own in the method order.
    slots: list[Any]
    _slot_seen: dict[int, int]
    broker: bt.BrokerBase

    def _deliver_slots(self, end_ns: int) -> None:
        """Driven slots: deliver the bound contracts' quotes before ``end_ns``; walk them."""
        bound = [slot for slot in self.slots if slot.bound]
        if not bound:
            return  # nothing held or ordered: no quotes to walk (most bars of a day)
        for slot in bound:
            slot.deliver_until(end_ns)
        self._walk_slot_paths()

    def _walk_slot_paths(self) -> None:
        """Batched slots: walk their new quotes instant by instant, as if one step each.

        Before each instant the broker fills on what that instant reveals and its fills are
        heard at once, so exits, fills and the breaker interleave exactly as they would with
        one engine step per quote; once more after the last, for an order decided on it.
        """
        due: list[tuple[int, int, int]] = []  # (quote time, slot number, row)
        for k, slot in enumerate(self.slots):
            end, seen = slot.delivered_index(), self._slot_seen[id(slot)]
            if slot.bound and end > seen:
                ts = slot.series.ts
                due += ((int(ts[row]), k, row) for row in range(seen + 1, end + 1))
        if not due:
            return
        due.sort()
        start = 0
        while start < len(due):
            stop = start
            while stop < len(due) and due[stop][0] == due[start][0]:
                self.slots[due[stop][1]].reveal(due[stop][2])
                stop += 1
            self._settle_fills()
            for _, k, row in due[start:stop]:
                slot = self.slots[k]
                if slot.bound and row > self._slot_seen[id(slot)]:
                    self._slot_seen[id(slot)] = row
                    self._on_slot_tick(slot, row)
            start = stop
        self._settle_fills()

    def _settle_fills(self) -> None:
        """Have the broker fill on the quotes revealed so far and deliver its notices now."""
        broker = self.broker
        if broker.has_pending_orders:
            broker.next()
        while (order := broker.get_notification()) is not None:
            self._addnotification(order, quicknotify=True)
