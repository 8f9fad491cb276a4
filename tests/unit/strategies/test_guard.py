from dataclasses import replace
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest

from core.clock import IST
from core.errors import ConfigError
from core.instruments import OptionContract, OptionType
from strategies.logic.guard import GuardParams, GuardState, OpenPosition, allowed, check_entry
from strategies.logic.types import Check

NOW = datetime(2024, 10, 9, 11, 0, tzinfo=IST)
CE, PE = OptionType.CALL, OptionType.PUT
PARAMS = GuardParams()


def _contract(sid: int = 500, kind: OptionType = CE, underlying: str = "NIFTY"
              ) -> OptionContract:
    return OptionContract(security_id=sid, segment="NSE_FNO", underlying=underlying,
                          expiry=date(2024, 10, 10), strike=24500.0, option_type=kind,
                          lot_size=25)


def _state(**changes) -> GuardState:
    fresh = GuardState(index_quote_ts=NOW - timedelta(seconds=1),
                       option_quote_ts=NOW - timedelta(seconds=2))
    return replace(fresh, **changes)


def _failed(checks: tuple[Check, ...]) -> set[str]:
    return {c.name for c in checks if not c.passed}


def test_clean_state_allows_entry_and_reports_every_check():
    checks = check_entry(_contract(), _state(), PARAMS, NOW)
    assert allowed(checks)
    assert [c.name for c in checks] == [
        "kill_switch", "breaker", "trading_window", "max_positions", "same_side",
        "same_side_profit", "already_held", "cooldown", "order_in_flight", "index_quote",
        "option_quote"]


def test_allowed_needs_checks():
    assert not allowed(())
    assert not allowed((Check("a", True), Check("b", False)))


@pytest.mark.parametrize(("positions", "blocked"), [
    # three open anywhere: the pyramiding limit
    ([(1, PE, "NIFTY", 10.0), (2, CE, "BANKNIFTY", 5.0), (3, PE, "SENSEX", 1.0)],
     {"max_positions"}),
    # two NIFTY CE already: same-side limit (both in profit)
    ([(1, CE, "NIFTY", 10.0), (2, CE, "NIFTY", 5.0)], {"same_side"}),
    # one NIFTY CE losing: no second same-side entry
    ([(1, CE, "NIFTY", -1.0)], {"same_side_profit"}),
    # flat is not profit
    ([(1, CE, "NIFTY", 0.0)], {"same_side_profit"}),
    # one NIFTY CE in profit: a second is allowed
    ([(1, CE, "NIFTY", 250.0)], set()),
    # other side or other index does not count as same side
    ([(1, PE, "NIFTY", -300.0), (2, CE, "BANKNIFTY", -50.0)], set()),
    # the candidate itself already held
    ([(500, CE, "NIFTY", 100.0)], {"already_held"}),
])
def test_position_limits(positions, blocked):
    checks = check_entry(_contract(), _state(open_positions=tuple(positions)), PARAMS, NOW)
    assert _failed(checks) == blocked


def test_same_side_limit_from_params():
    state = _state(open_positions=((1, CE, "NIFTY", 10.0),))
    checks = check_entry(_contract(), state, GuardParams(max_same_side=1), NOW)
    assert _failed(checks) == {"same_side"}


def test_positions_given_as_plain_tuples_with_string_type():
    state = _state(open_positions=((1, "CE", "nifty", -5.0),))
    assert state.open_positions[0] == OpenPosition(1, CE, "nifty", -5.0)
    assert _failed(check_entry(_contract(), state, PARAMS, NOW)) == {"same_side_profit"}


def test_positions_with_numpy_or_string_fields_are_normalised():
    exact = OpenPosition(7, CE, "NIFTY", 12.5)
    loose = OpenPosition(np.int64(7), "CE", "NIFTY", np.float64(12.5))
    state = _state(open_positions=(exact, loose))
    assert state.open_positions == (exact, exact)
    assert [type(v) for v in state.open_positions[1]] == [int, OptionType, str, float]


@pytest.mark.parametrize(("seconds_since_exit", "blocked"), [
    (0, True), (179.9, True), (180, False), (600, False), (-5, True),
])
def test_cooldown_per_contract(seconds_since_exit, blocked):
    state = _state(last_exit_at={500: NOW - timedelta(seconds=seconds_since_exit),
                                 501: NOW})
    checks = check_entry(_contract(500), state, PARAMS, NOW)
    assert ("cooldown" in _failed(checks)) is blocked


def test_cooldown_of_another_contract_does_not_block():
    state = _state(last_exit_at={501: NOW})
    assert allowed(check_entry(_contract(500), state, PARAMS, NOW))


@pytest.mark.parametrize(("change", "name"), [
    ({"breaker_tripped": True}, "breaker"),
    ({"kill_switch": True}, "kill_switch"),
    ({"orders_in_flight": frozenset({500})}, "order_in_flight"),
    ({"index_quote_ts": None}, "index_quote"),
    ({"option_quote_ts": None}, "option_quote"),
    ({"index_quote_ts": NOW - timedelta(seconds=5.001)}, "index_quote"),
    ({"option_quote_ts": NOW - timedelta(seconds=30)}, "option_quote"),
])
def test_blocks(change, name):
    checks = check_entry(_contract(), _state(**change), PARAMS, NOW)
    assert _failed(checks) == {name}


@pytest.mark.parametrize("age", [0.0, 4.999, 5.0, -2.0])
def test_fresh_quotes_pass(age):
    state = _state(index_quote_ts=NOW - timedelta(seconds=age),
                   option_quote_ts=NOW - timedelta(seconds=age))
    assert allowed(check_entry(_contract(), state, PARAMS, NOW))


def test_other_order_in_flight_does_not_block():
    state = _state(orders_in_flight={777})
    assert allowed(check_entry(_contract(500), state, PARAMS, NOW))


@pytest.mark.parametrize(("wall", "ok"), [
    (time(9, 14, 59), False), (time(9, 15), True), (time(14, 59, 59), True),
    (time(15, 0), False), (time(15, 10), False),
])
def test_trading_window(wall, ok):
    now = datetime.combine(date(2024, 10, 9), wall, tzinfo=IST)
    state = _state(index_quote_ts=now, option_quote_ts=now)
    checks = check_entry(_contract(), state, PARAMS, now)
    assert allowed(checks) is ok
    assert _failed(checks) == (set() if ok else {"trading_window"})


def test_window_can_be_disabled():
    now = datetime(2024, 10, 9, 15, 10, tzinfo=IST)
    state = _state(index_quote_ts=now, option_quote_ts=now)
    params = GuardParams(no_entries_after=None, no_entries_before=None)
    assert allowed(check_entry(_contract(), state, params, now))


def test_state_is_frozen_including_the_exit_map():
    exits = {500: NOW}
    state = _state(last_exit_at=exits)
    exits.clear()  # the caller's dict changing later must not change the state
    assert _failed(check_entry(_contract(), state, PARAMS, NOW)) == {"cooldown"}
    with pytest.raises(TypeError):
        state.last_exit_at[1] = NOW  # type: ignore[index]


def test_failed_checks_say_why():
    state = _state(open_positions=((1, CE, "NIFTY", -120.5),),
                   last_exit_at={500: NOW - timedelta(seconds=60)})
    details = {c.name: c.detail for c in check_entry(_contract(), state, PARAMS, NOW)}
    assert details["same_side_profit"] == "not in profit: 1 pnl -120.50"
    assert details["cooldown"].startswith("60s since exit")


@pytest.mark.parametrize("overrides", [
    {"max_positions": 0}, {"max_same_side": 4}, {"cooldown_s": -1.0},
    {"max_quote_age_s": 0.0}, {"max_quote_age_s": float("nan")},
])
def test_bad_guard_params(overrides):
    with pytest.raises(ConfigError):
        GuardParams(**overrides)
