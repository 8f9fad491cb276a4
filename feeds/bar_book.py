"""Bar mode: a day's 1m bars (index and options) turned into the quotes the engine replays.

Bar backtests run the same strategy, store and broker as tick replays; only the quotes
differ. Each 1m bar becomes four quotes inside its minute, at +1 s (open), +20 s (low),
+40 s (high) and +59 s (close): the low before the high is the pessimistic path for an
option *buyer* (stops are tested before targets). Options get a bid/ask of the price
-/+ ``half_spread_ticks`` ticks, since bars carry no book; the index gets none. An order
decided on one of these points fills on that point (SimBroker ``fill_on_decision_quote``):
a stop seen at a bar's low fills at the low less the half spread, never at the high that
follows it in the path; an entry decided at a bar close fills at the next bar's open plus the
half spread.

Option bars are derived once from a day's ticks (when the catalog has them) and cached in
the bars partition next to the index bars, so a year of bar backtests reads ~8k rows a day
instead of ~500k ticks.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np

from core.config import IndexConfig
from core.errors import MissingDataError
from feeds.catalog import Catalog
from feeds.daybook import GroupedQuotes

log = logging.getLogger(__name__)

MINUTE_NS = 60 * 1_000_000_000
_PATH_OFFSETS_NS = np.array([1, 20, 40, 59], dtype=np.int64) * 1_000_000_000
BAR_COLUMNS = ("ts", "security_id", "open", "high", "low", "close", "volume", "oi")


def all_minute_bars(ticks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """1m bars (``ts`` = minute start) of every instrument in a tick day, vectorised."""
    ids = np.asarray(ticks["security_id"], dtype=np.int64)
    ts = np.asarray(ticks["ts"], dtype=np.int64)
    px = np.asarray(ticks["ltp"], dtype=np.float64)
    keep = np.isfinite(px)
    ids, ts, px = ids[keep], ts[keep], px[keep]
    ltq = np.asarray(ticks["ltq"], dtype=np.int64)[keep]
    oi = np.asarray(ticks["oi"], dtype=np.int64)[keep]
    minute = ts - ts % MINUTE_NS  # IST is UTC+05:30: UTC minutes are IST minutes
    order = np.lexsort((ts, minute, ids))
    ids, minute, px, ltq, oi = ids[order], minute[order], px[order], ltq[order], oi[order]
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (minute[1:] != minute[:-1])])
    ends = np.r_[starts[1:], len(ids)] - 1
    bars = {"ts": minute[starts], "security_id": ids[starts], "open": px[starts],
            "high": np.maximum.reduceat(px, starts), "low": np.minimum.reduceat(px, starts),
            "close": px[ends], "volume": np.add.reduceat(ltq, starts), "oi": oi[ends]}
    by_time = np.lexsort((bars["security_id"], bars["ts"]))
    return {k: v[by_time] for k, v in bars.items()}


def day_bars(catalog: Catalog, index: IndexConfig, day: date) -> dict[str, np.ndarray]:
    """The day's 1m bars of the index and its options, deriving option bars from ticks once."""
    bars = (catalog.read_bars(index.name, day, day) if catalog.has_bars(index.name, day)
            else None)
    if bars is not None and np.any(bars["security_id"] != index.security_id):
        return bars
    if not catalog.has_ticks(index.name, day):
        raise MissingDataError(f"no option bars or ticks for {index.name} on {day}")
    derived = all_minute_bars(catalog.read_ticks(index.name, day))
    if bars is not None:  # keep the index bars already there (e.g. real imported bars)
        options = derived["security_id"] != index.security_id
        derived = {k: np.concatenate([np.asarray(bars[k]), derived[k][options]])
                   for k in BAR_COLUMNS}
        by_time = np.lexsort((derived["security_id"], derived["ts"]))
        derived = {k: v[by_time] for k, v in derived.items()}
    catalog.write_bars(index.name, day, derived)
    log.info("%s %s: cached %d option/index 1m bars derived from ticks", index.name, day,
             len(derived["ts"]))
    return derived


def quotes_from_bars(bars: dict[str, np.ndarray], index_id: int, tick_size: float,
                     half_spread_ticks: int) -> dict[str, np.ndarray]:
    """Tick-shaped quotes along each bar's open-low-high-close path (see module doc)."""
    n = len(bars["ts"])
    ts = (np.asarray(bars["ts"], dtype=np.int64)[:, None] + _PATH_OFFSETS_NS).ravel()
    path = np.stack([bars["open"], bars["low"], bars["high"], bars["close"]], axis=1)
    ltp = path.astype(np.float64).ravel()
    ids = np.repeat(np.asarray(bars["security_id"], dtype=np.int64), 4)
    half = half_spread_ticks * tick_size
    is_index = ids == index_id
    bid = np.where(is_index, np.nan, np.maximum(ltp - half, tick_size))
    ask = np.where(is_index, np.nan, ltp + half)
    oi = np.repeat(np.asarray(bars["oi"], dtype=np.int64), 4)
    zeros = np.zeros(4 * n, dtype=np.int32)
    order = np.argsort(ts, kind="stable")
    out = {"ts": ts, "security_id": ids, "ltp": ltp, "bid": bid, "ask": ask, "ltq": zeros,
           "bid_qty": zeros, "ask_qty": zeros, "volume": np.zeros(4 * n, np.int64), "oi": oi}
    return {k: v[order] for k, v in out.items()}


def grouped_bar_quotes(bars: dict[str, np.ndarray], index_id: int, tick_size: float,
                       half_spread_ticks: int) -> GroupedQuotes | None:
    """:func:`quotes_from_bars` grouped per security, built per security in one pass.

    Equal to ``group_quotes(quotes_from_bars(...))`` without its two day-wide sorts: a
    security's path points, taken bar after bar, are already in time order. None when they
    are not (bars of one security less than a minute apart), or there are no bars; the
    caller then takes the general route.
    """
    n = len(bars["ts"])
    if n == 0:
        return None
    sid = np.asarray(bars["security_id"], dtype=np.int64)
    order = np.argsort(sid, kind="stable")  # stable: each security's bars keep their order
    sid = sid[order]
    bar_starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    starts = 4 * bar_starts
    ts = (np.asarray(bars["ts"], dtype=np.int64)[order][:, None] + _PATH_OFFSETS_NS).ravel()
    in_order = np.diff(ts) >= 0
    in_order[starts[1:] - 1] = True  # one security to the next may step back in time
    if not in_order.all():
        return None
    path = np.stack([bars["open"], bars["low"], bars["high"], bars["close"]], axis=1)[order]
    ltp = path.astype(np.float64).ravel()
    half = half_spread_ticks * tick_size
    is_index = np.repeat(sid == index_id, 4)
    columns = {
        "ts": ts, "ltp": ltp,
        "bid": np.where(is_index, np.nan, np.maximum(ltp - half, tick_size)),
        "ask": np.where(is_index, np.nan, ltp + half),
        "bid_qty": np.zeros(4 * n, dtype=np.int32), "ask_qty": np.zeros(4 * n, dtype=np.int32),
        "oi": np.repeat(np.asarray(bars["oi"], dtype=np.int64)[order], 4)}
    return GroupedQuotes(ids=sid[bar_starts], starts=starts,
                         ends=np.r_[starts[1:], 4 * n], columns=columns)
