"""REST charts: ``/charts/intraday`` (minute candles) and ``/charts/historical`` (daily).

Candles come from the catalog: earlier days from its 1m bars (or, for instruments without
bars, from that day's ticks); the replayed day from its ticks up to the current replay time,
completed candles only (no peeking ahead). Intervals 1/5/15/25/60 minutes are aligned to the
09:15 IST open. Bodies are column arrays of floats, ``timestamp`` in UTC epoch seconds; daily
candles are stamped at IST midnight and exclude the replayed day; daily ``toDate`` is
exclusive, an intraday date-only ``toDate`` takes in that whole day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from aiohttp import web

from core.clock import IST, NS_PER_SECOND, ist_to_utc, ns_from_utc
from core.errors import MissingDataError
from sim.dhan_emulator.emulator import EMULATOR, Emulator
from sim.dhan_emulator.errors import DhanApiError, json_response
from sim.dhan_emulator.rest_orders import json_body
from sim.market import minute_bars_from_ticks

INTERVALS = (1, 5, 15, 25, 60)
NS_PER_MINUTE = 60 * NS_PER_SECOND
Bars = dict[str, np.ndarray]
_KEYS = ("open", "high", "low", "close", "volume")


def _when(text: Any, key: str, end: bool) -> datetime:
    """An IST date or date-time string as UTC; a date-only end means the whole day."""
    raw = str(text).strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return ist_to_utc(day + timedelta(days=1), time(0)) if end else ist_to_utc(day,
                                                                                      time(0))
        return datetime.fromisoformat(raw).replace(tzinfo=IST)
    except ValueError as e:
        raise DhanApiError("DH-905", f"{key}: invalid date {text!r}") from e


def _request(body: dict[str, Any]) -> tuple[int, str]:
    try:
        return int(body["securityId"]), str(body["exchangeSegment"])
    except (KeyError, TypeError, ValueError) as e:
        raise DhanApiError("DH-905", f"securityId/exchangeSegment missing or bad: {e}") from e


def _day_minutes(em: Emulator, sid: int, day: date) -> Bars | None:
    """One day's 1m bars of ``sid`` (the replayed day: completed minutes before now)."""
    if day == em.market.day:
        cols = em.market.trade_columns(sid)
        if cols is None:
            return None
        done = cols["ts"] < em.now_ns() - em.now_ns() % NS_PER_MINUTE
        if not done.any():
            return None
        ticks = {k: v[done] for k, v in cols.items()}
        ticks["security_id"] = np.full(int(done.sum()), sid, dtype=np.int64)
        return minute_bars_from_ticks(ticks, sid)
    catalog, name = em.market.catalog, em.market.underlying
    if catalog is None:
        return None
    try:
        bars = catalog.read_bars(name, day, day, [sid])
        if bars["ts"].size:
            return bars
        ticks = catalog.read_ticks(name, day, [sid], ["ts", "security_id", "ltp", "ltq", "oi"])
        return minute_bars_from_ticks(ticks, sid) if ticks["ts"].size else None
    except MissingDataError:
        return None


def _sessions(em: Emulator, start: datetime, stop: datetime) -> list[date]:
    first = start.astimezone(IST).date()
    last = min((stop - timedelta(microseconds=1)).astimezone(IST).date(), em.market.day)
    return [d for d in em.calendar.sessions(first, last)] if first <= last else []


def _aggregate(bars: Bars, minutes: int, open_ns: int) -> Bars:
    bucket = (np.asarray(bars["ts"], dtype=np.int64) - open_ns) // (minutes * NS_PER_MINUTE)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], bucket.size] - 1
    return {"ts": open_ns + bucket[starts] * minutes * NS_PER_MINUTE,
            "open": np.asarray(bars["open"])[starts],
            "high": np.maximum.reduceat(np.asarray(bars["high"]), starts),
            "low": np.minimum.reduceat(np.asarray(bars["low"]), starts),
            "close": np.asarray(bars["close"])[ends],
            "volume": np.add.reduceat(np.asarray(bars["volume"]), starts),
            "oi": np.asarray(bars["oi"])[ends]}


def _body(parts: list[Bars], oi: bool) -> dict[str, list[float]]:
    if not parts:
        raise DhanApiError("DH-907", "No data present for the requested instrument and dates")
    joined = {k: np.concatenate([p[k] for p in parts]) for k in (*_KEYS, "ts", "oi")}
    out = {k: [float(x) for x in joined[k]] for k in _KEYS}
    out["timestamp"] = [float(x) for x in joined["ts"] // NS_PER_SECOND]
    if oi:
        out["open_interest"] = [float(x) for x in joined["oi"]]
    return out


async def intraday(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await json_body(request)
    sid, _ = _request(body)
    try:
        minutes = int(body.get("interval", 1))
    except (TypeError, ValueError) as e:
        raise DhanApiError("DH-905", f"interval must be one of {INTERVALS}") from e
    if minutes not in INTERVALS:
        raise DhanApiError("DH-905", f"interval must be one of {INTERVALS}, got {minutes}")
    start = _when(body.get("fromDate"), "fromDate", end=False)
    stop = _when(body.get("toDate"), "toDate", end=True)
    parts = []
    for day in _sessions(em, start, stop):
        bars = _day_minutes(em, sid, day)
        if bars is None:
            continue
        open_ns = ns_from_utc(em.calendar.session_bounds(day)[0])
        candles = _aggregate(bars, minutes, open_ns)
        keep = (candles["ts"] >= ns_from_utc(start)) & (candles["ts"] < ns_from_utc(stop))
        parts.append(_select(candles, keep))
    return json_response(_body([p for p in parts if p["ts"].size], bool(body.get("oi"))))


async def historical(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await json_body(request)
    sid, _ = _request(body)
    start = _when(body.get("fromDate"), "fromDate", end=False)
    stop = _when(body.get("toDate"), "toDate", end=False)  # daily toDate is exclusive
    parts = []
    for day in _sessions(em, start, stop):
        bars = None if day >= em.market.day else _day_minutes(em, sid, day)
        if bars is None or not bars["ts"].size:
            continue
        midnight = ns_from_utc(ist_to_utc(day, time(0)))
        parts.append(_aggregate(bars, 24 * 60, midnight))
    return json_response(_body(parts, bool(body.get("oi"))))


def _select(bars: Mapping[str, np.ndarray], keep: np.ndarray) -> Bars:
    return {k: np.asarray(v)[keep] for k, v in bars.items()}


def routes(prefix: str) -> list[web.RouteDef]:
    return [web.post(f"{prefix}/charts/intraday", intraday),
            web.post(f"{prefix}/charts/historical", historical)]
