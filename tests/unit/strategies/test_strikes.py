from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from core import black76
from core.clock import IST
from core.errors import ConfigError
from core.instruments import OptionContract, OptionType
from strategies.logic.greeks import enrich_chain
from strategies.logic.strikes import (
    MAX_SCORE,
    StrikeParams,
    atm_score,
    atm_strike,
    candidate_filter,
    delta_floor,
    delta_score,
    efficiency_score,
    iv_score,
    liquidity_score,
    score_quote,
    select_strikes,
)
from strategies.logic.types import ChainQuote, ChainSnapshot, Direction

EXPIRY = date(2024, 10, 10)
CE, PE = OptionType.CALL, OptionType.PUT
NOON = datetime(2024, 10, 9, 12, 0, tzinfo=IST)
PARAMS = StrikeParams(strike_step=50)


def _contract(strike: float, kind: OptionType, expiry: date = EXPIRY) -> OptionContract:
    sid = int(strike) * 10 + (1 if kind is CE else 2)
    return OptionContract(security_id=sid, segment="NSE_FNO", underlying="NIFTY",
                          expiry=expiry, strike=strike, option_type=kind, lot_size=25)


def _q(strike: float, kind: OptionType, ltp: float = 100.0, spread: float | None = 0.005,
       oi: int | None = 600_000, iv: float | None = 0.20, delta: float | None = None
       ) -> ChainQuote:
    """A quote with ``spread`` as (ask - bid) / mid around ``ltp``."""
    if delta is None:
        delta = 0.45 if kind is CE else -0.45
    half = None if spread is None else ltp * spread / 2
    return ChainQuote(contract=_contract(strike, kind), ltp=ltp,
                      bid=None if half is None else ltp - half,
                      ask=None if half is None else ltp + half, oi=oi, iv=iv, delta=delta)


def _chain(quotes, spot: float = 24_510.0) -> ChainSnapshot:
    return ChainSnapshot(underlying="NIFTY", expiry=EXPIRY, spot=spot,
                         at=NOON.astimezone(UTC), quotes=tuple(quotes), strike_step=50)


def _full_chain(spot: float = 24_510.0, **quote_args) -> ChainSnapshot:
    strikes = [24_300.0 + 50 * i for i in range(9)]  # 24300 .. 24700
    return _chain([_q(k, kind, **quote_args) for k in strikes for kind in (CE, PE)], spot)


def _strikes(selection) -> list[float]:
    return [p.contract.strike for p in selection.picks]


@pytest.mark.parametrize(("spot", "step", "atm"), [
    (24_524.9, 50, 24_500.0), (24_525.0, 50, 24_550.0), (24_500.0, 50, 24_500.0),
    (24_475.0, 50, 24_500.0), (24_474.99, 50, 24_450.0),
    (52_049.99, 100, 52_000.0), (52_050.0, 100, 52_100.0),
])
def test_atm_rounds_spot_to_the_configured_step(spot, step, atm):
    assert atm_strike(spot, step) == atm


@pytest.mark.parametrize(("direction", "kind", "expected"), [
    (Direction.BULLISH, CE, [24_500.0, 24_550.0, 24_600.0]),
    (Direction.BEARISH, PE, [24_500.0, 24_450.0, 24_400.0]),
])
def test_candidates_are_atm_and_otm_steps(direction, kind, expected):
    params = replace(PARAMS, top_n=10)
    selection = select_strikes(_full_chain(), direction, params, NOON)
    assert _strikes(selection) == expected  # equal data: ATM preference orders them
    assert all(p.contract.option_type is kind for p in selection.picks)
    assert [p.steps_from_atm for p in selection.picks] == [0, 1, 2]
    assert selection.atm_strike == 24_500.0
    assert selection.rejected == ()


def test_window_of_three_otm_steps():
    params = replace(PARAMS, otm_steps=3, top_n=10)
    selection = select_strikes(_full_chain(), Direction.BEARISH, params, NOON)
    assert sorted(_strikes(selection)) == [24_350.0, 24_400.0, 24_450.0, 24_500.0]


def test_top_n_limits_picks():
    selection = select_strikes(_full_chain(), Direction.BULLISH, PARAMS, NOON)
    assert _strikes(selection) == [24_500.0, 24_550.0]


def test_atm_comes_from_the_step_not_the_chain_keys():
    # Irregular wings (24000, 24300) must not change the 50-point grid.
    quotes = [_q(24_000.0, CE), _q(24_300.0, CE), _q(24_500.0, CE), _q(24_550.0, CE)]
    selection = select_strikes(_chain(quotes), Direction.BULLISH, PARAMS, NOON)
    assert _strikes(selection) == [24_500.0, 24_550.0]
    assert [r.symbol for r in selection.rejected] == ["NIFTY 2024-10-10 24600 CE"]
    assert selection.rejected[0].checks[0].name == "quote"


def test_picks_carry_the_full_contract():
    pick = select_strikes(_full_chain(), Direction.BEARISH, PARAMS, NOON).picks[0]
    assert pick.contract == _contract(24_500.0, PE)
    assert (pick.contract.security_id, pick.contract.segment, pick.contract.lot_size) == (
        245_002, "NSE_FNO", 25)
    assert pick.contract.symbol == "NIFTY 2024-10-10 24500 PE"


def _reject_reason(quote: ChainQuote, now: datetime = NOON) -> dict[str, str]:
    selection = select_strikes(_chain([quote]), Direction.BULLISH,
                               replace(PARAMS, otm_steps=0), now)
    assert selection.picks == ()
    (rejection,) = selection.rejected
    return {c.name: c.detail for c in rejection.checks if not c.passed}


def test_oi_shortfall_is_a_named_check():
    failed = _reject_reason(_q(24_500.0, CE, oi=30_000))
    assert failed == {"oi": "oi 30000 < min 50000 (40% short)"}


@pytest.mark.parametrize(("bid", "ask", "kept"), [
    (98.5, 101.5, True),    # 3.0% of mid 100
    (98.45, 101.55, False),  # 3.1%
    (99.0, 101.0, True),
])
def test_spread_limit_is_relative_to_mid(bid, ask, kept):
    quote = replace(_q(24_500.0, CE), bid=bid, ask=ask)
    selection = select_strikes(_chain([quote]), Direction.BULLISH,
                               replace(PARAMS, otm_steps=0), NOON)
    assert bool(selection.picks) is kept
    if not kept:
        assert _reject_reason(quote) == {"spread": "spread 3.10% vs max 3.00%"}


@pytest.mark.parametrize(("bid", "ask"), [(None, 101.0), (0.0, 101.0), (101.0, 99.0)])
def test_one_sided_or_crossed_quote_fails_spread(bid, ask):
    failed = _reject_reason(replace(_q(24_500.0, CE), bid=bid, ask=ask))
    assert set(failed) == {"spread"}


@pytest.mark.parametrize(("change", "name"), [
    ({"ltp": 0.0}, "ltp"), ({"ltp": float("nan")}, "ltp"), ({"ltp": -1.0}, "ltp"),
    ({"iv": 0.65}, "iv"), ({"iv": 0.09}, "iv"),
])
def test_value_filters(change, name):
    quote = replace(_q(24_500.0, CE), **change)
    assert set(_reject_reason(quote)) == {name}


def test_missing_data_does_not_filter():
    quote = replace(_q(24_500.0, CE), bid=None, ask=None, oi=None, iv=None, delta=None)
    selection = select_strikes(_chain([quote]), Direction.BULLISH,
                               replace(PARAMS, otm_steps=0), NOON)
    (pick,) = selection.picks
    assert {c.name: c.detail for c in pick.checks}["oi"] == "no data"


@pytest.mark.parametrize(("wall", "floor"), [
    (time(9, 15), 0.08), (time(10, 59, 59), 0.08), (time(11, 0), 0.10), (time(12, 59), 0.10),
    (time(13, 0), 0.12), (time(13, 59, 59), 0.12), (time(14, 0), 0.15), (time(15, 29), 0.15),
])
def test_delta_floor_by_ist_hour(wall, floor):
    now = datetime.combine(date(2024, 10, 9), wall, tzinfo=IST)
    assert delta_floor(now, PARAMS.delta_floors) == floor
    assert delta_floor(now.astimezone(UTC), PARAMS.delta_floors) == floor


@pytest.mark.parametrize(("delta", "wall", "kept"), [
    (0.09, time(10, 59), True), (0.09, time(11, 0), False),
    (-0.11, time(12, 59), True), (-0.11, time(13, 0), False),
    (0.13, time(13, 59), True), (0.13, time(14, 0), False),
    (0.15, time(14, 0), True), (0.05, time(9, 30), False),
])
def test_delta_filter_at_hour_boundaries(delta, wall, kept):
    now = datetime.combine(date(2024, 10, 9), wall, tzinfo=IST)
    quote = _q(24_500.0, CE, delta=delta)
    selection = select_strikes(_chain([quote]), Direction.BULLISH,
                               replace(PARAMS, otm_steps=0), now)
    assert bool(selection.picks) is kept


def test_empty_chain_gives_a_reason_not_an_exception():
    selection = select_strikes(_chain([]), Direction.BULLISH, PARAMS, NOON)
    assert (selection.picks, selection.rejected) == ((), ())
    assert selection.reason == "empty chain for NIFTY"


@pytest.mark.parametrize(("direction", "spot", "reason"), [
    (Direction.AVOID, 24_510.0, "direction avoid: nothing to buy"),
    (Direction.BULLISH, float("nan"), "spot nan is not a price"),
    (Direction.BULLISH, 0.0, "spot 0.0 is not a price"),
])
def test_no_selection_reasons(direction, spot, reason):
    selection = select_strikes(_full_chain(spot=spot), direction, PARAMS, NOON)
    assert selection.picks == ()
    assert selection.reason == reason


def test_all_filtered_gives_a_reason_and_every_rejection():
    selection = select_strikes(_full_chain(oi=10), Direction.BULLISH, PARAMS, NOON)
    assert selection.picks == ()
    assert selection.reason == "no candidate passed the filters"
    assert [r.symbol for r in selection.rejected] == [
        "NIFTY 2024-10-10 24500 CE", "NIFTY 2024-10-10 24550 CE", "NIFTY 2024-10-10 24600 CE"]


def test_contract_of_another_expiry_is_rejected():
    quote = replace(_q(24_500.0, CE), contract=_contract(24_500.0, CE, date(2024, 10, 17)))
    failed = _reject_reason(quote)
    assert set(failed) == {"contract"}
    assert "expiry 2024-10-17 != 2024-10-10" in failed["contract"]


def test_contract_without_security_id_can_never_be_picked():
    # OptionContract refuses security_id 0; a bypassed one must still be caught here.
    broken = object.__new__(OptionContract)
    for name, value in vars(_contract(24_500.0, CE)).items():
        object.__setattr__(broken, name, value)
    object.__setattr__(broken, "security_id", 0)
    failed = _reject_reason(replace(_q(24_500.0, CE), contract=broken))
    assert failed == {"contract": "invalid contract: security_id 0"}


def test_quote_without_contract_is_skipped():
    quotes = [replace(_q(24_500.0, CE), contract=None), _q(24_550.0, CE)]
    selection = select_strikes(_chain(quotes), Direction.BULLISH, PARAMS, NOON)
    assert _strikes(selection) == [24_550.0]
    assert selection.rejected[0].checks[0].name == "quote"


# ---- scoring ----

@pytest.mark.parametrize(("steps", "points"), [
    (0, 100.0), (1, 80.0), (2, 50.0), (3, 20.0), (7, 20.0), (-1, 56.0), (-2, 35.0),
    (-3, 14.0)])
def test_atm_score(steps, points):
    assert atm_score(steps) == pytest.approx(points)


@pytest.mark.parametrize(("oi", "spread", "points"), [
    (1_000_000, 0.005, 50.0), (999_999, 0.005, 40.0), (500_000, 0.015, 36.0),
    (100_000, 0.025, 24.0), (50_000, 0.01, 20.0), (2_000_000, 0.02, 45.0),
    (2_000_000, 0.021, 40.0), (None, 0.0, 20.0), (None, None, 16.0)])
def test_liquidity_score(oi, spread, points):
    assert liquidity_score(oi, spread) == pytest.approx(points)


@pytest.mark.parametrize(("delta", "points"), [
    (0.5, 30.0), (-0.55, 30.0), (0.49, 25.0), (0.4, 25.0), (-0.3, 20.0), (0.29, 10.0),
    (None, 10.0)])
def test_delta_score(delta, points):
    assert delta_score(delta) == points


@pytest.mark.parametrize(("iv", "points"), [
    (0.15, 20.0), (0.2, 20.0), (0.25, 20.0), (0.12, 15.0), (0.30, 15.0), (0.05, 10.0),
    (0.40, 10.0), (0.41, 5.0), (0.04, 5.0), (None, 5.0)])
def test_iv_score(iv, points):
    assert iv_score(iv) == points


@pytest.mark.parametrize(("ltp", "delta", "points"), [
    (100.0, 0.5, 10.0), (100.0, -0.5, 10.0), (150.0, 0.5, 8.0), (250.0, 0.5, 6.0),
    (251.0, 0.5, 4.0), (10.0, None, 4.0), (10.0, 0.0, 4.0)])
def test_efficiency_score_relative_to_spot(ltp, delta, points):
    assert efficiency_score(ltp, delta, 25_000.0) == points


def test_score_bounds():
    best = score_quote(0, 2_000_000, 0.001, 0.6, 0.2, 50.0, 25_000.0)
    assert best.total == MAX_SCORE == 210.0
    totals = [score_quote(steps, oi, spread, delta, iv, ltp, 25_000.0).total
              for steps in (-3, -1, 0, 1, 2, 3)
              for oi in (None, 10, 200_000, 2_000_000)
              for spread in (None, 0.0, 0.015, 0.05)
              for delta in (None, 0.0, 0.1, 0.45, 0.9)
              for iv in (None, 0.01, 0.2, 0.35, 2.0)
              for ltp in (0.05, 100.0, 5_000.0)]
    assert min(totals) >= 0.0
    assert max(totals) <= MAX_SCORE
    assert min(totals) == pytest.approx(14.0 + 16.0 + 10.0 + 5.0 + 4.0)


def test_score_orders_picks_and_ties_go_to_the_nearer_strike():
    quotes = [
        _q(24_500.0, CE, oi=60_000),     # 100 + 20 + ... = 120 + rest
        _q(24_550.0, CE, oi=500_000),    # 80 + 40 = 120 + rest (tie: nearer wins)
        _q(24_600.0, CE, oi=1_500_000),  # 50 + 50 = 100 + rest
    ]
    selection = select_strikes(_chain(quotes), Direction.BULLISH, replace(PARAMS, top_n=3),
                               NOON)
    assert _strikes(selection) == [24_500.0, 24_550.0, 24_600.0]
    scores = [p.score for p in selection.picks]
    assert scores[0] == scores[1] > scores[2]
    better = [_q(24_500.0, CE, oi=60_000, spread=0.025), _q(24_550.0, CE, oi=1_500_000)]
    selection = select_strikes(_chain(better), Direction.BULLISH, PARAMS, NOON)
    assert _strikes(selection) == [24_550.0, 24_500.0]  # 130 + .. beats 116 + ..
    assert [p.parts.liquidity for p in selection.picks] == [50.0, 16.0]


def test_on_a_black76_chain_after_enrichment():
    forward, t_years, rate = 24_540.0, 2.0 / 252.0, 0.065
    quotes = []
    for i in range(-4, 5):
        strike = 24_500.0 + 50 * i
        for kind in (CE, PE):
            value = float(black76.price(forward, strike, t_years, 0.15, rate, kind is CE))
            quotes.append(ChainQuote(contract=_contract(strike, kind), ltp=value,
                                     bid=value - 0.5, ask=value + 0.5, oi=800_000))
    chain = enrich_chain(_chain(quotes, spot=24_510.0), t_years, rate)
    selection = select_strikes(chain, Direction.BEARISH, PARAMS, NOON)
    assert _strikes(selection) == [24_500.0, 24_450.0]
    assert all(-0.5 < p.delta < -0.1 for p in selection.picks)
    assert all(p.iv == pytest.approx(0.15, abs=1e-4) for p in selection.picks)


@pytest.mark.parametrize(("direction", "kind", "strikes"), [
    (Direction.BULLISH, CE, {24_500.0, 24_550.0, 24_600.0}),
    (Direction.BEARISH, PE, {24_500.0, 24_450.0, 24_400.0})])
def test_enriching_only_the_candidates_selects_the_same(direction, kind, strikes):
    forward, t_years, rate = 24_540.0, 2.0 / 252.0, 0.065
    quotes = []
    for i in range(-4, 5):
        strike = 24_500.0 + 50 * i
        for side in (CE, PE):
            vol = 0.13 + 0.02 * abs(i)
            value = float(black76.price(forward, strike, t_years, vol, rate, side is CE))
            quotes.append(ChainQuote(contract=_contract(strike, side), ltp=value,
                                     bid=value - 0.5, ask=value + 0.5, oi=800_000))
    chain = _chain(quotes, spot=24_510.0)
    wanted = candidate_filter(chain, direction, PARAMS)
    assert {(q.contract.strike, q.contract.option_type) for q in chain.quotes
            if wanted(q)} == {(k, kind) for k in strikes}
    partial = enrich_chain(chain, t_years, rate, only=wanted)
    assert sum(q.iv is not None for q in partial.quotes) == 3
    full = enrich_chain(chain, t_years, rate)
    assert (select_strikes(partial, direction, PARAMS, NOON)
            == select_strikes(full, direction, PARAMS, NOON))


@pytest.mark.parametrize(("direction", "spot"), [
    (Direction.AVOID, 24_510.0), (Direction.BULLISH, float("nan")), (Direction.BEARISH, 0.0)])
def test_candidate_filter_accepts_nothing_without_a_direction_or_spot(direction, spot):
    chain = _chain([_q(24_500.0, CE), _q(24_500.0, PE)], spot=spot)
    wanted = candidate_filter(chain, direction, PARAMS)
    assert not any(wanted(q) for q in chain.quotes)


@pytest.mark.parametrize("overrides", [
    {"otm_steps": 4}, {"otm_steps": -1}, {"strike_step": 0}, {"top_n": 0},
    {"min_iv": 0.7}, {"delta_floors": ((24, 0.1),)}])
def test_bad_strike_params(overrides):
    with pytest.raises(ConfigError):
        StrikeParams(**{"strike_step": 50, **overrides})
