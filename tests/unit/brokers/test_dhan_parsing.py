"""DhanHQ v2 wire parsing: market-feed packets both ways, code tables, subscribe messages."""

from __future__ import annotations

import ast
import csv
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brokers.dhan.parsing import (
    EMPTY_DEPTH_LEVEL,
    ORDER_TYPE_UPDATE_CODES,
    PRODUCT_UPDATE_CODES,
    SCRIP_MASTER_SEGMENTS,
    DepthLevel,
    DisconnectPacket,
    ExchangeSegment,
    FeedRequest,
    FullPacket,
    MarketStatusPacket,
    OIPacket,
    PrevClosePacket,
    QuotePacket,
    TickerPacket,
    decode_packet,
    encode_packet,
    invert,
    ltt_from_utc,
    normalise_status,
    packet_size,
    parse_feed_request,
    segment_code,
    segment_name,
    split_packets,
    subscription_messages,
    utc_from_ltt,
)
from core.errors import MalformedDataError

PACKETS_CSV = (Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata"
               / "dhan_feed_packets" / "raw_packets_temp_test_data_2.csv")

DEPTH = (DepthLevel(75, 25, 1, 1, 495.1000061035156, 499.75),) + (EMPTY_DEPTH_LEVEL,) * 4
SAMPLES = [
    TickerPacket(2, 47134, 497.6000061035156, 1728487795),
    PrevClosePacket(0, 13, 24981.94921875, 0),
    QuotePacket(2, 47134, 497.6000061035156, 25, 1728487795, 578.8800048828125, 794550,
                13350, 126400, 554.5, 506.6499938964844, 735.0, 429.54998779296875),
    OIPacket(2, 47134, 181925),
    MarketStatusPacket(0, 0),
    FullPacket(2, 47134, 497.6000061035156, 25, 1728487795, 578.8800048828125, 794550,
               13350, 126400, 181925, 265275, 177100, 554.5, 506.6499938964844, 735.0,
               429.54998779296875, DEPTH),
    DisconnectPacket(0, 0, 807),
]


def real_packets() -> list[bytes]:
    if not PACKETS_CSV.is_file():
        pytest.skip(f"real feed packets absent: {PACKETS_CSV}")
    with PACKETS_CSV.open(newline="") as f:
        return [ast.literal_eval(row["msg"]) for row in csv.DictReader(f)]


@pytest.mark.realdata
def test_real_packets_round_trip_byte_for_byte() -> None:
    packets = real_packets()
    assert len(packets) == 656
    kinds = {type(decode_packet(p)) for p in packets}
    assert kinds == {FullPacket, OIPacket}
    for raw in packets:
        assert encode_packet(decode_packet(raw)) == raw


@pytest.mark.realdata
def test_real_ltt_is_ist_wall_clock_encoded_as_utc() -> None:
    # Recorded 2024-10-09 at 15:29 IST: read as a UTC epoch the LTTs say 15:29, so the
    # field carries IST wall-clock seconds; the instant is 09:59 UTC.
    ltts = [decode_packet(p).ltt for p in real_packets() if p[0] == 8]
    as_if_utc = [datetime.fromtimestamp(t, UTC) for t in ltts]
    assert {d.strftime("%Y-%m-%d %H:%M") for d in as_if_utc} == {"2024-10-09 15:29"}
    assert {utc_from_ltt(t).strftime("%H:%M") for t in ltts} == {"09:59"}


@pytest.mark.parametrize("packet", SAMPLES, ids=lambda p: type(p).__name__)
def test_encode_decode_identity(packet: object) -> None:
    raw = encode_packet(packet)  # type: ignore[arg-type]
    assert len(raw) == packet_size(raw[0])
    assert struct.unpack_from("<H", raw, 1)[0] == len(raw)
    assert decode_packet(raw) == packet


@pytest.mark.parametrize(("code", "size"), [(2, 16), (4, 50), (5, 12), (6, 16), (7, 8),
                                            (8, 162), (50, 10)])
def test_packet_sizes_match_the_documented_layouts(code: int, size: int) -> None:
    assert packet_size(code) == size


@pytest.mark.parametrize("packet", SAMPLES, ids=lambda p: type(p).__name__)
def test_official_client_reads_what_we_encode(packet: object) -> None:
    from dhanhq.marketfeed import MarketFeed

    client = object.__new__(MarketFeed)  # no __init__: it would open an event loop
    client.on_close = None
    parsed = client.process_data(encode_packet(packet))  # type: ignore[arg-type]
    if isinstance(packet, MarketStatusPacket):
        assert parsed == "Markets Open"
        return
    if isinstance(packet, DisconnectPacket):
        assert parsed is None  # the client prints the reason and calls on_close
        return
    assert parsed["security_id"] == packet.security_id  # type: ignore[attr-defined]
    assert parsed["exchange_segment"] == packet.segment  # type: ignore[attr-defined]
    if isinstance(packet, TickerPacket | QuotePacket | FullPacket):
        assert parsed["LTP"] == f"{packet.ltp:.2f}"
        assert parsed["LTT"] == datetime.fromtimestamp(packet.ltt, UTC).strftime("%H:%M:%S")
    if isinstance(packet, FullPacket):
        assert parsed["OI"] == packet.oi
        assert parsed["depth"][0]["bid_quantity"] == packet.depth[0].bid_qty
        assert parsed["depth"][0]["ask_price"] == f"{packet.depth[0].ask_price:.2f}"
    if isinstance(packet, OIPacket):
        assert parsed["OI"] == packet.oi
    if isinstance(packet, PrevClosePacket):
        assert parsed["prev_close"] == f"{packet.prev_close:.2f}"


def test_ltt_conversion_round_trips() -> None:
    when = datetime(2024, 10, 9, 9, 59, 55, tzinfo=UTC)
    assert ltt_from_utc(when) == 1728487795
    assert utc_from_ltt(ltt_from_utc(when)) == when
    with pytest.raises(ValueError, match="naive"):
        ltt_from_utc(datetime(2024, 10, 9))  # noqa: DTZ001


def test_split_packets_by_length_field() -> None:
    ticker, oi = encode_packet(SAMPLES[0]), encode_packet(SAMPLES[3])
    assert split_packets(ticker + oi + ticker) == [ticker, oi, ticker]
    with pytest.raises(MalformedDataError, match="claims"):
        split_packets(ticker + oi[:-1])


@pytest.mark.parametrize(("data", "message"), [
    (b"\x02\x10\x00", "shorter than a header"),
    (b"\x63\x08\x00\x02\x01\x00\x00\x00", "unknown feed response code 99"),
    (b"\x08\xa2\x00\x02\x01\x00\x00\x00" + b"\x00" * 20, "needs 162"),
])
def test_bad_packets_raise_malformed_data(data: bytes, message: str) -> None:
    with pytest.raises(MalformedDataError, match=message):
        decode_packet(data)


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(MalformedDataError, match="out of range"):
        encode_packet(QuotePacket(2, 1, 1.0, 70_000, 0, 0.0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0))


@pytest.mark.parametrize(("name", "code"), [("IDX_I", 0), ("NSE_EQ", 1), ("NSE_FNO", 2),
                                            ("NSE_CURRENCY", 3), ("BSE_EQ", 4),
                                            ("MCX_COMM", 5), ("BSE_CURRENCY", 7),
                                            ("BSE_FNO", 8)])
def test_segment_enum_both_ways(name: str, code: int) -> None:
    assert segment_code(name) == code
    assert segment_name(code) == name
    assert ExchangeSegment[name] == code


def test_unknown_segments_raise() -> None:
    with pytest.raises(MalformedDataError, match="NSE_XYZ"):
        segment_code("NSE_XYZ")
    with pytest.raises(MalformedDataError, match="6"):
        segment_name(6)


@pytest.mark.parametrize(("text", "status"), [
    ("Cancelled", "CANCELLED"), ("TRADED", "TRADED"), ("Part_Traded", "PART_TRADED"),
    (" pending ", "PENDING"), ("part traded", "PART_TRADED"), ("Transit", "TRANSIT"),
])
def test_normalise_status(text: str, status: str) -> None:
    assert normalise_status(text) == status


def test_normalise_status_rejects_unknown() -> None:
    with pytest.raises(MalformedDataError, match="FILLED"):
        normalise_status("FILLED")


@pytest.mark.parametrize(("key", "segment"), [(("NSE", "I"), "IDX_I"), (("BSE", "I"), "IDX_I"),
                                              (("NSE", "D"), "NSE_FNO"),
                                              (("BSE", "D"), "BSE_FNO"),
                                              (("NSE", "E"), "NSE_EQ")])
def test_scrip_master_segments(key: tuple[str, str], segment: str) -> None:
    assert SCRIP_MASTER_SEGMENTS[key] == segment


def test_update_code_tables_invert() -> None:
    assert invert(PRODUCT_UPDATE_CODES)["I"] == "INTRADAY"
    assert invert(ORDER_TYPE_UPDATE_CODES)["MKT"] == "MARKET"


def test_subscription_messages_batch_by_100() -> None:
    instruments = [("NSE_FNO", 1000 + i) for i in range(250)]
    messages = subscription_messages(FeedRequest.SUBSCRIBE_QUOTE, instruments)
    assert [m["InstrumentCount"] for m in messages] == [100, 100, 50]
    assert messages[0]["RequestCode"] == 17
    assert messages[2]["InstrumentList"][-1] == {"ExchangeSegment": "NSE_FNO",
                                                 "SecurityId": "1249"}
    with pytest.raises(ValueError, match="not a subscribe"):
        subscription_messages(12, instruments)


def test_parse_feed_request_accepts_string_and_number_ids() -> None:
    message = parse_feed_request('{"RequestCode": 15, "InstrumentCount": 2, "InstrumentList": '
                                 '[{"ExchangeSegment": "NSE_FNO", "SecurityId": "35084"}, '
                                 '{"ExchangeSegment": "IDX_I", "SecurityId": 13}]}')
    assert message.code == 15
    assert message.instruments == (("NSE_FNO", 35084), ("IDX_I", 13))
    assert parse_feed_request('{"RequestCode": 12}').instruments == ()


@pytest.mark.parametrize("text", ["not json", '{"InstrumentList": []}',
                                  '{"RequestCode": 15, "InstrumentList": [{"SecurityId": 1}]}'])
def test_parse_feed_request_rejects_bad_messages(text: str) -> None:
    with pytest.raises(MalformedDataError, match="bad market-feed request"):
        parse_feed_request(text)
