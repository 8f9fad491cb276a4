import pytest

from core.errors import ConfigError
from strategies.logic.sizing import (
    DEFAULT_BANDS,
    SizingBand,
    SizingParams,
    band_for,
    size_position,
)

PARAMS = SizingParams()


@pytest.mark.parametrize(("balance", "band_index"), [
    (10_000.0, 0), (75_000.0, 0), (75_001.0, 1), (75_000.01, 1), (150_000.0, 1),
    (150_001.0, 2), (300_000.0, 2), (300_000.5, 3), (5_000_000.0, 3),
])
def test_band_upper_bound_is_inclusive(balance, band_index):
    assert band_for(balance, DEFAULT_BANDS) is DEFAULT_BANDS[band_index]


# Hand-computed: lot cost = price x lot; alloc lots = floor(balance x alloc / lot cost);
# risk lots = floor(balance x risk / (lot cost x sl)).
@pytest.mark.parametrize(("balance", "price", "lot", "sl", "by_alloc", "by_risk", "lots"), [
    # 75,000 -> 30%/5%: 22,500 / 7,500 = 3; 3,750 / 2,250 = 1.67
    (75_000.0, 100.0, 75, 0.30, 3, 1, 1),
    # 75,001 -> 25%/3.5%: 18,750.25 / 7,500 = 2.5; 2,625.04 / 2,250 = 1.17
    (75_001.0, 100.0, 75, 0.30, 2, 1, 1),
    # 300,000 -> 20%/3%: 60,000 / 7,500 = 8; 9,000 / (7,500 x sl)
    (300_000.0, 100.0, 75, 0.30, 8, 4, 4),
    (300_000.0, 100.0, 75, 0.20, 8, 6, 6),
    (300_000.0, 100.0, 75, 0.15, 8, 8, 8),
    (300_000.0, 100.0, 75, 0.10, 8, 12, 8),
    # 1,000,000 -> 20%/2.5%: 200,000 / 1,250 = 160; 25,000 / 375 = 66.7; capped at 10
    (1_000_000.0, 50.0, 25, 0.30, 160, 66, 10),
    # 120,000 -> 25%/3.5% on BANKNIFTY lot 30 at 250: 30,000 / 7,500 = 4; 4,200 / 2,250
    (120_000.0, 250.0, 30, 0.30, 4, 1, 1),
])
def test_lots_table(balance, price, lot, sl, by_alloc, by_risk, lots):
    result = size_position(balance, price, lot, SizingParams(sl_pct=sl))
    assert (result.lots_by_alloc, result.lots_by_risk, result.lots) == (by_alloc, by_risk, lots)
    assert result.quantity == lots * lot
    assert result.reason.startswith(f"{lots} lots")


def test_risk_lots_follow_the_exit_stop_loss():
    # Same trade, only sl_pct changes: 9,000 risk budget / (7,500 x sl).
    loose = size_position(300_000.0, 100.0, 75, SizingParams(sl_pct=0.30))
    tight = size_position(300_000.0, 100.0, 75, SizingParams(sl_pct=0.20))
    assert (loose.lots_by_risk, tight.lots_by_risk) == (4, 6)
    assert loose.risk_budget == pytest.approx(9_000.0)
    assert loose.allocation == pytest.approx(60_000.0)


def test_max_lots_cap():
    result = size_position(1_000_000.0, 50.0, 25, SizingParams(max_lots=3))
    assert (result.lots, result.quantity) == (3, 75)


def test_zero_lots_is_never_forced_to_one():
    result = size_position(20_000.0, 200.0, 75, PARAMS)
    assert (result.lots, result.quantity, result.lots_by_alloc, result.lots_by_risk) == (
        0, 0, 0, 0)
    assert result.reason.startswith("zero lots")


@pytest.mark.parametrize(("per_lot", "fixed", "lots"), [
    (0.0, 0.0, 3),    # 3 x 7,500 = 22,500 = allocation exactly: fits
    (10.0, 0.0, 2),   # 3 x 7,510 = 22,530 > 22,500
    (0.0, 20.0, 2),   # 22,500 + 20 > 22,500
    (3750.0, 0.0, 2),  # 2 x (7,500 + 3,750) = 22,500 fits exactly
    (3751.0, 0.0, 1),  # 2 x 11,251 > 22,500
])
def test_charges_in_affordability(per_lot, fixed, lots):
    result = size_position(75_000.0, 100.0, 75, SizingParams(sl_pct=0.10), per_lot, fixed)
    assert result.lots_by_alloc == 3
    assert result.lots == lots


def test_charges_can_make_one_lot_unaffordable():
    # 25,000 -> 30%: allocation 7,500 = exactly one lot at 100 x 75; charges tip it over.
    result = size_position(25_000.0, 100.0, 75, SizingParams(sl_pct=0.10), 64.0)
    assert (result.lots_by_alloc, result.lots_by_risk, result.lots) == (1, 1, 0)
    assert "7564.00 > allocation 7500.00" in result.reason


@pytest.mark.parametrize(("balance", "price", "lot", "charges", "word"), [
    (100_000.0, float("nan"), 75, 0.0, "price"),
    (100_000.0, 0.0, 75, 0.0, "price"),
    (100_000.0, -5.0, 75, 0.0, "price"),
    (100_000.0, float("inf"), 75, 0.0, "price"),
    (0.0, 100.0, 75, 0.0, "balance"),
    (float("nan"), 100.0, 75, 0.0, "balance"),
    (100_000.0, 100.0, 0, 0.0, "lot size"),
    (100_000.0, 100.0, 75, -1.0, "charges"),
    (100_000.0, 100.0, 75, float("nan"), "charges"),
])
def test_bad_inputs_give_zero_lots_with_reason(balance, price, lot, charges, word):
    result = size_position(balance, price, lot, PARAMS, charges)
    assert (result.lots, result.quantity) == (0, 0)
    assert word in result.reason


def test_balance_above_a_bounded_last_band_has_no_band():
    params = SizingParams(bands=(SizingBand(75_000.0, 0.3, 0.05),))
    result = size_position(80_000.0, 100.0, 75, params)
    assert (result.lots, result.band) == (0, None)
    assert "no sizing band" in result.reason


@pytest.mark.parametrize("params", [
    {"bands": ()},
    {"bands": (SizingBand(150_000.0, 0.3, 0.05), SizingBand(75_000.0, 0.25, 0.035))},
    {"bands": (SizingBand(None, 0.3, 0.05), SizingBand(None, 0.25, 0.035))},
    {"bands": (SizingBand(None, 0.0, 0.05),)},
    {"sl_pct": 0.0},
    {"sl_pct": 1.0},
    {"max_lots": 0},
])
def test_bad_params_are_config_errors(params):
    with pytest.raises(ConfigError):
        SizingParams(**params)
