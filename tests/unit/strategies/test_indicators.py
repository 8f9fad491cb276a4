"""Supertrend, ADX and resampling: hand-computed tables, a textbook reference on real data,
and the incremental states against the array functions."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd
import pytest

from core.clock import ist_to_utc, ns_from_utc
from core.errors import MalformedDataError
from strategies.logic.indicators import (
    AdxState,
    SupertrendState,
    adx,
    ist_day_numbers,
    resample_ohlc,
    supertrend,
)
from tests.unit.strategies._nifty import nifty_1m

NAN = math.nan

# --- textbook references: plain loops, written independently of the module ------------------


def reference_supertrend(h: list[float], lo: list[float], c: list[float], period: int,
                         mult: float) -> tuple[list[float], list[float]]:
    """TradingView's ta.supertrend translated line by line (direction +1 = up here)."""
    n = len(c)
    tr = [h[0] - lo[0]] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
                           for i in range(1, n)]
    atr: list[float] = [NAN] * n
    for i in range(period - 1, n):
        if i == period - 1:
            atr[i] = sum(tr[:period]) / period
        else:
            atr[i] = (atr[i - 1] * (period - 1) + tr[i]) / period
    line, direction = [NAN] * n, [NAN] * n
    upper = lower = 0.0
    trend = -1
    for i in range(period - 1, n):
        mid = (h[i] + lo[i]) / 2
        basic_upper, basic_lower = mid + mult * atr[i], mid - mult * atr[i]
        if i == period - 1:
            upper, lower, trend = basic_upper, basic_lower, -1
        else:
            if not (basic_upper < upper or c[i - 1] > upper):
                basic_upper = upper
            if not (basic_lower > lower or c[i - 1] < lower):
                basic_lower = lower
            upper, lower = basic_upper, basic_lower
            if trend == -1 and c[i] > upper:
                trend = 1
            elif trend == 1 and c[i] < lower:
                trend = -1
        line[i] = lower if trend == 1 else upper
        direction[i] = float(trend)
    return line, direction


def reference_adx(h: list[float], lo: list[float], c: list[float], period: int
                  ) -> tuple[list[float], list[float], list[float]]:
    """Wilder's worksheet: TR14/+DM14/-DM14 running sums, DI from them, DX from the DIs."""
    n = len(c)
    adx_out, plus_out, minus_out = [NAN] * n, [NAN] * n, [NAN] * n
    tr, pdm, mdm = [0.0] * n, [0.0] * n, [0.0] * n
    for i in range(1, n):
        tr[i] = max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
        up, down = h[i] - h[i - 1], lo[i - 1] - lo[i]
        pdm[i] = up if (up > down and up > 0) else 0.0
        mdm[i] = down if (down > up and down > 0) else 0.0
    dx_values: list[float] = []
    tr14 = pdm14 = mdm14 = 0.0
    for i in range(period, n):
        if i == period:
            tr14, pdm14, mdm14 = sum(tr[1:period + 1]), sum(pdm[1:period + 1]), \
                sum(mdm[1:period + 1])
        else:
            tr14 = tr14 - tr14 / period + tr[i]
            pdm14 = pdm14 - pdm14 / period + pdm[i]
            mdm14 = mdm14 - mdm14 / period + mdm[i]
        plus_out[i], minus_out[i] = 100 * pdm14 / tr14, 100 * mdm14 / tr14
        dx_values.append(100 * abs(plus_out[i] - minus_out[i]) / (plus_out[i] + minus_out[i]))
        if len(dx_values) == period:
            adx_out[i] = sum(dx_values) / period
        elif len(dx_values) > period:
            adx_out[i] = (adx_out[i - 1] * (period - 1) + dx_values[-1]) / period
    return adx_out, plus_out, minus_out


# --- hand-computed tables --------------------------------------------------------------------

# period 3, multiplier 1: seed down at bar 2; bar 3 turns up (close 14 > upper 13, upper band
# carried); bar 5 turns down (close 10.5 < carried lower 106/9); bar 6 the lower band resets
# because the previous close was below it.
ST_HIGH = [10, 11, 12, 14, 15, 13, 12]
ST_LOW = [8, 9, 10, 12, 13, 10, 10]
ST_CLOSE = [9, 10, 11, 14, 13.5, 10.5, 11.5]
ST_LINE = [NAN, NAN, 13.0, 32 / 3, 106 / 9, 382 / 27, 1088 / 81]
ST_DIRECTION = [NAN, NAN, -1.0, 1.0, 1.0, -1.0, -1.0]

# period 2: TR/+DM/-DM from bar 1, sums seeded at bar 2, ADX from bar 3; bar 4 has no
# directional movement, bar 6 an up move equal to the down move (both count 0).
ADX_HIGH = [10, 12, 13, 12, 11, 13, 14]
ADX_LOW = [8, 9, 10, 8, 8, 9, 8]
ADX_CLOSE = [9, 11, 12, 9, 10, 12, 10]
ADX_PLUS_DI = [NAN, NAN, 50.0, 150 / 7, 75 / 6.5, 237.5 / 7.25, 118.75 / 9.625]
ADX_MINUS_DI = [NAN, NAN, 0.0, 200 / 7, 100 / 6.5, 50 / 7.25, 25 / 9.625]
_DX5 = 100 * 1.875 / 2.875
ADX_ADX = [NAN, NAN, NAN, 400 / 7, 500 / 14, (500 / 14 + _DX5) / 2,
           ((500 / 14 + _DX5) / 2 + _DX5) / 2]


# period 1 (ATR = TR = 2 on every bar), multiplier 1: closes exactly on a band do not flip
# the trend (bar 1 on the upper band, bar 4 on the lower band).
TIE_HIGH = [10, 11, 12, 13, 12, 11]
TIE_LOW = [8, 9, 10, 11, 10, 9]
TIE_CLOSE = [9, 11, 11, 12, 10, 9.5]
TIE_LINE = [11.0, 11.0, 11.0, 10.0, 10.0, 12.0]
TIE_DIRECTION = [-1.0, -1.0, -1.0, 1.0, 1.0, -1.0]
ST_TABLES = [
    ((ST_HIGH, ST_LOW, ST_CLOSE), 3, ST_LINE, ST_DIRECTION),
    ((TIE_HIGH, TIE_LOW, TIE_CLOSE), 1, TIE_LINE, TIE_DIRECTION),
]


@pytest.mark.parametrize(("bars", "period", "line", "direction"), ST_TABLES)
def test_supertrend_matches_hand_computed_table(
        bars: tuple[list[float], ...], period: int, line: list[float],
        direction: list[float]) -> None:
    result = supertrend(*bars, period=period, multiplier=1.0)
    np.testing.assert_allclose(result.line, line, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.direction, direction)
    state = SupertrendState(period, 1.0)
    rows = [state.update(*bar) for bar in zip(*bars, strict=True)]
    np.testing.assert_allclose([r[0] for r in rows], line, rtol=0, atol=1e-12)
    np.testing.assert_array_equal([r[1] for r in rows], direction)


def test_adx_matches_hand_computed_table() -> None:
    result = adx(ADX_HIGH, ADX_LOW, ADX_CLOSE, period=2)
    np.testing.assert_allclose(result.plus_di, ADX_PLUS_DI, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.minus_di, ADX_MINUS_DI, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.adx, ADX_ADX, rtol=0, atol=1e-12)


def test_adx_state_matches_hand_computed_table() -> None:
    ad = AdxState(2)
    adx_rows = [ad.update(*bar) for bar in zip(ADX_HIGH, ADX_LOW, ADX_CLOSE, strict=True)]
    np.testing.assert_allclose([r[0] for r in adx_rows], ADX_ADX, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r[1] for r in adx_rows], ADX_PLUS_DI, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r[2] for r in adx_rows], ADX_MINUS_DI, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("period", "bars", "st_first", "adx_first"), [
    (1, 5, 0, 1), (3, 2, None, None), (3, 3, 2, None), (3, 6, 2, 5), (10, 40, 9, 19),
    (14, 27, 13, None), (14, 28, 13, 27)])
def test_warmup_lengths(period: int, bars: int, st_first: int | None,
                        adx_first: int | None) -> None:
    rng = np.random.default_rng(period * 100 + bars)
    close = 100 + np.cumsum(rng.normal(0, 1, bars))
    high, low = close + rng.uniform(0.1, 1, bars), close - rng.uniform(0.1, 1, bars)
    line = supertrend(high, low, close, period, 3.0).line
    adx_values = adx(high, low, close, period).adx
    for values, first in ((line, st_first), (adx_values, adx_first)):
        valid = np.flatnonzero(np.isfinite(values))
        assert (int(valid[0]) if valid.size else None) == first
        assert valid.size == (bars - first if first is not None else 0)


def test_flat_bars_give_zero_adx_not_a_division_error() -> None:
    flat = np.full(40, 100.0)
    result = adx(flat, flat, flat, period=14)
    assert np.all(result.adx[27:] == 0.0)
    assert np.all(result.plus_di[14:] == 0.0)
    line = supertrend(flat, flat, flat, period=10).line
    assert np.all(line[9:] == 100.0)


@pytest.mark.parametrize(("high", "low", "close", "message"), [
    ([1.0, 2.0], [1.0], [1.0, 2.0], "one length"),
    ([1.0, 2.0], [1.0, 1.0], [1.0, NAN], r"close\[1\] = nan"),
    ([1.0, math.inf], [1.0, 1.0], [1.0, 1.0], r"high\[1\] = inf"),
])
def test_bad_bars_raise_naming_the_row(high: list[float], low: list[float],
                                       close: list[float], message: str) -> None:
    with pytest.raises(MalformedDataError, match=message):
        supertrend(high, low, close, period=2)
    with pytest.raises(MalformedDataError):
        adx(high, low, close, period=2)


def test_bad_parameters_and_bars_rejected() -> None:
    with pytest.raises(ValueError, match="period"):
        SupertrendState(0)
    with pytest.raises(ValueError, match="multiplier"):
        supertrend([1.0], [1.0], [1.0], period=1, multiplier=0.0)
    with pytest.raises(ValueError, match="period"):
        AdxState(2.5)  # type: ignore[arg-type]
    with pytest.raises(MalformedDataError, match="not finite"):
        AdxState(2).update(1.0, NAN, 1.0)


# --- real data: 1m and 5m NIFTY 2024 ---------------------------------------------------------


def _series(minutes: int) -> dict[str, np.ndarray]:
    bars = nifty_1m()
    if minutes == 1:
        return bars
    return resample_ohlc(bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"],
                         minutes)


@pytest.mark.parametrize("minutes", [1, 5])
def test_supertrend_matches_reference_on_real_data(minutes: int) -> None:
    bars = _series(minutes)
    h, lo, c = (bars[k].tolist() for k in ("high", "low", "close"))
    expected_line, expected_direction = reference_supertrend(h, lo, c, 10, 3.0)
    result = supertrend(bars["high"], bars["low"], bars["close"], 10, 3.0)
    np.testing.assert_allclose(result.line, expected_line, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(result.direction, expected_direction)
    flips = np.count_nonzero(np.diff(result.direction[9:]) != 0)
    assert flips > 100  # a real year of trends, not a degenerate series


@pytest.mark.parametrize("minutes", [1, 5])
def test_adx_matches_reference_on_real_data(minutes: int) -> None:
    bars = _series(minutes)
    h, lo, c = (bars[k].tolist() for k in ("high", "low", "close"))
    expected_adx, expected_plus, expected_minus = reference_adx(h, lo, c, 14)
    result = adx(bars["high"], bars["low"], bars["close"], 14)
    np.testing.assert_allclose(result.adx, expected_adx, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.plus_di, expected_plus, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.minus_di, expected_minus, rtol=0, atol=1e-6)
    assert 10 < np.nanmedian(result.adx) < 50


@pytest.mark.parametrize("minutes", [1, 5])
def test_incremental_states_equal_array_functions_on_real_data(minutes: int) -> None:
    bars = _series(minutes)
    st, ad = SupertrendState(10, 3.0), AdxState(14)
    rows = [(*st.update(h, lo, c), *ad.update(h, lo, c)) for h, lo, c in zip(
        bars["high"].tolist(), bars["low"].tolist(), bars["close"].tolist(), strict=True)]
    got = np.array(rows)
    st_expected = supertrend(bars["high"], bars["low"], bars["close"], 10, 3.0)
    adx_expected = adx(bars["high"], bars["low"], bars["close"], 14)
    expected = (st_expected.line, st_expected.direction, adx_expected.adx,
                adx_expected.plus_di, adx_expected.minus_di)
    for column, values in enumerate(expected):
        np.testing.assert_allclose(got[:, column], values, rtol=0, atol=1e-9)
    assert st.ready
    assert ad.ready
    assert (st.line, ad.adx) == (got[-1, 0], got[-1, 2])


# --- resampling ------------------------------------------------------------------------------


def _ns(day: date, hhmm: str) -> int:
    hours, minutes = map(int, hhmm.split(":"))
    return ns_from_utc(ist_to_utc(day, time(hours, minutes)))


def test_resample_hand_table_aligned_to_the_open_and_never_across_days() -> None:
    day1, day2 = date(2024, 1, 1), date(2024, 1, 2)
    stamps = ([_ns(day1, f"09:{m}") for m in range(15, 27)]
              + [_ns(day1, "15:28"), _ns(day1, "15:29"), _ns(day2, "09:15")])
    n = len(stamps)
    close = np.arange(1.0, n + 1)
    out = resample_ohlc(np.array(stamps), close - 0.5, close + 1, close - 1, close, 5)
    assert out["ts"].tolist() == [_ns(day1, "09:15"), _ns(day1, "09:20"), _ns(day1, "09:25"),
                                  _ns(day1, "15:25"), _ns(day2, "09:15")]
    assert out["count"].tolist() == [5, 5, 2, 2, 1]
    assert out["open"].tolist() == [0.5, 5.5, 10.5, 12.5, 14.5]
    assert out["close"].tolist() == [5.0, 10.0, 12.0, 14.0, 15.0]
    assert out["high"].tolist() == [6.0, 11.0, 13.0, 15.0, 16.0]
    assert out["low"].tolist() == [0.0, 5.0, 10.0, 12.0, 14.0]


@pytest.mark.parametrize(("minutes", "starts"), [
    (3, ["09:15", "09:18", "09:21", "09:24"]), (15, ["09:15"]), (60, ["09:15"])])
def test_resample_bucket_starts(minutes: int, starts: list[str]) -> None:
    day = date(2024, 3, 4)
    stamps = np.array([_ns(day, f"09:{m}") for m in range(15, 27)])
    values = np.ones(stamps.size)
    out = resample_ohlc(stamps, values, values, values, values, minutes)
    assert out["ts"].tolist() == [_ns(day, s) for s in starts]


def test_resample_rejects_unsorted_and_accepts_empty() -> None:
    stamps = np.array([_ns(date(2024, 1, 1), "09:16"), _ns(date(2024, 1, 1), "09:15")])
    with pytest.raises(MalformedDataError, match=r"ts\[1\]"):
        resample_ohlc(stamps, np.ones(2), np.ones(2), np.ones(2), np.ones(2), 5)
    empty = resample_ohlc(np.zeros(0, np.int64), *(np.zeros(0),) * 4, minutes=5)
    assert all(v.size == 0 for v in empty.values())


def test_resample_real_data_matches_a_pandas_groupby() -> None:
    bars = nifty_1m()
    out = resample_ohlc(bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"], 5)
    ist = pd.to_datetime(bars["ts"], utc=True).tz_convert("Asia/Kolkata")
    frame = pd.DataFrame({k: bars[k] for k in ("open", "high", "low", "close")})
    frame["bucket"] = ist.floor("5min")  # :15 is a multiple of 5 minutes, so floor aligns
    expected = frame.groupby("bucket").agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), count=("open", "size"))
    assert out["ts"].tolist() == expected.index.tz_convert("UTC").as_unit("ns").asi8.tolist()
    for column in ("open", "high", "low", "close", "count"):
        np.testing.assert_array_equal(out[column], expected[column].to_numpy())
    days = pd.Series(ist_day_numbers(out["ts"])).value_counts()
    assert days.value_counts().to_dict() == {75: 154, 21: 2}  # two short Saturday sessions


def test_ist_day_numbers_split_at_ist_midnight() -> None:
    late_utc = ns_from_utc(datetime(2024, 1, 1, 18, 29, tzinfo=UTC))  # 23:59 IST Jan 1
    after = ns_from_utc(datetime(2024, 1, 1, 18, 30, tzinfo=UTC))  # 00:00 IST Jan 2
    days = ist_day_numbers(np.array([late_utc, after]))
    assert days.tolist() == [(date(2024, 1, 1) - date(1970, 1, 1)).days,
                             (date(2024, 1, 2) - date(1970, 1, 1)).days]
