"""Recording the emulator's feed into a catalog, and reading it back."""

from __future__ import annotations

import threading
import time
from datetime import date

import numpy as np
import pytest

from brokers.dhan.client import Credentials
from brokers.dhan.feed import MarketFeedClient
from brokers.dhan.parsing import Packet, QuotePacket
from core.config import DhanConfig
from feeds.catalog import Catalog
from feeds.recorder import BandSpec, TickRecorder, record_loop
from tests.integration.emulator_support import (
    DAY,
    INDEX_ID,
    admin,
    serve,
    shared_catalog,
    wait_until,
)


def _f32(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def test_a_recorded_session_reads_back_as_the_ticks_served(
        tmp_path_factory: pytest.TempPathFactory, tmp_path) -> None:  # noqa: ANN001
    source = Catalog(shared_catalog(tmp_path_factory))
    contracts = source.read_contracts("NIFTY", DAY).to_pylist()
    expiry = min(r["expiry"] for r in contracts if r["expiry"] is not None)
    out = Catalog(tmp_path / "recorded")
    recorder = TickRecorder(out, "NIFTY", DAY, contracts, BandSpec(INDEX_ID, 50.0, 1,
                                                                   (expiry,)))
    index_ltp: list[float] = []

    def on_packet(packet: Packet, receive_ns: int) -> None:
        if isinstance(packet, QuotePacket) and packet.security_id == INDEX_ID:
            index_ltp.append(packet.ltp)
        recorder.on_packet(packet, receive_ns)

    with serve(tmp_path_factory) as server:
        feed = MarketFeedClient(Credentials(server.settings.client_id,
                                            server.settings.access_token), on_packet,
                                DhanConfig(feed_reconnect_base_s=0.05), url=server.feed_url)
        feed.start()
        stop = threading.Event()
        loop = threading.Thread(target=record_loop, kwargs={
            "recorder": recorder, "subscribe": feed.subscribe,
            "index_ltp": lambda: index_ltp[-1] if index_ltp else None,
            "connected": lambda: feed.status.connected, "now_ns": time.monotonic_ns,
            "wait": stop.wait, "flush_s": 0.3, "step_s": 0.05})
        try:
            assert feed.wait_connected()
            feed.subscribe([("IDX_I", INDEX_ID)])
            loop.start()
            assert wait_until(lambda: len(feed.subscribed()) > 1)
            admin(server, "clock", {"speed": 30, "action": "start"})
            assert wait_until(lambda: out.has_ticks("NIFTY", DAY)
                              and len(out.read_ticks("NIFTY", DAY)["ts"]) > 40)
        finally:
            stop.set()
            loop.join(5)
            feed.stop()
    got = out.read_ticks("NIFTY", DAY)
    served = source.read_ticks("NIFTY", DAY)
    recorded_ids = set(got["security_id"].tolist())
    assert INDEX_ID in recorded_ids
    assert len(recorded_ids) >= 3  # index + the band's calls and puts
    for sid in recorded_ids:
        mine, theirs = got["security_id"] == sid, served["security_id"] == sid
        served_rows = set(zip(_f32(served["ltp"][theirs]).tolist(),
                              np.nan_to_num(_f32(served["bid"][theirs])).tolist(),
                              np.nan_to_num(_f32(served["ask"][theirs])).tolist(),
                              strict=True))
        recorded_rows = set(zip(_f32(got["ltp"][mine]).tolist(),
                                np.nan_to_num(_f32(got["bid"][mine])).tolist(),
                                np.nan_to_num(_f32(got["ask"][mine])).tolist(), strict=True))
        assert recorded_rows <= served_rows, sid
        # exchange time: the served tick's trade time, on the replayed day, never ahead
        assert np.isin(got["ts"][mine], served["ts"][theirs]).all(), sid
    assert (got["recv_ts"] > 0).all()
    written = {r["security_id"]: r for r in out.read_contracts("NIFTY", DAY).to_pylist()}
    assert set(written) == recorded_ids
    assert all(written[sid] == next(r for r in contracts if r["security_id"] == sid)
               for sid in written)


def test_outages_are_written_as_gaps(tmp_path) -> None:  # noqa: ANN001
    recorder = TickRecorder(Catalog(tmp_path), "NIFTY", date(2024, 10, 9), [],
                            BandSpec(13, 50.0, 1, ()))
    recorder.gap_started(100)
    recorder.gap_started(150)  # still down: the same gap
    recorder.gap_ended(200)
    recorder.gap_started(300)
    assert recorder.flush() == 0
    assert recorder.gaps_path().read_text() == \
        '[{"start_ns": 100, "end_ns": 200}, {"start_ns": 300, "end_ns": null}]'
