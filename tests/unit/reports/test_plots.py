"""Every chart writes a valid, non-blank PNG, with data and without."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from core.clock import ist_to_utc, ns_from_utc
from reports import dayplots, plots
from reports.daydata import IndexDay, PricePath, RunSettings, exit_levels
from reports.metrics import compute_metrics, daily_pnl, equity_curve
from strategies.records import TradeRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DAY = date(2024, 10, 9)
SETTINGS = RunSettings(capital=100_000.0, index_security_id=13, primary_minutes=1,
                       supertrend_period=10, supertrend_multiplier=3.0, sl_pct=0.3, tp_pct=0.6,
                       breakeven_trigger_pct=0.1, trail_pct=0.03)


def assert_png(path: Path, min_width: int = 400) -> None:
    """A PNG file, reasonably large, that is not one flat colour."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.shape[1] >= min_width
    assert pixels.shape[0] >= 200
    assert float(pixels[..., :3].var()) > 0


def make_trade(side: str, entry: str, exit_: str, entry_price: float, exit_price: float,
               net: float) -> TradeRecord:
    def when(hhmm: str):  # noqa: ANN202
        return ist_to_utc(DAY, time(*map(int, hhmm.split(":"))))

    return TradeRecord(
        day=DAY, security_id=7, symbol=f"NIFTY 2024-10-10 24500 {side}", option_type=side,
        strike=24500.0, expiry=date(2024, 10, 10), lots=1, quantity=25, entry_at=when(entry),
        entry_price=entry_price, exit_at=when(exit_), exit_price=exit_price,
        exit_reason="trailing_stop", exit_tag="trailing_stop_3pct", entry_tag="e",
        gross_pnl=net + 40, charges=40.0, net_pnl=net, hwm=max(entry_price, exit_price),
        breakeven_locked=True)


TRADES = [make_trade("CE", "10:00", "10:40", 100.0, 118.0, 410.0),
          make_trade("PE", "11:00", "11:20", 120.0, 84.0, -940.0),
          make_trade("CE", "13:05", "13:30", 90.0, 95.0, 85.0)]


def session_ns(minutes: int) -> np.ndarray:
    return ns_from_utc(ist_to_utc(DAY, time(9, 15))) + np.arange(minutes) * 60 * 10**9


def premium_path(trade: TradeRecord) -> PricePath:
    """A premium that rises 20% and falls back, one point a minute, around the trade."""
    ts = session_ns(375)
    rise = np.interp(np.arange(375), [0, 60, 100, 375], [0.95, 1.0, 1.2, 1.0])
    return PricePath(ts, trade.entry_price * rise, "1m bar closes", trade.entry_price * rise
                     - 1, trade.entry_price * rise + 1)


def test_run_charts_are_valid_pngs(tmp_path: Path) -> None:
    # Run charts without trades (and of a single session) are checked by the integration
    # test's zero-trade report.
    sessions = [date(2024, 10, 8), DAY]
    metrics = compute_metrics(TRADES, sessions, 100_000.0)
    made = [
        plots.plot_equity(equity_curve(TRADES, 100_000.0), sessions, metrics,
                          tmp_path / "equity.png"),
        plots.plot_daily_pnl(daily_pnl(TRADES, sessions), tmp_path / "daily.png"),
        plots.plot_trade_histogram(TRADES, tmp_path / "hist.png"),
        plots.plot_exit_reasons(metrics.by_exit_reason, tmp_path / "reasons.png"),
        plots.plot_equity_overlay([plots.EquitySeries("a", equity_curve(TRADES, 100_000.0)),
                                   plots.EquitySeries("b", [(None, 100_000.0)])],
                                  sessions, tmp_path / "overlay.png"),
    ]
    for path in made:
        assert_png(path)


@pytest.mark.parametrize(("values", "edges"), [
    ([-940.0, 85.0, 410.0], (-950.0, 450.0, 50.0)),  # range 1350 / 30 = 45 -> width 50
    ([0.0, 0.0], (0.0, 1.0, 1.0)),  # only scratch trades: still one bin
    ([120.0, 130.0], (0.0, 130.0, 5.0)),
])
def test_histogram_bins_are_round_and_split_at_zero(values: list[float],
                                                    edges: tuple[float, float, float]) -> None:
    got = plots.bin_edges(np.array(values))
    assert (got[0], got[-1], got[1] - got[0]) == pytest.approx(edges)
    assert 0.0 in got.tolist()


def test_index_day_chart_with_supertrend_and_trades(tmp_path: Path) -> None:
    ts = session_ns(375)
    close = 24_500 + 40 * np.sin(np.arange(375) / 40)
    line = np.where(np.arange(375) < 200, close - 20, close + 20)
    direction = np.where(np.arange(375) < 200, 1.0, -1.0)
    index = IndexDay(ts=ts, close=close, line=line, direction=direction)
    numbered = list(enumerate(TRADES, start=1))
    assert_png(dayplots.plot_index_day(DAY, "NIFTY", index, numbered, tmp_path / "day.png",
                                       "Supertrend(10, 3) on 1m bars"))
    assert_png(dayplots.plot_index_day(DAY, "NIFTY", None, numbered, tmp_path / "none.png"))


def test_premium_chart_with_levels(tmp_path: Path) -> None:
    number, trade = 1, TRADES[0]
    path = premium_path(trade)
    levels = exit_levels(path, trade, SETTINGS)
    assert_png(dayplots.plot_trade_premium(number, trade, path, levels,
                                           tmp_path / "premium.png"))


def test_premium_chart_without_data_says_so(tmp_path: Path) -> None:
    assert_png(dayplots.plot_trade_premium(1, TRADES[0], None, None, tmp_path / "none.png"))
