"""The incremental realised-vol series equals the from-scratch formulas bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import MalformedDataError
from strategies.logic.realised_vol import RealisedVolSeries
from strategies.logic.signal import IvRankParams, iv_rank, realised_vol_series


def _from_scratch(closes: np.ndarray, window: int, days: np.ndarray | None) -> np.ndarray:
    """The one-pass computation over the whole history: what the series must equal."""
    return realised_vol_series(closes, window, days)


def _history(n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    closes = 22_000.0 * np.exp(np.cumsum(rng.normal(0, 8e-4, n)))
    days = 19_700 + np.arange(n) // 75  # a new day every 75 bars
    return closes, days.astype(np.int64)


@pytest.mark.parametrize(("window", "with_days"), [(30, True), (30, False), (2, True), (7, True)])
def test_bar_by_bar_extension_matches_from_scratch(window: int, with_days: bool) -> None:
    closes, days = _history(400)
    series = RealisedVolSeries(window, with_days)
    steps = [1, 1, 3, 1, 40, 1, 2, 75, 1]
    end = 0
    while end < closes.size:
        new_end = min(closes.size, end + steps[end % len(steps)])
        series.extend(closes[end:new_end], days[end:new_end] if with_days else None)
        end = new_end
        want = _from_scratch(closes[:end], window, days[:end] if with_days else None)
        assert series.values.tobytes() == want.tobytes()
        assert series.bars == end


def test_iv_rank_with_the_strategys_series_equals_the_full_recompute() -> None:
    closes, days = _history(400, seed=4)
    params = IvRankParams(rv_window=30)
    series = RealisedVolSeries(30, with_days=True)
    ranked = 0
    for n in range(0, 400, 7):
        want = iv_rank(None, (), closes[:n], params, days[:n])
        got = iv_rank(None, (), closes[:n], params, days[:n], series)
        assert got == want
        assert series.values.tobytes() == realised_vol_series(closes[:n], 30,
                                                                days[:n]).tobytes()
        ranked += want is not None
    assert ranked > 20  # the proxy had enough samples for most of the history


def test_a_bad_close_in_the_new_bars_is_named_by_its_row_and_nothing_is_kept() -> None:
    closes, days = _history(60)
    series = RealisedVolSeries(5, with_days=True)
    series.extend(closes[:50], days[:50])
    broken = closes.copy()
    broken[55] = np.nan
    with pytest.raises(MalformedDataError, match=r"closes\[55\] = nan"):
        series.extend(broken[50:], days[50:])
    assert series.bars == 50
    series.extend(closes[50:], days[50:])
    assert series.values.tobytes() == _from_scratch(closes, 5, days).tobytes()


def test_a_series_of_another_window_or_without_days_is_refused() -> None:
    closes, days = _history(80)
    with pytest.raises(ValueError, match="does not match"):
        iv_rank(None, (), closes, IvRankParams(rv_window=30), days, RealisedVolSeries(20, True))
    with pytest.raises(ValueError, match="does not match"):
        iv_rank(None, (), closes, IvRankParams(rv_window=30), None, RealisedVolSeries(30, True))
    with pytest.raises(MalformedDataError, match="day numbers"):
        RealisedVolSeries(30, with_days=True).extend(closes, days[:-1])
