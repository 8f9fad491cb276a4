import math
from datetime import UTC, date, datetime, time, timedelta

import pytest

from core.clock import IST
from core.errors import ConfigError
from strategies.logic.exits import (
    ExitParams,
    PositionState,
    breaker_exits,
    breaker_tripped,
    kill_switch_exits,
    on_tick,
    time_exit_due,
    time_exits,
)
from strategies.logic.types import ExitReason

DAY = date(2024, 10, 9)


def ist(hh: int, mm: int, ss: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=IST)


def _position(entry: float = 100.0, qty: int = 75, sid: int = 41001) -> PositionState:
    return PositionState.opened(sid, qty, entry, ist(9, 30))


DEFAULT = ExitParams()


def _run(ticks, params=DEFAULT, start=None, state=None):
    """Feed (ltp, bid) ticks one second apart; return (index of the exit tick, intent, state)."""
    state = state or _position()
    now = start or ist(10, 0)
    for i, (ltp, bid) in enumerate(ticks):
        state, intent = on_tick(state, ltp, bid, now + timedelta(seconds=i), params)
        if intent is not None:
            return i, intent, state
    return None, None, state


def _ltp(*prices):
    return [(p, p - 0.5) for p in prices]


# Golden scenarios: scripted prices -> the exact tick, tag, trigger price and rule level.
@pytest.mark.parametrize(("name", "ticks", "params", "expected"), [
    ("stop loss exactly at 70", _ltp(95, 80, 70.05, 70.0, 65), ExitParams(),
     (3, "stop_loss_30pct", 70.0, 70.0)),
    ("gap through the stop", _ltp(98, 90, 60.0), ExitParams(),
     (2, "stop_loss_30pct", 60.0, 70.0)),
    ("stop loss 25% from config", _ltp(80, 76, 75.0), ExitParams(sl_pct=0.25),
     (2, "stop_loss_25pct", 75.0, 75.0)),
    ("take profit at 160", _ltp(120, 150, 159.95, 160.0), ExitParams(),
     (3, "take_profit_60pct", 160.0, 160.0)),
    ("take profit gap", _ltp(130, 175), ExitParams(), (1, "take_profit_60pct", 175.0, 160.0)),
    ("breakeven then trailing", _ltp(105, 110, 115, 120, 118, 116.45, 116.4),
     ExitParams(), (6, "trailing_stop_3pct", 116.4, 116.4)),
    ("trailing after a gap down", _ltp(112, 140, 101), ExitParams(),
     (2, "trailing_stop_3pct", 101.0, 135.8)),
    ("breakeven stop binds when the trail is wide", _ltp(110, 105, 100.05, 100.0),
     ExitParams(trail_pct=0.15), (3, "breakeven_stop", 100.0, 100.0)),
    ("wide trail above entry", _ltp(112, 130, 111, 110.5), ExitParams(trail_pct=0.15),
     (3, "trailing_stop_15pct", 110.5, 110.5)),
    ("lock removes the 30% stop", _ltp(111, 99), ExitParams(trail_pct=0.15),
     (1, "breakeven_stop", 99.0, 100.0)),
    ("no rule fires", _ltp(99, 101, 108, 95, 71), ExitParams(), None),
])
def test_golden_tick_sequences(name, ticks, params, expected):
    index, intent, _ = _run(ticks, params)
    if expected is None:
        assert intent is None, name
        return
    tick, tag, trigger, level = expected
    assert index == tick, name
    assert intent.tag == tag
    assert intent.trigger_price == trigger
    assert intent.level == pytest.approx(level)
    assert intent.security_id == 41001
    assert intent.quantity == 75


def test_reason_enum_matches_tag():
    _, intent, _ = _run(_ltp(105, 110, 120, 116))
    assert intent.reason is ExitReason.TRAILING_STOP


def test_lock_and_hwm_are_tracked_in_state():
    state = _position()
    state, intent = on_tick(state, 109.95, None, ist(10, 0), ExitParams())
    assert (intent, state.breakeven_locked, state.hwm) == (None, False, 109.95)
    state, intent = on_tick(state, 110.0, None, ist(10, 0, 1), ExitParams())
    assert (intent, state.breakeven_locked, state.hwm) == (None, True, 110.0)
    state, _ = on_tick(state, 108.0, None, ist(10, 0, 2), ExitParams())
    assert state.hwm == 110.0
    assert state.stop_level(ExitParams()) == pytest.approx(106.7)


def test_a_new_high_never_triggers_the_trail():
    # A 0.01% trail exits on any dip, yet a steady climb never exits; one dip then does.
    params = ExitParams(trail_pct=0.0001)
    climb = [110.0 + 0.05 * i for i in range(800)]
    index, intent, state = _run(_ltp(*climb), params)
    assert intent is None
    assert state.hwm == pytest.approx(climb[-1])
    _, intent, _ = _run(_ltp(climb[-1] - 0.05), params, state=state)
    assert intent.tag == "trailing_stop_0p01pct"


def test_zero_trigger_locks_but_cannot_exit_on_the_locking_tick():
    params = ExitParams(breakeven_trigger_pct=0.0, trail_pct=0.5)
    state, intent = on_tick(_position(), 100.0, None, ist(10, 0), params)
    assert intent is None
    assert state.breakeven_locked
    _, intent = on_tick(state, 100.0, None, ist(10, 0, 1), params)
    assert intent.tag == "breakeven_stop"


@pytest.mark.parametrize(("when", "exits"), [
    (ist(15, 19, 59), False),
    (ist(15, 20, 0), True),
    (ist(15, 25), True),
    (ist(10, 0, day=date(2024, 10, 10)), True),  # overnight carry is never allowed
])
def test_time_exit_boundary(when, exits):
    _, intent = on_tick(_position(), 100.0, 99.5, when, ExitParams())
    assert (intent is not None) is exits
    if exits:
        assert (intent.tag, intent.reason, intent.trigger_price, intent.level) == (
            "time_exit_1520", ExitReason.TIME_EXIT, 100.0, None)


def test_time_exit_comes_before_the_stop_and_uses_configured_time():
    _, intent = on_tick(_position(), 60.0, None, ist(15, 20), ExitParams())
    assert intent.tag == "time_exit_1520"
    params = ExitParams(time_exit=time(15, 10))
    _, intent = on_tick(_position(), 100.0, None, ist(15, 10), params)
    assert intent.tag == "time_exit_1510"


def test_time_exit_at_utc_instant():
    # 15:20 IST is 09:50 UTC: the rule reads IST wall time whatever the zone of `now`.
    now = datetime(2024, 10, 9, 9, 50, tzinfo=UTC)
    _, intent = on_tick(_position(), 100.0, None, now, ExitParams())
    assert intent.tag == "time_exit_1520"
    _, intent = on_tick(_position(), 100.0, None, now - timedelta(seconds=1), ExitParams())
    assert intent is None


@pytest.mark.parametrize(("now", "due"), [
    (ist(0, 0), False),  # the entry day's first instant
    (ist(15, 19, 59) + timedelta(microseconds=999_999), False),
    (ist(15, 20), True),
    (ist(0, 0, day=date(2024, 10, 10)), True),
    (ist(15, 30, day=date(2024, 10, 8)), True),  # dated before the entry day: wall clock
    (ist(15, 0, day=date(2024, 10, 8)), False),
])
def test_time_exit_due_around_the_entry_day(now, due):
    # A cached exit instant answers on and after the entry's IST day; earlier ticks read the
    # wall clock as the rule says; the zone of `now` or of the entry never matters.
    for entry in (ist(9, 30), ist(9, 30).astimezone(UTC)):
        state = PositionState.opened(1, 75, 100.0, entry)
        for when in (now, now.astimezone(UTC)):
            assert time_exit_due(state, when, DEFAULT) is due


def test_time_exit_due_rejects_a_naive_now():
    with pytest.raises(ValueError, match="naive"):
        time_exit_due(_position(), datetime(2024, 10, 9, 10, 0), DEFAULT)  # noqa: DTZ001


def test_a_tick_below_the_high_water_mark_keeps_the_state():
    state, _ = on_tick(_position(), 104.0, None, ist(10, 0), DEFAULT)
    assert (state.hwm, state.breakeven_locked) == (104.0, False)
    same, intent = on_tick(state, 103.0, None, ist(10, 0, 1), DEFAULT)
    assert intent is None
    assert same == state


@pytest.mark.parametrize(("mode", "ltp", "bid", "tag", "trigger"), [
    ("ltp", 71.0, 69.9, None, None),
    ("bid", 71.0, 69.9, "stop_loss_30pct", 69.9),
    ("ltp", 160.0, 158.0, "take_profit_60pct", 160.0),
    ("bid", 160.0, 158.0, None, None),
    ("bid", 165.0, 160.0, "take_profit_60pct", 160.0),
])
def test_bid_mode_vs_ltp_mode(mode, ltp, bid, tag, trigger):
    _, intent = on_tick(_position(), ltp, bid, ist(10, 0), ExitParams(exit_price=mode))
    assert (intent.tag if intent else None) == tag
    if intent:
        assert intent.trigger_price == trigger


def test_bid_mode_tracks_the_hwm_on_the_bid():
    params = ExitParams(exit_price="bid")
    ticks = [(112.0, 111.0), (125.0, 120.0), (125.0, 116.5), (125.0, 116.0)]
    index, intent, state = _run(ticks, params)
    assert state.hwm == 120.0
    assert (index, intent.tag, intent.trigger_price) == (3, "trailing_stop_3pct", 116.0)


@pytest.mark.parametrize(("mode", "ltp", "bid"), [
    ("ltp", None, 50.0), ("ltp", float("nan"), 50.0), ("ltp", 0.0, 50.0),
    ("ltp", -1.0, 50.0), ("ltp", float("inf"), 50.0),
    ("bid", 50.0, None), ("bid", 50.0, float("nan")), ("bid", 50.0, 0.0),
])
def test_bad_price_gives_no_decision_and_keeps_state(mode, ltp, bid):
    state = _position()
    new_state, intent = on_tick(state, ltp, bid, ist(15, 25), ExitParams(exit_price=mode))
    assert intent is None
    assert new_state is state


@pytest.mark.parametrize(("realised", "unrealised", "tripped"), [
    (-4000.0, -2000.0, True),   # exactly -6% of 100,000
    (-4000.0, -1999.99, False),
    (1000.0, -7000.0, True),
    (-7000.0, 2000.0, False),
    (0.0, 0.0, False),
])
def test_breaker_tripped(realised, unrealised, tripped):
    assert breaker_tripped(100_000.0, realised, unrealised, ExitParams()) is tripped


def test_breaker_uses_configured_pct():
    assert breaker_tripped(100_000.0, -3000.0, 0.0, ExitParams(breaker_pct=0.03))
    assert not breaker_tripped(100_000.0, -3000.0, 0.0, ExitParams())


@pytest.mark.parametrize("args", [
    (0.0, 0.0, 0.0), (float("nan"), 0.0, 0.0), (100_000.0, float("nan"), 0.0),
    (100_000.0, 0.0, float("inf")),
])
def test_breaker_rejects_bad_inputs(args):
    with pytest.raises(ValueError, match="breaker_tripped"):
        breaker_tripped(*args, ExitParams())


def test_breaker_and_kill_switch_exits_flatten_every_position():
    positions = [_position(sid=1, qty=75), _position(sid=2, qty=150)]
    exits = breaker_exits(positions, ExitParams(), prices={1: 88.0})
    assert [(e.security_id, e.quantity, e.tag, e.reason) for e in exits] == [
        (1, 75, "circuit_breaker_6pct", ExitReason.CIRCUIT_BREAKER),
        (2, 150, "circuit_breaker_6pct", ExitReason.CIRCUIT_BREAKER)]
    assert exits[0].trigger_price == 88.0
    assert math.isnan(exits[1].trigger_price)
    kills = kill_switch_exits(positions, ExitParams())
    assert [(e.security_id, e.tag) for e in kills] == [(1, "kill_switch"), (2, "kill_switch")]


def test_timer_time_exits_only_when_due():
    positions = [_position(sid=1), _position(sid=2)]
    assert time_exits(positions, ist(15, 19, 59), ExitParams()) == []
    due = time_exits(positions, ist(15, 20), ExitParams(), prices={2: 91.5})
    assert [(e.security_id, e.tag) for e in due] == [(1, "time_exit_1520"),
                                                     (2, "time_exit_1520")]
    assert due[1].trigger_price == 91.5


@pytest.mark.parametrize("overrides", [
    {"sl_pct": 0.0}, {"sl_pct": 1.0}, {"tp_pct": 0.0}, {"trail_pct": 0.0},
    {"breaker_pct": float("nan")}, {"breakeven_trigger_pct": -0.1}, {"exit_price": "mid"},
])
def test_bad_exit_params_are_config_errors(overrides):
    with pytest.raises(ConfigError):
        ExitParams(**overrides)


@pytest.mark.parametrize(("entry", "qty"), [(0.0, 75), (float("nan"), 75), (100.0, 0)])
def test_opened_rejects_bad_positions(entry, qty):
    with pytest.raises(ValueError, match="position 41001"):
        PositionState.opened(41001, qty, entry, ist(9, 30))
