"""The emulator's rate limits (wall time injected) and fault-knob validation."""

from __future__ import annotations

import pytest

from sim.dhan_emulator.faults import Faults
from sim.dhan_emulator.limits import RateLimits, RateLimitSettings, SlidingWindows


class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_sliding_windows_enforce_every_window() -> None:
    windows = SlidingWindows([(3, 1.0), (5, 60.0)])
    assert [windows.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert windows.allow(1.0)  # the 1 s window has rolled on
    assert windows.allow(1.1)
    assert not windows.allow(2.5)  # 5 in the last minute
    assert windows.allow(61.0)


def test_refused_requests_do_not_count() -> None:
    windows = SlidingWindows([(1, 1.0)])
    assert windows.allow(0.0)
    assert not windows.allow(0.5)
    assert windows.allow(1.0)


@pytest.mark.parametrize(("group", "per_second"), [("orders", 10), ("data", 5), ("quotes", 1),
                                                   ("other", 20)])
def test_dhan_limits_per_second(group: str, per_second: int) -> None:
    wall = FakeWall()
    limits = RateLimits(RateLimitSettings(), wall)
    assert sum(limits.allow(group) for _ in range(per_second + 3)) == per_second
    wall.t += 1.0
    assert limits.allow(group)


def test_orders_per_minute() -> None:
    wall = FakeWall()
    limits = RateLimits(RateLimitSettings(), wall)
    allowed = 0
    for _ in range(60):
        allowed += sum(limits.allow("orders") for _ in range(10))
        wall.t += 1.0
    assert allowed == 250


def test_option_chain_one_unique_request_per_spacing() -> None:
    wall = FakeWall()
    limits = RateLimits(RateLimitSettings(option_chain_seconds=3.0), wall)
    key = ("optionchain", 13, "IDX_I", "2024-10-10")
    assert limits.allow_option_chain(key)
    assert not limits.allow_option_chain(key)
    assert limits.allow_option_chain(("optionchain", 13, "IDX_I", "2024-10-17"))
    wall.t += 3.0
    assert limits.allow_option_chain(key)


def test_disabled_limits_allow_everything() -> None:
    limits = RateLimits(RateLimitSettings(enabled=False), FakeWall())
    assert all(limits.allow("quotes") for _ in range(50))
    assert all(limits.allow_option_chain(("k",)) for _ in range(5))


def test_fault_knobs_update_and_count_down() -> None:
    faults = Faults()
    faults.update({"stall_ids": [5, 7], "storm_requests": 2, "ack_delay_ms": 250,
                   "fail_status": {"positions": 502}, "delay_seconds": {"orders": 1.5}})
    assert faults.feed_stalled(5)
    assert not faults.feed_stalled(6)
    assert [faults.take_storm() for _ in range(3)] == [True, True, False]
    assert faults.to_json()["fail_status"] == {"positions": 502}
    faults.update({"stall_feed": True})
    assert faults.feed_stalled(6)


@pytest.mark.parametrize(("body", "message"), [
    ({"stall_feed": "yes"}, "stall_feed must be true or false"),
    ({"storm_requests": 1.5}, "storm_requests must be a whole number"),
    ({"fail_status": {"orders": 404}}, "must be a 5xx status"),
    ({"fail_status": {"ledger": 500}}, "unknown route group"),
    ({"delay_seconds": {"orders": -1}}, "must be >= 0"),
    ({"stall": True}, "unknown fault knob"),
])
def test_bad_fault_knobs_are_named(body: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults().update(body)
