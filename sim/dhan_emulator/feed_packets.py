"""Market-feed packets of an instrument's state, per subscription mode, in wire bytes.

Ticker mode: a ticker packet. Quote mode: a quote packet, then an OI packet for derivatives.
Full mode: a full packet (depth level 1 = the catalog's touch, levels 2-5 empty), then an OI
packet, as the real feed pairs them; an index has no depth, so it gets a quote packet
instead. A full/quote packet's ``close`` carries the previous close during the session (as
in the recorded packets). Prices are float32 on the wire; an LTQ above the 16-bit field is
capped.
"""

from __future__ import annotations

import math

from brokers.dhan.parsing import (
    EMPTY_DEPTH_LEVEL,
    DepthLevel,
    FeedRequest,
    FullPacket,
    MarketStatusPacket,
    OIPacket,
    PrevClosePacket,
    QuotePacket,
    TickerPacket,
    encode_packet,
    ltt_from_utc,
    segment_code,
)
from core.clock import utc_from_ns
from sim.dhan_emulator.market import Instrument, Snapshot

_U16_MAX = 65_535
_U32_MAX = 4_294_967_295


def mode_packets(mode: int, instrument: Instrument, snap: Snapshot) -> list[bytes]:
    """The frames (one packet each) that a ``mode`` subscriber gets for ``snap``."""
    segment = segment_code(instrument.segment)
    if mode == FeedRequest.SUBSCRIBE_TICKER:
        return [encode_packet(TickerPacket(segment, snap.security_id, snap.ltp,
                                           _ltt(snap)))]
    oi = [encode_packet(OIPacket(segment, snap.security_id, _u32(snap.oi)))] \
        if instrument.is_option else []
    if mode == FeedRequest.SUBSCRIBE_FULL and instrument.is_option:
        return [encode_packet(_full(segment, snap)), *oi]
    return [encode_packet(_quote(segment, snap)), *oi]


def prev_close_packet(instrument: Instrument, prev_close: float, prev_oi: int) -> bytes:
    return encode_packet(PrevClosePacket(segment_code(instrument.segment),
                                         instrument.security_id, prev_close, _u32(prev_oi)))


def market_status_packet() -> bytes:
    return encode_packet(MarketStatusPacket(0, 0))


def _quote(segment: int, snap: Snapshot) -> QuotePacket:
    return QuotePacket(
        segment=segment, security_id=snap.security_id, ltp=snap.ltp,
        ltq=min(max(snap.ltq, 0), _U16_MAX), ltt=_ltt(snap), atp=snap.atp,
        volume=_u32(snap.volume), total_sell_qty=_u32(snap.ask_qty),
        total_buy_qty=_u32(snap.bid_qty), open=snap.open, close=snap.prev_close,
        high=snap.high, low=snap.low)


def _full(segment: int, snap: Snapshot) -> FullPacket:
    quote = _quote(segment, snap)
    return FullPacket(
        segment=segment, security_id=snap.security_id, ltp=quote.ltp, ltq=quote.ltq,
        ltt=quote.ltt, atp=quote.atp, volume=quote.volume,
        total_sell_qty=quote.total_sell_qty, total_buy_qty=quote.total_buy_qty,
        oi=_u32(snap.oi), oi_day_high=_u32(snap.oi_high), oi_day_low=_u32(snap.oi_low),
        open=quote.open, close=quote.close, high=quote.high, low=quote.low,
        depth=(_top_level(snap),) + (EMPTY_DEPTH_LEVEL,) * 4)


def _top_level(snap: Snapshot) -> DepthLevel:
    bid = 0.0 if math.isnan(snap.bid) else snap.bid
    ask = 0.0 if math.isnan(snap.ask) else snap.ask
    return DepthLevel(bid_qty=_u32(snap.bid_qty), ask_qty=_u32(snap.ask_qty),
                      bid_orders=1 if snap.bid_qty > 0 else 0,
                      ask_orders=1 if snap.ask_qty > 0 else 0, bid_price=bid, ask_price=ask)


def _ltt(snap: Snapshot) -> int:
    return ltt_from_utc(utc_from_ns(snap.ltt_ns))


def _u32(value: int) -> int:
    return min(max(int(value), 0), _U32_MAX)
