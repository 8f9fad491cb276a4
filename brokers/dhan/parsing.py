"""DhanHQ v2 wire facts as data, and the market-feed v2 binary packets (decode and encode).

Pure: no ``dhanhq`` import, no I/O. The live client and the emulator both build on it.

Packets are little-endian, one per WebSocket binary frame, with an 8-byte header
``uint8 code, uint16 length, uint8 exchange segment, uint32 security id`` (the field types
are the ones the official client unpacks with; the docs call some of them signed, which is
the same for every value seen). Layouts per response code (reference part B.3):

====  ============  =====  ====================================================================
code  packet        bytes  after the header
====  ============  =====  ====================================================================
2     ticker        16     f32 LTP, u32 LTT
4     quote         50     f32 LTP, u16 LTQ, u32 LTT, f32 ATP, u32 volume, u32 total sell qty,
                           u32 total buy qty, f32 open, close, high, low
5     OI            12     u32 OI
6     prev close    16     f32 previous close, u32 previous OI
7     market status 8      (header only, as the client reads it)
8     full          162    as quote up to total buy qty, then u32 OI, OI day high, OI day low,
                           f32 open, close, high, low, 5 depth levels of
                           (u32 bid qty, u32 ask qty, u16 bid orders, u16 ask orders,
                           f32 bid price, f32 ask price)
50    disconnect    10     u16 reason code
====  ============  =====  ====================================================================

Last trade time (LTT) is **not** a UTC epoch: the real packets of 2024-10-09, recorded at
15:29 IST, carry LTT values that read 15:29:25..15:29:59 when taken as UTC. The feed encodes
the IST wall clock as if it were UTC, i.e. ``ltt = utc_epoch + 19800``; :func:`ltt_from_utc`
and :func:`utc_from_ltt` convert. Floats are float32 on the wire, so a decoded packet encodes
back to the identical bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from core.errors import MalformedDataError

IST_OFFSET_SECONDS = 19_800  # +05:30: the feed's LTT is IST wall-clock seconds "as UTC"
MAX_INSTRUMENTS_PER_MESSAGE = 100
MAX_INSTRUMENTS_PER_CONNECTION = 5000
MAX_FEED_CONNECTIONS = 5


class ExchangeSegment(IntEnum):
    """Exchange segment enum of the binary feed (name = the REST ``exchangeSegment``)."""

    IDX_I = 0
    NSE_EQ = 1
    NSE_FNO = 2
    NSE_CURRENCY = 3
    BSE_EQ = 4
    MCX_COMM = 5
    BSE_CURRENCY = 7
    BSE_FNO = 8


class FeedRequest(IntEnum):
    """``RequestCode`` of the JSON messages a client sends on the market feed."""

    CONNECT = 11
    DISCONNECT = 12
    SUBSCRIBE_TICKER = 15
    UNSUBSCRIBE_TICKER = 16
    SUBSCRIBE_QUOTE = 17
    UNSUBSCRIBE_QUOTE = 18
    SUBSCRIBE_FULL = 21
    UNSUBSCRIBE_FULL = 22


SUBSCRIBE_CODES = frozenset({FeedRequest.SUBSCRIBE_TICKER, FeedRequest.SUBSCRIBE_QUOTE,
                             FeedRequest.SUBSCRIBE_FULL})
UNSUBSCRIBE_CODES = frozenset({FeedRequest.UNSUBSCRIBE_TICKER, FeedRequest.UNSUBSCRIBE_QUOTE,
                               FeedRequest.UNSUBSCRIBE_FULL})


class FeedResponse(IntEnum):
    """First byte of a market-feed packet."""

    INDEX = 1
    TICKER = 2
    DEPTH = 3
    QUOTE = 4
    OI = 5
    PREV_CLOSE = 6
    MARKET_STATUS = 7
    FULL = 8
    DISCONNECT = 50


# Data-API / WebSocket error codes (annexure); the disconnect packet carries one of these.
FEED_ERROR_MESSAGES: dict[int, str] = {
    800: "Internal Server Error",
    804: "Requested number of instruments exceeds limit",
    805: "Too many requests or connections",
    806: "Data APIs not subscribed",
    807: "Access token is expired",
    808: "Authentication Failed - Client ID or Access Token invalid",
    809: "Access token is invalid",
    810: "Client ID is invalid",
    811: "Invalid Expiry Date",
    812: "Invalid Date Format",
    813: "Invalid SecurityId",
    814: "Invalid Request",
}

# ----- order codes ------------------------------------------------------------------------

ORDER_STATUSES = ("TRANSIT", "PENDING", "REJECTED", "CANCELLED", "PART_TRADED", "TRADED",
                  "EXPIRED")
TERMINAL_STATUSES = frozenset({"REJECTED", "CANCELLED", "TRADED", "EXPIRED"})
TRANSACTION_TYPES = ("BUY", "SELL")
ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_MARKET")
PRODUCT_TYPES = ("CNC", "INTRADAY", "MARGIN", "MTF", "CO", "BO")
VALIDITIES = ("DAY", "IOC")

# REST name -> one-letter code of the order-update WebSocket.
PRODUCT_UPDATE_CODES = {"CNC": "C", "INTRADAY": "I", "MARGIN": "M", "MTF": "F", "CO": "V",
                        "BO": "B"}
TRANSACTION_UPDATE_CODES = {"BUY": "B", "SELL": "S"}
ORDER_TYPE_UPDATE_CODES = {"LIMIT": "LMT", "MARKET": "MKT", "STOP_LOSS": "SL",
                           "STOP_LOSS_MARKET": "SLM"}
# REST exchangeSegment -> (Exchange, Segment letter) of the order-update WebSocket.
SEGMENT_UPDATE_CODES = {"NSE_EQ": ("NSE", "E"), "BSE_EQ": ("BSE", "E"),
                        "NSE_FNO": ("NSE", "D"), "BSE_FNO": ("BSE", "D"),
                        "NSE_CURRENCY": ("NSE", "C"), "BSE_CURRENCY": ("BSE", "C"),
                        "MCX_COMM": ("MCX", "M"), "IDX_I": ("NSE", "I")}
# Scrip master (EXCH_ID, SEGMENT) -> API segment (the CSV letters are not API names).
SCRIP_MASTER_SEGMENTS = {("NSE", "I"): "IDX_I", ("BSE", "I"): "IDX_I",
                         ("NSE", "E"): "NSE_EQ", ("BSE", "E"): "BSE_EQ",
                         ("NSE", "D"): "NSE_FNO", ("BSE", "D"): "BSE_FNO",
                         ("NSE", "C"): "NSE_CURRENCY", ("BSE", "C"): "BSE_CURRENCY",
                         ("MCX", "M"): "MCX_COMM"}
# Option type in contract metadata -> ``drvOptionType`` of the order and trade books.
DRV_OPTION_TYPES = {"CE": "CALL", "PE": "PUT"}


def invert(table: dict[str, str]) -> dict[str, str]:
    """The reverse lookup of a one-to-one code table."""
    return {v: k for k, v in table.items()}


def normalise_status(text: str) -> str:
    """An order status as the order book spells it (``"Cancelled"`` -> ``"CANCELLED"``)."""
    status = str(text).strip().upper().replace(" ", "_").replace("-", "_")
    if status not in ORDER_STATUSES:
        raise MalformedDataError(f"unknown Dhan order status {text!r}")
    return status


def segment_code(name: str) -> int:
    """Feed enum of a REST segment name; MalformedDataError on an unknown one."""
    try:
        return int(ExchangeSegment[str(name).upper()])
    except KeyError as e:
        raise MalformedDataError(f"unknown exchange segment {name!r}") from e


def segment_name(code: int) -> str:
    """REST segment name of a feed enum value; MalformedDataError on an unknown one."""
    try:
        return ExchangeSegment(int(code)).name
    except ValueError as e:
        raise MalformedDataError(f"unknown exchange segment code {code!r}") from e


# ----- last trade time ----------------------------------------------------------------------

def ltt_from_utc(when: datetime) -> int:
    """The feed's LTT field for a UTC instant: IST wall-clock seconds encoded as an epoch."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: pass a tz-aware datetime")
    return int(when.timestamp()) + IST_OFFSET_SECONDS


def utc_from_ltt(ltt: int) -> datetime:
    """The UTC instant an LTT field stands for (inverse of :func:`ltt_from_utc`)."""
    return datetime.fromtimestamp(int(ltt) - IST_OFFSET_SECONDS, tz=UTC)


# ----- packets --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TickerPacket:
    segment: int
    security_id: int
    ltp: float
    ltt: int


@dataclass(frozen=True)
class PrevClosePacket:
    segment: int
    security_id: int
    prev_close: float
    prev_oi: int


@dataclass(frozen=True)
class QuotePacket:
    segment: int
    security_id: int
    ltp: float
    ltq: int
    ltt: int
    atp: float
    volume: int
    total_sell_qty: int
    total_buy_qty: int
    open: float
    close: float
    high: float
    low: float


@dataclass(frozen=True)
class OIPacket:
    segment: int
    security_id: int
    oi: int


@dataclass(frozen=True)
class MarketStatusPacket:
    segment: int
    security_id: int


@dataclass(frozen=True)
class DepthLevel:
    bid_qty: int
    ask_qty: int
    bid_orders: int
    ask_orders: int
    bid_price: float
    ask_price: float


EMPTY_DEPTH_LEVEL = DepthLevel(0, 0, 0, 0, 0.0, 0.0)


@dataclass(frozen=True)
class FullPacket:
    segment: int
    security_id: int
    ltp: float
    ltq: int
    ltt: int
    atp: float
    volume: int
    total_sell_qty: int
    total_buy_qty: int
    oi: int
    oi_day_high: int
    oi_day_low: int
    open: float
    close: float
    high: float
    low: float
    depth: tuple[DepthLevel, ...]


@dataclass(frozen=True)
class DisconnectPacket:
    segment: int
    security_id: int
    reason: int


Packet = (TickerPacket | PrevClosePacket | QuotePacket | OIPacket | MarketStatusPacket
          | FullPacket | DisconnectPacket)

_HEADER = struct.Struct("<BHBI")
_DEPTH = struct.Struct("<IIHHff")
_DEPTH_LEVELS = 5
# Body layouts after the header, keyed by response code, with their packet class.
_BODIES: dict[int, tuple[struct.Struct, type]] = {
    FeedResponse.TICKER: (struct.Struct("<fI"), TickerPacket),
    FeedResponse.PREV_CLOSE: (struct.Struct("<fI"), PrevClosePacket),
    FeedResponse.QUOTE: (struct.Struct("<fHIfIIIffff"), QuotePacket),
    FeedResponse.OI: (struct.Struct("<I"), OIPacket),
    FeedResponse.MARKET_STATUS: (struct.Struct("<"), MarketStatusPacket),
    FeedResponse.FULL: (struct.Struct("<fHIfIIIIIIffff"), FullPacket),
    FeedResponse.DISCONNECT: (struct.Struct("<H"), DisconnectPacket),
}
_CODES = {cls: code for code, (_, cls) in _BODIES.items()}


def packet_size(code: int) -> int:
    """Total bytes of a packet with response ``code`` (header included)."""
    body, cls = _BODIES[FeedResponse(code)]
    extra = _DEPTH.size * _DEPTH_LEVELS if cls is FullPacket else 0
    return _HEADER.size + body.size + extra


def encode_packet(packet: Packet) -> bytes:
    """The wire bytes of ``packet``; MalformedDataError when a field does not fit its type."""
    code = _CODES.get(type(packet))
    if code is None:
        raise MalformedDataError(f"cannot encode {type(packet).__name__}")
    body, _ = _BODIES[code]
    values = [getattr(packet, f.name) for f in fields(packet)][2:]
    depth = b""
    if isinstance(packet, FullPacket):
        values = values[:-1]
        depth = _encode_depth(packet)
    try:
        head = _HEADER.pack(code, packet_size(code), packet.segment, packet.security_id)
        return head + body.pack(*values) + depth
    except struct.error as e:
        raise MalformedDataError(f"{type(packet).__name__} {packet}: field out of range: {e}") \
            from e


def _encode_depth(packet: FullPacket) -> bytes:
    levels = list(packet.depth)[:_DEPTH_LEVELS]
    levels += [EMPTY_DEPTH_LEVEL] * (_DEPTH_LEVELS - len(levels))
    return b"".join(_DEPTH.pack(*astuple(level)) for level in levels)


def decode_packet(data: bytes) -> Packet:
    """The first packet in ``data``; MalformedDataError on an unknown code or short data."""
    if len(data) < _HEADER.size:
        raise MalformedDataError(f"feed packet of {len(data)} bytes is shorter than a header")
    code, _, segment, security_id = _HEADER.unpack_from(data)
    if code not in _BODIES:
        raise MalformedDataError(f"unknown feed response code {code} in {bytes(data[:8])!r}")
    size = packet_size(code)
    if len(data) < size:
        raise MalformedDataError(
            f"feed packet code {code} has {len(data)} bytes, its layout needs {size}")
    body, cls = _BODIES[code]
    values = body.unpack_from(data, _HEADER.size)
    if cls is FullPacket:
        start = _HEADER.size + body.size
        depth = tuple(DepthLevel(*_DEPTH.unpack_from(data, start + i * _DEPTH.size))
                      for i in range(_DEPTH_LEVELS))
        return FullPacket(*(segment, security_id, *values, depth))
    return cls(segment, security_id, *values)


def split_packets(data: bytes) -> list[bytes]:
    """Split a frame holding one or more concatenated packets, by each header's length."""
    out: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise MalformedDataError(f"{len(data) - offset} trailing bytes at offset {offset}")
        length = _HEADER.unpack_from(data, offset)[1]
        if length < _HEADER.size or offset + length > len(data):
            raise MalformedDataError(f"packet at offset {offset} claims {length} bytes of "
                                     f"{len(data) - offset} left")
        out.append(bytes(data[offset:offset + length]))
        offset += length
    return out


# ----- subscription messages --------------------------------------------------------------

@dataclass(frozen=True)
class FeedRequestMessage:
    """A parsed client message: request code and (segment name, security id) pairs."""

    code: int
    instruments: tuple[tuple[str, int], ...] = ()


def subscription_messages(code: int, instruments: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """JSON messages (as dicts) for (un)subscribing ``instruments``, 100 per message."""
    if code not in SUBSCRIBE_CODES | UNSUBSCRIBE_CODES:
        raise ValueError(f"request code {code} is not a subscribe/unsubscribe code")
    out = []
    for start in range(0, len(instruments), MAX_INSTRUMENTS_PER_MESSAGE):
        batch = instruments[start:start + MAX_INSTRUMENTS_PER_MESSAGE]
        out.append({"RequestCode": int(code), "InstrumentCount": len(batch),
                    "InstrumentList": [{"ExchangeSegment": seg, "SecurityId": str(sid)}
                                       for seg, sid in batch]})
    return out


def parse_feed_request(text: str | bytes) -> FeedRequestMessage:
    """A client's JSON text message; SecurityId may be a string or a number."""
    try:
        message = json.loads(text)
        code = int(message["RequestCode"])
        items = message.get("InstrumentList") or []
        instruments = tuple((str(item["ExchangeSegment"]).upper(), int(item["SecurityId"]))
                            for item in items)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise MalformedDataError(f"bad market-feed request {str(text)[:200]!r}: {e}") from e
    return FeedRequestMessage(code, instruments)
