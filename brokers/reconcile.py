"""Restart reconciliation: the journal's orders and positions against the broker's fills.

Pure: records in, corrections and the lots to resume out. The broker's view is its fills
ledger (a paper broker's own book now; Dhan's trade book later). Rules:

- an order the journal still calls live (``TRANSIT``/``PENDING``/``PART_TRADED``) is final
  after a restart: ``TRADED`` if its fills cover it, ``CANCELLED`` for the unfilled rest of a
  partly filled or acknowledged order, ``REJECTED`` if it was never acknowledged. None is
  ever sent again: a new decision makes a new order.
- a position whose entry never filled is ``cancelled``; one whose fills net to zero was sold
  out before the stop and still needs its trade recorded (``closed``); the others are
  ``held`` and resumed (a ``pending`` one that filled becomes ``active``).
- broker lots without a journalled position are adopted (their stops apply), never ignored;
  what cannot be explained (sells without a position, more sold than bought, fills of an
  unknown order) raises :class:`~core.errors.ReconciliationError` for a human.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.errors import ReconciliationError
from strategies.records import FillRecord, OrderRecord, PositionRecord, TradeRecord

FINAL_ORDER_STATUSES = frozenset({"TRADED", "REJECTED", "CANCELLED", "EXPIRED"})


class JournalledOrder(Protocol):
    """An order as journalled, with its latest status (``reports.journal.JournalOrder``)."""

    @property
    def record(self) -> OrderRecord: ...

    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Correction:
    """A status the journal must record: ``target`` is "order" or "position"."""

    target: str
    key: str  # correlation id or position key
    status: str
    detail: str


@dataclass(frozen=True)
class Lot:
    """One position with the fills that built (and partly unwound) it."""

    position: PositionRecord
    entry_order: OrderRecord | None
    exit_order: OrderRecord | None  # the latest exit order journalled for it
    entry_fills: tuple[FillRecord, ...]
    exit_fills: tuple[FillRecord, ...]

    @property
    def held(self) -> int:
        return (sum(f.quantity for f in self.entry_fills)
                - sum(f.quantity for f in self.exit_fills))


@dataclass(frozen=True)
class Reconciliation:
    corrections: tuple[Correction, ...]
    held: tuple[Lot, ...]  # resume managing these
    closed: tuple[Lot, ...]  # sold out before the restart: record their trades


def resolve_orders(orders: Sequence[JournalledOrder],
                   filled: dict[str, int]) -> list[Correction]:
    """Final statuses for the orders the journal still calls live (see the module doc)."""
    out = []
    for order in orders:
        if order.status in FINAL_ORDER_STATUSES:
            continue
        key, quantity = order.record.correlation_id, order.record.quantity
        done = filled.get(key, 0)
        if done >= quantity:
            out.append(Correction("order", key, "TRADED", "filled before the restart"))
        elif done:
            out.append(Correction("order", key, "CANCELLED",
                                  f"{done} of {quantity} filled before the restart; the rest "
                                  "cancelled, not sent again"))
        elif order.status == "TRANSIT":
            out.append(Correction("order", key, "REJECTED",
                                  "never acknowledged before the restart; not sent again"))
        else:
            out.append(Correction("order", key, "CANCELLED",
                                  f"{order.status} at the broker when it stopped; cancelled, "
                                  "not sent again"))
    return out


def reconcile(orders: Sequence[JournalledOrder], fills: Sequence[FillRecord],
              positions: Sequence[PositionRecord],
              trades: Sequence[TradeRecord]) -> Reconciliation:
    """Compare the journal with the fills ledger (all of one run, fills in time order)."""
    by_key = {o.record.correlation_id: o.record for o in orders}
    fills_of: dict[str, list[FillRecord]] = defaultdict(list)
    for fill in fills:
        if fill.correlation_id not in by_key:
            raise ReconciliationError(f"fill of {fill.quantity} for unjournalled order "
                                      f"{fill.correlation_id}")
        fills_of[fill.correlation_id].append(fill)
    corrections = resolve_orders(orders, {k: sum(f.quantity for f in v)
                                          for k, v in fills_of.items()})
    traded = {t.entry_correlation_id for t in trades} | {t.exit_correlation_id for t in trades}
    untraded_exits: dict[int, list[OrderRecord]] = defaultdict(list)
    for order in by_key.values():
        if order.purpose == "exit" and order.correlation_id not in traded:
            untraded_exits[order.security_id].append(order)
    known = {p.position_key for p in positions}
    held: list[Lot] = []
    closed: list[Lot] = []
    claimed: set[str] = set()
    for position in _open_or_untraded(positions, traded):
        exits = untraded_exits.get(position.security_id, [])
        lot = Lot(position, by_key.get(position.position_key), exits[-1] if exits else None,
                  tuple(fills_of.get(position.position_key, ())),
                  tuple(f for e in exits for f in fills_of.get(e.correlation_id, ())))
        claimed |= {e.correlation_id for e in exits} | {position.position_key}
        _sort_lot(lot, corrections, held, closed)
    for order in by_key.values():
        if (order.purpose == "entry" and order.correlation_id not in known | traded
                and fills_of.get(order.correlation_id)):
            lot = _adopted(order, fills_of[order.correlation_id])
            corrections.append(Correction("position", order.correlation_id, "active",
                                          "adopted: broker lot without a journal position"))
            claimed.add(order.correlation_id)
            held.append(lot)
    known_ids = {p.security_id for p in positions} | {t.security_id for t in trades}
    _check_all_claimed(fills_of, claimed, traded, known_ids)
    return Reconciliation(tuple(corrections), tuple(held), tuple(closed))


def _open_or_untraded(positions: Sequence[PositionRecord],
                      traded: set[str]) -> list[PositionRecord]:
    """Open positions, and exited ones whose trade was not recorded before the stop."""
    return [p for p in positions if p.status in ("pending", "active")
            or (p.status == "exited" and p.position_key not in traded)]


def _sort_lot(lot: Lot, corrections: list[Correction], held: list[Lot],
              closed: list[Lot]) -> None:
    key = lot.position.position_key
    if lot.held < 0:
        raise ReconciliationError(f"position {key}: {-lot.held} more sold than bought")
    if not lot.entry_fills:
        if lot.position.status != "cancelled":
            corrections.append(Correction("position", key, "cancelled",
                                          "entry never filled before the restart"))
        return
    if lot.held == 0:
        closed.append(lot)
        return
    if lot.position.status == "exited":
        raise ReconciliationError(f"position {key} is journalled exited but {lot.held} "
                                  "are still held")
    if lot.position.status == "pending":
        corrections.append(Correction("position", key, "active",
                                      "entry filled before the restart"))
    held.append(lot)


def _adopted(order: OrderRecord, fills: list[FillRecord]) -> Lot:
    quantity = sum(f.quantity for f in fills)
    position = PositionRecord(order.correlation_id, fills[0].at, "active", order.security_id,
                              order.symbol, quantity)
    return Lot(position, order, None, tuple(fills), ())


def _check_all_claimed(fills_of: dict[str, list[FillRecord]], claimed: set[str],
                       traded: set[str], known_ids: set[int]) -> None:
    """Every fill must belong to a position; sells of a contract never held are a mystery.

    (Fills of an earlier position of the same contract, e.g. a partial exit completed by a
    later order, are explained by that position's trade.)
    """
    for key, fills in fills_of.items():
        sid = fills[0].security_id
        if key not in claimed and key not in traded and sid not in known_ids:
            raise ReconciliationError(f"fills of order {key} (security {sid}) belong to no "
                                      "position")
