"""Black-76 prices, parity, greeks and implied volatility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core import black76


def test_atm_price_matches_closed_form() -> None:
    # ATM on the forward: C = e^{-rT} F (2 N(s/2) - 1), s = vol sqrt(T).
    f, t, vol, r = 24500.0, 5 / 252, 0.13, 0.065
    s = vol * math.sqrt(t)
    expected = math.exp(-r * t) * f * math.erf(s / (2 * math.sqrt(2)))
    assert float(black76.price(f, f, t, vol, r, True)) == pytest.approx(expected, rel=1e-12)


def test_known_value() -> None:
    # Hull's Black-76 example: F=20, K=20, T=4/12, r=9%, vol=25% -> put about 1.1166.
    assert float(black76.price(20.0, 20.0, 4 / 12, 0.25, 0.09, False)) == pytest.approx(
        1.1166, abs=1e-4)


@pytest.mark.parametrize("strike", [23000.0, 24000.0, 24500.0, 25000.0, 26000.0])
def test_put_call_parity(strike: float) -> None:
    f, t, vol, r = 24510.0, 3 / 252, 0.16, 0.065
    call = float(black76.price(f, strike, t, vol, r, True))
    put = float(black76.price(f, strike, t, vol, r, False))
    assert call - put == pytest.approx(math.exp(-r * t) * (f - strike), abs=1e-9)
    assert black76.implied_forward(call, put, strike, t, r) == pytest.approx(f, abs=1e-8)


def test_vectorised_matches_scalar_and_expiry_is_intrinsic() -> None:
    strikes = np.array([24000.0, 24500.0, 25000.0])
    calls = black76.price(24500.0, strikes, 1 / 252, 0.15, 0.065, True)
    for k, c in zip(strikes, calls, strict=True):
        assert c == pytest.approx(float(black76.price(24500.0, k, 1 / 252, 0.15, 0.065, True)))
    at_expiry = black76.price(24500.0, strikes, 0.0, 0.15, 0.065, [True, False, True])
    assert at_expiry.tolist() == [500.0, 0.0, 0.0]


def test_greeks_against_finite_differences() -> None:
    f, k, t, vol, r = 24500.0, 24600.0, 4 / 252, 0.14, 0.065
    g = black76.greeks(f, k, t, vol, r, True)
    h = 0.5
    up = float(black76.price(f + h, k, t, vol, r, True))
    down = float(black76.price(f - h, k, t, vol, r, True))
    assert g.delta == pytest.approx((up - down) / (2 * h), rel=1e-5)
    vega_fd = (float(black76.price(f, k, t, vol + 1e-5, r, True))
               - float(black76.price(f, k, t, vol - 1e-5, r, True))) / 2e-5
    assert g.vega == pytest.approx(vega_fd, rel=1e-5)
    put = black76.greeks(f, k, t, vol, r, False)
    assert g.delta - put.delta == pytest.approx(math.exp(-r * t), rel=1e-12)
    assert g.theta < 0


@pytest.mark.parametrize(("vol", "is_call", "strike"), [
    (0.10, True, 24500.0), (0.25, False, 24000.0), (0.45, True, 25500.0)])
def test_implied_vol_recovers_the_input(vol: float, is_call: bool, strike: float) -> None:
    px = float(black76.price(24500.0, strike, 2 / 252, vol, 0.065, is_call))
    assert black76.implied_vol(px, 24500.0, strike, 2 / 252, 0.065, is_call) == pytest.approx(
        vol, abs=1e-8)


def test_implied_vol_of_an_impossible_price_is_nan() -> None:
    # Below intrinsic (call worth at least ~500) and above the discounted strike (put).
    assert math.isnan(black76.implied_vol(400.0, 24500.0, 24000.0, 1 / 252, 0.065, True))
    assert math.isnan(black76.implied_vol(24100.0, 24500.0, 24000.0, 1 / 252, 0.065, False))
    assert math.isnan(black76.implied_vol(0.0, 24500.0, 24000.0, 1 / 252, 0.065, True))


def test_vectorised_implied_vols_match_the_scalar_solver() -> None:
    strikes = np.array([24000.0, 24300.0, 24500.0, 24800.0, 25200.0])
    calls = np.array([True, False, True, False, True])
    vols = np.array([0.18, 0.15, 0.13, 0.14, 0.20])
    prices = black76.price(24500.0, strikes, 2 / 252, vols, 0.065, calls)
    prices = np.append(prices, 0.0)  # unsolvable: no price
    solved = black76.implied_vols(prices, 24500.0, np.append(strikes, 24500.0), 2 / 252, 0.065,
                                  np.append(calls, True))
    np.testing.assert_allclose(solved[:-1], vols, atol=1e-10)
    assert math.isnan(solved[-1])


def test_scalar_delta_matches_greeks() -> None:
    for k, v, c in ((24000.0, 0.2, True), (24500.0, 0.15, False), (25000.0, 0.12, True)):
        want = black76.greeks(24480.0, k, 3 / 252, v, 0.065, c).delta
        assert black76.delta(24480.0, k, 3 / 252, v, 0.065, c) == pytest.approx(want, rel=1e-12)
    assert black76.delta(24480.0, 24000.0, 0.0, 0.2, 0.065, True) == 1.0  # at expiry, ITM
    assert black76.delta(24480.0, 24000.0, 0.0, 0.2, 0.065, False) == 0.0


def test_solved_vols_reprice_a_whole_smile() -> None:
    """Every option of a 61-strike smile, both sides, meets the stopping rule, and a price
    this far above zero gives back its vol far inside any filter's resolution (IVs are
    compared to percent bands and printed to 0.01%)."""
    forward, t, r = 24_480.0, 3 / 252, 0.065
    strikes = np.arange(23_000.0, 26_001.0, 50.0)
    vols = 0.12 + 0.4 * ((strikes - forward) / forward) ** 2 * 50
    for is_call in (True, False):
        prices = black76.price(forward, strikes, t, vols, r, is_call)
        solved = black76.implied_vols(prices, forward, strikes, t, r, is_call)
        assert np.isfinite(solved[prices > 0.05]).all()
        for k, px, vol, got in zip(strikes, prices, vols, solved, strict=True):
            if not math.isfinite(got):
                continue
            repriced = float(black76.price(forward, k, t, got, r, is_call))
            assert abs(repriced - px) <= 1e-10 * max(px, 1.0)
            if px > 0.05:  # a price this far above zero pins the vol tightly
                assert got == pytest.approx(vol, abs=1e-7)


def test_implied_vols_keep_the_input_shape() -> None:
    prices = np.array([[50.0, 60.0], [70.0, 0.0]])
    got = black76.implied_vols(prices, 24_000.0, 24_100.0, 0.02, 0.065, True)
    assert got.shape == (2, 2)
    assert got.tolist()[0] == [black76.implied_vol(px, 24_000.0, 24_100.0, 0.02, 0.065, True)
                               for px in (50.0, 60.0)]
    assert math.isnan(got[1, 1])  # no price
    scalar = black76.implied_vols(50.0, 24_000.0, 24_000.0, 0.01, 0.065, False)
    assert scalar.shape == ()
    assert scalar == pytest.approx(0.0523, abs=1e-4)
    assert black76.implied_vols([], 24_000.0, [], 0.01, 0.065, []).shape == (0,)
