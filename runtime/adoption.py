"""Broker-side lots the journal does not know: adopted at start so their stops apply.

A position opened by hand in Dhan's app, or by a process whose journal is gone, is still the
trader's money at risk. At the start of a live session the net long positions Dhan reports
are compared with what the journal (resumed or new) holds; any excess quantity of a day's
contract is journalled as a synthetic ``adopt-`` entry (order, fill at Dhan's average buy
price, active position) and handed to the strategy, which manages it by the same exit rules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from core.clock import ns_from_utc
from core.instruments import OptionContract
from strategies.records import (
    DecisionRecord,
    FillRecord,
    JournalSink,
    OrderRecord,
    OrderUpdateRecord,
    PositionRecord,
)
from strategies.resume import AdoptedPosition, ResumeState

log = logging.getLogger(__name__)

ADOPT_PREFIX = "adopt-"


def unknown_lots(broker_positions: Iterable[Mapping[str, Any]], journal_held: Mapping[int, int]
                 ) -> dict[int, tuple[int, float]]:
    """Security id -> (quantity, average buy price) held at the broker beyond the journal."""
    out: dict[int, tuple[int, float]] = {}
    for row in broker_positions:
        net = int(row.get("netQty") or 0)
        sid = int(row.get("securityId") or 0)
        excess = net - journal_held.get(sid, 0)
        if net > 0 and excess > 0:
            out[sid] = (excess, float(row.get("buyAvg") or row.get("costPrice") or 0.0))
    return out


def adopt_unknown_lots(lots: Mapping[int, tuple[int, float]], resume: ResumeState | None,
                       contract_of: Callable[[int], OptionContract | None],
                       price_at: Callable[[int, int], float | None], sink: JournalSink,
                       at: datetime, start_balance: float) -> ResumeState | None:
    """Journal each unknown lot as an adopted entry; the resume state holding them too."""
    adopted = []
    for sid, (quantity, price) in sorted(lots.items()):
        contract = contract_of(sid)
        if contract is None:
            log.error("ALERT: broker holds %d of security %s, not a contract of today's "
                      "chain: NOT managed, close it by hand", quantity, sid)
            continue
        key = f"{ADOPT_PREFIX}{sid}-{ns_from_utc(at) // 1_000_000_000}"
        sink.order(OrderRecord(key, "adopted", at, "BUY", sid, contract.symbol, quantity, price,
                               "entry"))
        sink.order_update(OrderUpdateRecord(key, at, "TRADED", "broker position adopted"))
        sink.fill(FillRecord(key, at, sid, "BUY", price, quantity, 0.0))
        sink.position(PositionRecord(key, at, "active", sid, contract.symbol, quantity,
                                     entry_price=price, hwm=price))
        sink.decision(DecisionRecord(at, "adopt", True,
                                     f"broker holds {quantity} the journal does not: adopted, "
                                     "exit rules apply", "", sid, contract.symbol))
        log.warning("adopted %d x %s at %.2f from the broker's positions", quantity,
                    contract.symbol, price)
        mark = price_at(sid, ns_from_utc(at))
        adopted.append(AdoptedPosition(
            key=key, contract=contract, entry_tag="adopted", ordered_qty=quantity,
            filled_qty=quantity, entry_cost=price * quantity, entry_charges=0.0, entry_at=at,
            state_entry_price=price, hwm=price,
            breakeven_locked=False, mark=mark if mark is not None else math.nan))
    if not adopted:
        return resume
    base = resume or ResumeState(resume_ns=ns_from_utc(at), start_balance=start_balance)
    return ResumeState(**{**base.__dict__, "positions": (*base.positions, *adopted)})
