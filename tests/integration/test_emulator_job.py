"""``mode=emulator``: the job simulates the day, serves it, prints the three lines, stops."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import requests

from core.config_check import compose_config
from core.errors import ConfigError
from jobs import dispatch
from jobs.emulator_jobs import serve
from tests.integration.emulator_support import wait_until


def _app(root: Path, days: str = "2024-10-09", speed: str = "1") -> object:
    return compose_config(["mode=emulator", f"data.root={root}", f"data.days={days}",
                           f"data.speed={speed}", "sim.tick_seconds=5",
                           "sim.strikes_each_side=2"])


def test_job_serves_the_day_and_prints_the_client_lines(tmp_path: Path) -> None:
    from dhanhq import DhanContext, dhanhq

    printed: list[str] = []
    stop = threading.Event()
    worker = threading.Thread(target=serve, args=(_app(tmp_path), stop, printed.append))
    worker.start()
    try:
        assert wait_until(lambda: bool(printed), timeout=30)
        text = printed[0]
        base = re.search(r'base_url = "(http://127\.0\.0\.1:\d+/v2)"', text)
        assert base is not None, text
        assert re.search(r'MarketFeed\.market_feed_wss = "ws://127\.0\.0\.1:\d+/feed"', text)
        assert re.search(r'order_update\.order_feed_wss = "ws://127\.0\.0\.1:\d+/order-update"',
                         text)
        client_id = re.search(r"client_id='(\w+)'", text).group(1)
        token = re.search(r"access_token='([\w-]+)'", text).group(1)
        ctx = DhanContext(client_id, token)
        ctx.get_dhan_http().base_url = base.group(1)
        ctx.get_dhan_http().timeout = 5
        assert dhanhq(ctx).expiry_list(13, "IDX_I")["data"]["data"] == ["2024-10-10"]
    finally:
        stop.set()
        worker.join(timeout=15)
    assert not worker.is_alive()
    assert (tmp_path / "ticks" / "underlying=NIFTY" / "date=2024-10-08").is_dir()


def test_job_at_max_speed_waits_paused(tmp_path: Path) -> None:
    printed: list[str] = []
    stop = threading.Event()
    worker = threading.Thread(target=serve, args=(_app(tmp_path, speed="max"), stop,
                                                  printed.append))
    worker.start()
    try:
        assert wait_until(lambda: bool(printed), timeout=30)
        admin = re.search(r"(http://127\.0\.0\.1:\d+/admin)/clock", printed[0])
        assert admin is not None, printed[0]
        state = requests.get(f"{admin.group(1)}/state", timeout=5).json()
        assert state["running"] is False
        assert state["now"] == "2024-10-09T03:45:00+00:00"  # 09:15 IST
    finally:
        stop.set()
        worker.join(timeout=15)
    assert not worker.is_alive()


def test_job_wants_exactly_one_day(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one day"):
        serve(_app(tmp_path, "2024-10-08:2024-10-09"), threading.Event())


def test_dispatch_knows_the_emulator_mode() -> None:
    assert "emulator" in dispatch._jobs()
