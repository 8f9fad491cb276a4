"""Per-day order-number blocks and one-line error descriptions (jobs/daytasks.py)."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from jobs.daytasks import describe_error, first_order_number, order_numbers_per_day
from strategies.logic.tags import correlation_id


@pytest.mark.parametrize(("n_days", "per_day"), [
    (1, 1000), (20, 1000), (99, 1000), (100, 999), (250, 399), (1999, 50),
])
def test_each_day_owns_a_block_of_order_numbers(n_days: int, per_day: int) -> None:
    assert order_numbers_per_day(n_days) == per_day
    last = first_order_number(n_days - 1, per_day) + per_day - 1
    assert last <= 99_999  # the last day's last number still fits 5 digits
    # so the longest run tag plus any number of the run is a valid correlation suffix
    assert correlation_id("entry_NIFTY_CE_24500", f"zzzzzzz{last:05d}")


def test_blocks_are_disjoint_and_start_at_one() -> None:
    per_day = order_numbers_per_day(5)
    starts = [first_order_number(i, per_day) for i in range(5)]
    assert starts == [1, 1001, 2001, 3001, 4001]


def test_too_many_days_for_five_digits_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"data.days: 2001 sessions .* at most 1999"):
        order_numbers_per_day(2001)


def test_describe_error_names_type_message_and_place() -> None:
    try:
        {}["missing"]
    except KeyError as error:
        text = describe_error(error)
    assert text.startswith("KeyError: 'missing' (at test_daytasks.py:")
    assert describe_error(ValueError("two\nlines")) == "ValueError: two"
