"""REST market data: option chain, expiry list, market quote (ltp / ohlc / quote).

The chain is computed from the replayed quotes at the current replay time: every strike of
the expiry (both legs always present, zeros where a leg has no quote yet, as the real API
does), IV in percent from the LTP with Black-76 on the forward implied by put-call parity at
the strike nearest spot, greeks rounded to 5 decimals (theta per trading day, vega per vol
point). ``last_price`` at the top is the spot as float32, as in recorded bodies.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
from aiohttp import web

from core import black76
from core.clock import ns_from_utc, to_ist, utc_from_ns
from sim.dhan_emulator.emulator import EMULATOR, Emulator
from sim.dhan_emulator.errors import DhanApiError, json_response
from sim.dhan_emulator.market import Instrument, Snapshot
from sim.dhan_emulator.rest_orders import json_body
from sim.dhan_emulator.views import number

MAX_QUOTE_INSTRUMENTS = 1000


def _underlying(em: Emulator, body: dict[str, Any]) -> tuple[int, str]:
    try:
        scrip, seg = int(body["UnderlyingScrip"]), str(body["UnderlyingSeg"])
    except (KeyError, TypeError, ValueError) as e:
        raise DhanApiError("DH-905", f"UnderlyingScrip/UnderlyingSeg missing or bad: {e}") \
            from e
    if scrip != em.market.index_id or seg != "IDX_I":
        raise DhanApiError("DH-905", f"Invalid SecurityId {scrip} for {seg}: this emulator "
                                     f"replays {em.market.underlying} ({em.market.index_id})")
    return scrip, seg


async def expiry_list(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    scrip, seg = _underlying(em, await json_body(request))
    if not em.limits.allow_option_chain(("expirylist", scrip, seg)):
        raise DhanApiError("DH-904")
    days = [str(d) for d in em.market.expiries if d >= em.market.day]
    return json_response({"data": days, "status": "success"})


async def option_chain(request: web.Request) -> web.Response:
    em = request.app[EMULATOR]
    body = await json_body(request)
    scrip, seg = _underlying(em, body)
    try:
        expiry = date.fromisoformat(str(body["Expiry"]))
    except (KeyError, ValueError) as e:
        raise DhanApiError("DH-905", f"Invalid Expiry Date {body.get('Expiry')!r}") from e
    if not em.limits.allow_option_chain(("optionchain", scrip, seg, expiry)):
        raise DhanApiError("DH-904")
    if expiry not in em.market.expiries:
        raise DhanApiError("DH-905", f"Invalid Expiry Date {expiry}")
    return json_response({"data": chain_data(em, expiry, em.now()), "status": "success"})


def chain_data(em: Emulator, expiry: date, now: datetime) -> dict[str, Any]:
    """The ``data`` object of ``/optionchain`` for ``expiry`` at ``now``."""
    market, at = em.market, ns_from_utc(now)
    index = market.snapshot(market.index_id, at)
    spot = index.ltp if index is not None else market.prev_close(market.index_id)[0]
    options = market.options(expiry)
    snaps = [market.snapshot(o.security_id, at) for o in options]
    t_years = em.calendar.trading_years(now, expiry)
    rate = em.settings.risk_free_rate
    forward = _forward(options, snaps, spot, t_years, rate)
    prices = [s.ltp if s is not None and s.ltp > 0 else math.nan for s in snaps]
    strikes = [float(o.strike or 0.0) for o in options]
    ivs = black76.implied_vols(prices, forward, strikes, t_years, rate,
                               [o.option_type == "CE" for o in options]) \
        if options else np.empty(0)
    chain: dict[str, dict[str, Any]] = {}
    for inst, snap, iv in zip(options, snaps, ivs, strict=True):
        legs = chain.setdefault(f"{inst.strike:.6f}", {"ce": {}, "pe": {}})
        legs["ce" if inst.option_type == "CE" else "pe"] = _leg(
            em, inst, snap, float(iv), forward, t_years, rate)
    for legs in chain.values():  # a strike listed on one side only: zeros on the other
        for side in ("ce", "pe"):
            if not legs[side]:
                legs[side] = _leg(em, None, None, math.nan, forward, t_years, rate)
    return {"last_price": float(np.float32(spot)), "oc": chain}


def _forward(options: list[Instrument], snaps: list[Snapshot | None], spot: float,
             t_years: float, rate: float) -> float:
    calls: dict[float, float] = {}
    puts: dict[float, float] = {}
    for inst, snap in zip(options, snaps, strict=True):
        if snap is not None and snap.ltp > 0 and inst.strike is not None:
            (calls if inst.option_type == "CE" else puts)[inst.strike] = snap.ltp
    paired = sorted(set(calls) & set(puts), key=lambda k: (abs(k - spot), k))
    if not paired or t_years <= 0:
        return spot * math.exp(rate * max(t_years, 0.0))
    return black76.implied_forward(calls[paired[0]], puts[paired[0]], paired[0], t_years, rate)


def _leg(em: Emulator, inst: Instrument | None, snap: Snapshot | None, iv: float,
         forward: float, t_years: float, rate: float) -> dict[str, Any]:
    zero_greeks = {"delta": 0, "theta": 0, "gamma": 0, "vega": 0}
    leg: dict[str, Any] = {}
    if em.settings.chain_v25_fields:
        leg["average_price"] = number(snap.atp) if snap is not None else 0
    leg["greeks"] = zero_greeks
    leg["implied_volatility"] = 0
    if inst is not None and snap is not None and math.isfinite(iv) and iv > 0:
        g = black76.greeks(forward, float(inst.strike or 0.0), t_years, iv, rate,
                           inst.option_type == "CE")
        leg["greeks"] = {"delta": number(g.delta, 5), "theta": number(g.theta, 5),
                         "gamma": number(g.gamma, 5), "vega": number(g.vega / 100.0, 5)}
        leg["implied_volatility"] = iv * 100.0
    prev_close, prev_oi = em.market.prev_close(inst.security_id) if inst else (0.0, 0)
    leg.update({
        "last_price": number(snap.ltp) if snap else 0, "oi": snap.oi if snap else 0,
        "previous_close_price": number(prev_close) if snap else 0,
        "previous_oi": prev_oi if snap else 0, "previous_volume": 0})
    if em.settings.chain_v25_fields:
        leg["security_id"] = inst.security_id if inst else 0
    leg.update({
        "top_ask_price": _price(snap.ask) if snap else 0,
        "top_ask_quantity": snap.ask_qty if snap else 0,
        "top_bid_price": _price(snap.bid) if snap else 0,
        "top_bid_quantity": snap.bid_qty if snap else 0,
        "volume": snap.volume if snap else 0})
    return leg


def _price(value: float) -> int | float:
    return 0 if math.isnan(value) else number(value)


# ----- market quote ---------------------------------------------------------------------

def _requested(body: dict[str, Any]) -> list[tuple[str, int]]:
    wanted = []
    for segment, ids in body.items():
        if segment == "dhanClientId":
            continue
        if not isinstance(ids, list):
            raise DhanApiError("DH-905", f"{segment}: expected a list of security ids")
        try:
            wanted += [(segment, int(x)) for x in ids]
        except (TypeError, ValueError) as e:
            raise DhanApiError("DH-905", f"{segment}: bad security id: {e}") from e
    if len(wanted) > MAX_QUOTE_INSTRUMENTS:
        raise DhanApiError("DH-905", f"{len(wanted)} instruments requested, at most "
                                     f"{MAX_QUOTE_INSTRUMENTS}")
    return wanted


def _quote_fields(kind: str, snap: Snapshot) -> dict[str, Any]:
    ohlc = {"open": number(snap.open), "close": number(snap.prev_close),
            "high": number(snap.high), "low": number(snap.low)}
    if kind == "ltp":
        return {"last_price": number(snap.ltp)}
    if kind == "ohlc":
        return {"last_price": number(snap.ltp), "ohlc": ohlc}
    empty = [{"quantity": 0, "orders": 0, "price": 0}] * 4
    buy = [{"quantity": snap.bid_qty, "orders": int(snap.bid_qty > 0),
            "price": _price(snap.bid)}, *empty]
    sell = [{"quantity": snap.ask_qty, "orders": int(snap.ask_qty > 0),
             "price": _price(snap.ask)}, *empty]
    ltt = to_ist(utc_from_ns(snap.ltt_ns)).strftime("%d/%m/%Y %H:%M:%S")
    return {"average_price": number(snap.atp), "buy_quantity": snap.bid_qty,
            "depth": {"buy": buy, "sell": sell}, "last_price": number(snap.ltp),
            "last_quantity": snap.ltq, "last_trade_time": ltt,
            "lower_circuit_limit": 0.05, "net_change": number(snap.ltp - snap.prev_close),
            "ohlc": ohlc, "oi": snap.oi, "oi_day_high": snap.oi_high,
            "oi_day_low": snap.oi_low, "sell_quantity": snap.ask_qty,
            "upper_circuit_limit": number(max(snap.prev_close, snap.high) * 2), "volume":
            snap.volume}


def _quote_handler(kind: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        em = request.app[EMULATOR]
        at = em.now_ns()
        data: dict[str, dict[str, Any]] = {}
        for segment, sid in _requested(await json_body(request)):
            bucket = data.setdefault(segment, {})
            inst, snap = em.market.instrument(sid), em.market.snapshot(sid, at)
            if inst is not None and inst.segment == segment and snap is not None:
                bucket[str(sid)] = _quote_fields(kind, snap)
        return json_response({"data": data, "status": "success"})
    return handler


def routes(prefix: str) -> list[web.RouteDef]:
    return [
        web.post(f"{prefix}/optionchain", option_chain),
        web.post(f"{prefix}/optionchain/expirylist", expiry_list),
        web.post(f"{prefix}/marketfeed/ltp", _quote_handler("ltp")),
        web.post(f"{prefix}/marketfeed/ohlc", _quote_handler("ohlc")),
        web.post(f"{prefix}/marketfeed/quote", _quote_handler("quote")),
    ]
