"""UTC/IST helpers and the fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from core.clock import FixedClock, ensure_utc, ist_to_utc, ns_from_utc, to_ist, utc_from_ns


def test_ist_is_utc_plus_0530() -> None:
    assert ist_to_utc(date(2024, 10, 9), time(9, 15)) == datetime(2024, 10, 9, 3, 45, tzinfo=UTC)
    assert to_ist(datetime(2024, 10, 9, 10, 0, tzinfo=UTC)).strftime("%H:%M") == "15:30"


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        ensure_utc(datetime(2024, 10, 9, 9, 15))  # noqa: DTZ001 - the point of the test


def test_ns_round_trip() -> None:
    when = datetime(2024, 10, 9, 3, 45, 1, 250_000, tzinfo=UTC)
    assert ns_from_utc(when) == 1_728_445_501_250_000_000
    assert utc_from_ns(ns_from_utc(when)) == when


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2024, 10, 9, 3, 45, tzinfo=UTC))
    clock.advance(timedelta(seconds=90))
    assert clock.now() == datetime(2024, 10, 9, 3, 46, 30, tzinfo=UTC)
