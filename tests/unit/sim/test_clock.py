"""ReplayClock: paced and max-speed replay time against an injected wall clock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from sim.clock import ReplayClock, parse_speed

OPEN = datetime(2024, 10, 9, 3, 45, tzinfo=UTC)  # 09:15 IST
CLOSE = datetime(2024, 10, 9, 10, 0, tzinfo=UTC)  # 15:30 IST


class FakeWall:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(("text", "expected"), [
    ("max", None), ("MAX", None), ("1", 1.0), ("10x", 10.0), (2.5, 2.5), ("0.5", 0.5),
])
def test_parse_speed(text: str | float, expected: float | None) -> None:
    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "fast", "inf", "nan", ""])
def test_parse_speed_rejects_bad_values(text: str) -> None:
    with pytest.raises(ValueError, match="speed must be"):
        parse_speed(text)


def test_paced_clock_runs_speed_times_the_wall_and_pauses() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, CLOSE, speed=10, wall=wall)
    wall.t += 5
    assert clock.now() == OPEN  # starts paused
    clock.start()
    wall.t += 3
    assert clock.now() == OPEN + timedelta(seconds=30)
    clock.pause()
    wall.t += 100
    assert clock.now() == OPEN + timedelta(seconds=30)
    clock.start()
    wall.t += 1
    assert clock.now() == OPEN + timedelta(seconds=40)


def test_now_is_tz_aware_utc() -> None:
    clock = ReplayClock(OPEN, CLOSE, wall=FakeWall())
    assert clock.now().tzinfo is UTC


def test_clock_stops_at_end_and_reports_finished() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, CLOSE, speed=1000, wall=wall)
    clock.start()
    wall.t += 10 * 3600
    assert clock.now() == CLOSE
    assert clock.finished()


def test_speed_change_keeps_replay_time_continuous() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, CLOSE, speed=1, wall=wall)
    clock.start()
    wall.t += 60
    clock.set_speed(60)
    assert clock.now() == OPEN + timedelta(minutes=1)
    wall.t += 1
    assert clock.now() == OPEN + timedelta(minutes=2)


def test_seek_moves_both_ways_within_bounds() -> None:
    clock = ReplayClock(OPEN, CLOSE, wall=FakeWall())
    clock.seek(OPEN + timedelta(hours=2))
    assert clock.now() == OPEN + timedelta(hours=2)
    clock.seek(OPEN + timedelta(minutes=5))
    assert clock.now() == OPEN + timedelta(minutes=5)
    clock.seek(OPEN - timedelta(days=1))
    assert clock.now() == OPEN
    clock.seek(CLOSE + timedelta(days=1))
    assert clock.now() == CLOSE


def test_max_speed_moves_only_when_advanced_and_never_backwards() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, CLOSE, speed="max", wall=wall)
    clock.start()
    wall.t += 3600
    assert clock.now() == OPEN
    assert clock.is_max
    assert clock.speed is None
    clock.advance_to(OPEN + timedelta(seconds=5))
    clock.advance_to(OPEN + timedelta(seconds=1))  # earlier: ignored
    assert clock.now() == OPEN + timedelta(seconds=5)
    clock.advance(timedelta(seconds=10))
    assert clock.now() == OPEN + timedelta(seconds=15)


def test_seconds_until_follows_the_pace() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, CLOSE, speed=4, wall=wall)
    target = OPEN + timedelta(seconds=8)
    assert clock.seconds_until(target) == math.inf  # paused: it will not get there
    clock.start()
    assert clock.seconds_until(target) == pytest.approx(2.0)
    assert clock.seconds_until(OPEN) == 0.0
    fast = ReplayClock(OPEN, CLOSE, speed="max", wall=wall)
    fast.start()
    assert fast.seconds_until(target) == math.inf


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ReplayClock(datetime(2024, 10, 9, 9, 15), wall=FakeWall())  # noqa: DTZ001
    with pytest.raises(ValueError, match="before its start"):
        ReplayClock(CLOSE, OPEN, wall=FakeWall())
    with pytest.raises(ValueError, match="negative"):
        ReplayClock(OPEN, CLOSE, wall=FakeWall()).advance(timedelta(seconds=-1))


def test_without_end_the_clock_never_finishes() -> None:
    wall = FakeWall()
    clock = ReplayClock(OPEN, speed=1000, wall=wall)
    clock.start()
    wall.t += 10 * 86_400
    assert clock.now() == OPEN + timedelta(days=10_000)
    assert not clock.finished()
    assert clock.end_time is None
    assert clock.start_time == OPEN
