"""Dhan's trade book as the fills ledger that :func:`brokers.reconcile.reconcile` compares.

At start (and periodically) the live side reads the order and trade books and reconciles
them with the journal. Slices and exit re-sends carry the journalled order's correlation id
plus ``-s<n>`` / ``-r<n>``, so their fills are booked to that order. A buy Dhan filled for an
order the journal never wrote (placed by hand, or by another process) becomes a synthetic
journalled entry ``adopt-<orderId>`` so that reconciliation adopts the lot and its stops
apply: broker lots are never ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from brokers.reconcile import Reconciliation, reconcile
from core.clock import IST
from core.errors import MalformedDataError
from strategies.records import FillRecord, OrderRecord, PositionRecord, TradeRecord

_CHILD_SUFFIX = re.compile(r"-[sr]\d+$")
ADOPT_PREFIX = "adopt-"


@dataclass(frozen=True)
class KnownOrder:
    """A journalled order with its status (the reconcile module's JournalledOrder)."""

    record: OrderRecord
    status: str


def utc_from_ist_text(text: str) -> datetime:
    """``"2024-10-09 10:00:00"`` (IST, as Dhan's books write it) as a UTC datetime."""
    try:
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - IST by contract
    except (TypeError, ValueError) as e:
        raise MalformedDataError(f"bad Dhan time {text!r}: {e}") from e
    return naive.replace(tzinfo=IST).astimezone(UTC)


def parent_id(correlation_id: str, journalled: set[str]) -> str:
    """The journalled order a slice or re-send belongs to (itself if it is journalled)."""
    if correlation_id in journalled:
        return correlation_id
    parent = _CHILD_SUFFIX.sub("", correlation_id)
    return parent if parent in journalled else correlation_id


def ledger_from_books(orders: Iterable[dict[str, Any]], trades: Iterable[dict[str, Any]],
                      journalled: set[str]) -> tuple[list[FillRecord], list[KnownOrder]]:
    """Fills keyed by journalled correlation ids, and synthetic entries for unknown buys."""
    cid_of = {str(o["orderId"]): str(o.get("correlationId") or "") for o in orders}
    fills: list[FillRecord] = []
    adopted: dict[str, KnownOrder] = {}
    for trade in sorted(trades, key=lambda t: str(t.get("exchangeTime", ""))):
        order_id = str(trade["orderId"])
        raw = cid_of.get(order_id, "")
        key = parent_id(raw, journalled) if raw and raw != "NA" else ""
        at = utc_from_ist_text(str(trade["exchangeTime"]))
        sid, side = int(trade["securityId"]), str(trade["transactionType"])
        qty, price = int(trade["tradedQuantity"]), float(trade["tradedPrice"])
        if key not in journalled:
            key = f"{ADOPT_PREFIX}{order_id}"
            if side == "BUY" and key not in adopted:
                adopted[key] = KnownOrder(OrderRecord(
                    correlation_id=key, tag=key, at=at, side="BUY", security_id=sid,
                    symbol=str(trade.get("tradingSymbol") or sid), quantity=0,
                    reference_price=price, purpose="entry"), "TRADED")
        fills.append(FillRecord(key, at, sid, side, price, qty, 0.0))
    for key, known in list(adopted.items()):
        total = sum(f.quantity for f in fills if f.correlation_id == key)
        adopted[key] = KnownOrder(OrderRecord(**{**known.record.__dict__, "quantity": total}),
                                  "TRADED")
    return fills, list(adopted.values())


def reconcile_with_dhan(journal_orders: Sequence[KnownOrder],
                        positions: Sequence[PositionRecord], trades: Sequence[TradeRecord],
                        dhan_orders: Iterable[dict[str, Any]],
                        dhan_trades: Iterable[dict[str, Any]]) -> Reconciliation:
    """The journal against Dhan's books: held lots (adopted ones included) and corrections."""
    journalled = {o.record.correlation_id for o in journal_orders}
    fills, adopted = ledger_from_books(dhan_orders, dhan_trades, journalled)
    return reconcile([*journal_orders, *adopted], fills, positions, trades)
