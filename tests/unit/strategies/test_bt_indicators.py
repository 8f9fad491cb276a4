"""The backtrader indicators equal the pure math, in runonce and in next mode, on real bars."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from strategies.indicators import Adx, Supertrend
from strategies.logic.indicators import adx, resample_ohlc, supertrend
from tests.unit.strategies._nifty import nifty_1m

SESSIONS = 3
FIELDS = ("st_line", "st_direction", "adx", "plus_di", "minus_di",
          "bt_adx", "bt_plus_di", "bt_minus_di")


class _Recorder(bt.Strategy):
    """Reads every indicator value on every bar, warm-up bars included."""

    def __init__(self) -> None:
        self.st = Supertrend(self.data, period=10, multiplier=3.0)
        self.adx = Adx(self.data, period=14)
        self.builtin = bt.indicators.DirectionalMovementIndex(self.data, period=14)
        self.rows: list[tuple[float, ...]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append((
            self.st.line[0], self.st.direction[0],
            self.adx.adx[0], self.adx.plus_di[0], self.adx.minus_di[0],
            self.builtin.adx[0], self.builtin.plusDI[0], self.builtin.minusDI[0]))


def _bars(minutes: int) -> dict[str, np.ndarray]:
    bars = nifty_1m()
    days = np.unique(bars["date"])
    if minutes == 1:
        keep = np.isin(bars["date"], days[:SESSIONS])
        return {k: bars[k][keep] for k in ("ts", "open", "high", "low", "close")}
    keep = np.isin(bars["date"], days[:5 * SESSIONS])
    return resample_ohlc(*(bars[k][keep] for k in ("ts", "open", "high", "low", "close")),
                         minutes=minutes)


def _run(bars: dict[str, np.ndarray], runonce: bool) -> np.ndarray:
    frame = pd.DataFrame(
        {k: bars[k] for k in ("open", "high", "low", "close")},
        index=pd.to_datetime(bars["ts"], utc=True).tz_localize(None))
    frame["volume"] = 0.0
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(_Recorder)
    strategy = cerebro.run()[0]
    return np.array(strategy.rows)


@pytest.mark.parametrize("runonce", [True, False])
@pytest.mark.parametrize("minutes", [1, 5])
def test_bt_indicators_equal_the_pure_math(minutes: int, runonce: bool) -> None:
    bars = _bars(minutes)
    got = _run(bars, runonce)
    assert got.shape == (bars["close"].size, len(FIELDS))
    st = supertrend(bars["high"], bars["low"], bars["close"], 10, 3.0)
    ad = adx(bars["high"], bars["low"], bars["close"], 14)
    expected = (st.line, st.direction, ad.adx, ad.plus_di, ad.minus_di)
    for column, values in enumerate(expected):
        np.testing.assert_allclose(got[:, column], values, rtol=0, atol=1e-9,
                                   err_msg=FIELDS[column])
    assert np.isfinite(got[27:, 2]).all()


@pytest.mark.parametrize("runonce", [True, False])
def test_backtrader_builtin_adx_agrees_with_wilder(runonce: bool) -> None:
    """An outside implementation of the same definition: backtrader's own DMI."""
    got = _run(_bars(1), runonce)
    valid = slice(27, None)
    for ours, theirs in ((2, 5), (3, 6), (4, 7)):
        np.testing.assert_allclose(got[valid, ours], got[valid, theirs], rtol=0, atol=1e-9,
                                   err_msg=FIELDS[theirs])


@pytest.mark.parametrize("runonce", [True, False])
def test_adx_survives_a_frozen_feed(runonce: bool) -> None:
    """40 identical bars (a stalled feed) then movement: ADX reads 0, then recovers."""
    n = 80
    close = np.concatenate((np.full(40, 22_000.0), 22_000.0 + np.arange(1, 41) * 5.0))
    start = pd.Timestamp("2024-01-01 03:45").value
    bars = {"ts": start + np.arange(n) * 60 * 10**9, "open": close, "high": close + 2.0,
            "low": close - 2.0, "close": close}
    bars["high"][:40] = bars["low"][:40] = close[:40]
    frame = pd.DataFrame({k: bars[k] for k in ("open", "high", "low", "close")},
                         index=pd.to_datetime(bars["ts"]))
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame, volume=None, openinterest=None))
    cerebro.addstrategy(_FrozenRecorder)
    rows = np.array(cerebro.run()[0].rows)
    assert np.all(rows[27:40, 0] == 0.0)
    assert rows[-1, 0] > 50.0  # a steady climb is a strong trend
    assert rows[-1, 1] == 1.0


class _FrozenRecorder(bt.Strategy):
    def __init__(self) -> None:
        self.adx = Adx(self.data, period=14)
        self.st = Supertrend(self.data)
        self.rows: list[tuple[float, float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.rows.append((self.adx.adx[0], self.st.direction[0]))
