"""Rate windows, per-key spacing and backoff on a fake clock."""

from __future__ import annotations

import random

import pytest

from brokers.dhan.limits import Backoff, KeySpacing, WindowLimit, family_limits
from core.config import DhanConfig


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_window_allows_the_limit_then_waits_for_the_oldest_call_to_leave() -> None:
    t = FakeTime()
    limit = WindowLimit(10, 1.0, t.clock, t.sleep)
    for _ in range(10):
        assert limit.acquire() == 0.0
    assert limit.acquire() == pytest.approx(1.0)
    t.now += 5.0
    assert sum(limit.acquire() for _ in range(10)) == 0.0


def test_no_minute_window_ever_sees_more_than_250_orders() -> None:
    t = FakeTime()
    limits = family_limits(DhanConfig(), t.clock, t.sleep)["orders"]
    stamps = []
    for _ in range(600):
        for limit in limits:
            limit.acquire()
        stamps.append(t.now)
    assert max(sum(1 for s in stamps if start <= s < start + 60.0) for start in stamps) == 250
    assert max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps) == 10
    assert stamps[249] == pytest.approx(24.0)  # 10 a second until the minute is used up
    assert stamps[250] == pytest.approx(60.0)


def test_option_chain_key_spacing_is_per_key() -> None:
    t = FakeTime()
    spacing = KeySpacing(3.0, t.clock, t.sleep)
    assert spacing.acquire((13, "IDX_I", "2024-10-10")) == 0.0
    assert spacing.acquire((13, "IDX_I", "2024-10-17")) == 0.0
    assert spacing.acquire((13, "IDX_I", "2024-10-10")) == pytest.approx(3.0)


@pytest.mark.parametrize(("attempt", "lo", "hi"), [
    (0, 0.375, 0.625), (1, 0.75, 1.25), (2, 1.5, 2.5), (5, 6.0, 10.0), (10, 6.0, 10.0)])
def test_backoff_is_exponential_capped_and_jittered(attempt: int, lo: float, hi: float) -> None:
    backoff = Backoff(0.5, 8.0, 0.25, random.Random(attempt))
    delays = {round(backoff.delay(attempt), 6) for _ in range(20)}
    assert all(lo <= d <= hi for d in delays)
    assert len(delays) > 1  # jitter spreads clients that failed together
