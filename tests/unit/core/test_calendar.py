"""Sessions, holidays, expiry rules with holiday roll-back, trading time."""

from __future__ import annotations

from datetime import date, time

import pytest

from core.calendar import TradingCalendar, parse_days
from core.clock import ist_to_utc
from core.config_check import compose_config
from core.errors import ConfigError, MissingDataError
from core.instruments import IndexRules

CAL = TradingCalendar(["2024-01-20"])


def rules(index: str) -> IndexRules:
    return IndexRules(compose_config([f"index={index}"]).index, CAL)


@pytest.mark.parametrize(("day", "is_session"), [
    (date(2024, 10, 9), True),     # Wednesday
    (date(2024, 10, 12), False),   # Saturday
    (date(2024, 10, 2), False),    # Gandhi Jayanti
    (date(2024, 8, 15), False),    # Independence Day (Thursday)
    (date(2024, 1, 20), True),     # special Saturday session, from config
])
def test_sessions_and_holidays(day: date, is_session: bool) -> None:
    assert CAL.is_session(day) is is_session


def test_session_bounds_are_0915_to_1530_ist_in_utc() -> None:
    open_utc, close_utc = CAL.session_bounds(date(2024, 10, 9))
    assert open_utc.isoformat() == "2024-10-09T03:45:00+00:00"
    assert close_utc.isoformat() == "2024-10-09T10:00:00+00:00"


def test_previous_and_next_session_skip_weekend_and_holiday() -> None:
    assert CAL.previous_session(date(2024, 10, 3)) == date(2024, 10, 1)  # 2 Oct holiday
    assert CAL.next_session(date(2024, 10, 11)) == date(2024, 10, 14)
    assert CAL.sessions_before(date(2024, 10, 7), 2) == [date(2024, 10, 3), date(2024, 10, 4)]


@pytest.mark.parametrize(("index", "day", "expected"), [
    ("nifty", date(2024, 10, 9), date(2024, 10, 10)),      # weekly Thursday (pre Sep 2025)
    ("banknifty", date(2024, 10, 9), date(2024, 10, 9)),   # weekly Wednesday, expiry day itself
    ("sensex", date(2024, 10, 9), date(2024, 10, 11)),     # weekly Friday (2024)
    ("nifty", date(2024, 8, 12), date(2024, 8, 14)),       # Thu 15 Aug holiday -> Wed 14
    ("nifty", date(2025, 9, 1), date(2025, 9, 2)),         # Tuesday from Sep 2025
    ("nifty", date(2025, 10, 15), date(2025, 10, 20)),     # Tue 21 Oct (Diwali) -> Mon 20
    ("sensex", date(2025, 9, 29), date(2025, 10, 1)),      # Thu 2 Oct holiday -> Wed 1
    ("banknifty", date(2025, 10, 1), date(2025, 10, 28)),  # monthly, last Tuesday
    ("banknifty", date(2024, 11, 21), date(2024, 11, 27)), # monthly Wednesday after weeklies
])
def test_nearest_expiry(index: str, day: date, expected: date) -> None:
    assert rules(index).nearest_expiry(day) == expected


def test_expiry_rolled_before_the_day_is_not_listed_on_that_day() -> None:
    # On Thursday 2024-08-15 (holiday) nothing trades; on Wed 14th the rolled expiry is today.
    assert rules("nifty").listed_expiries(date(2024, 8, 14), 2) == [
        date(2024, 8, 14), date(2024, 8, 22)]


@pytest.mark.parametrize(("index", "expiry", "lot"), [
    ("nifty", date(2024, 10, 10), 25), ("nifty", date(2024, 11, 28), 75),
    ("nifty", date(2026, 1, 6), 65), ("banknifty", date(2024, 10, 9), 15),
    ("banknifty", date(2025, 7, 31), 35), ("sensex", date(2024, 10, 11), 10),
    ("sensex", date(2024, 11, 22), 20),
])
def test_lot_size_by_expiry_date(index: str, expiry: date, lot: int) -> None:
    assert rules(index).lot_size(expiry) == lot


@pytest.mark.parametrize(("spot", "atm"), [(24524.9, 24500.0), (24525.0, 24550.0),
                                           (24500.0, 24500.0), (24474.95, 24450.0)])
def test_atm_strike_rounds_to_the_step(spot: float, atm: float) -> None:
    assert rules("nifty").atm_strike(spot) == atm


def test_trading_years_counts_session_minutes_only() -> None:
    start = ist_to_utc(date(2024, 10, 9), time(9, 15))
    # Wed 09:15 -> Thu 15:30: two full sessions of 375 minutes.
    assert CAL.trading_years(start, date(2024, 10, 10)) == pytest.approx(2 / 252)
    # Friday 15:00 -> Monday close: 30 minutes + one session, no weekend.
    fri = ist_to_utc(date(2024, 10, 11), time(15, 0))
    assert CAL.trading_years(fri, date(2024, 10, 14)) == pytest.approx((30 + 375) / (252 * 375))
    assert CAL.trading_years(ist_to_utc(date(2024, 10, 10), time(15, 30)),
                             date(2024, 10, 10)) == 0.0


def test_parse_days_forms() -> None:
    assert parse_days("2024-10-07:2024-10-11", CAL) == [
        date(2024, 10, 7), date(2024, 10, 8), date(2024, 10, 9), date(2024, 10, 10),
        date(2024, 10, 11)]
    assert parse_days("2024-10-09, 2024-10-07", CAL) == [date(2024, 10, 7), date(2024, 10, 9)]
    assert parse_days("2024-09-30:2024-10-04", CAL) == [
        date(2024, 9, 30), date(2024, 10, 1), date(2024, 10, 3), date(2024, 10, 4)]


@pytest.mark.parametrize(("spec", "message"), [
    ("2024-10-12", "not a trading session: 2024-10-12"),
    ("2024-10-11:2024-10-07", "the range ends before it starts"),
    ("2024-10-12:2024-10-13", "holds no trading session"),
    ("yesterday", "data.days='yesterday'"),
    ("", "data.days is empty"),
])
def test_parse_days_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_days(spec, CAL)


def test_days_beyond_the_calendar_say_so() -> None:
    with pytest.raises(MissingDataError, match="outside the exchange calendar"):
        CAL.is_session(date(2031, 1, 1))
