"""Bar mode (``mode=backtest``): the same engine on 1m bars, with the documented OHLC rules.

A bar becomes quotes at +1 s (open), +20 s (low), +40 s (high), +59 s (close), quoted -/+ one
tick; an order decided on one of those points fills on it. So a stop seen at a bar's low
fills at that low, never at the high that follows it in the path (which would flatter a
buyer). Entries fill at the next bar's open plus the half spread.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.calendar import TradingCalendar
from core.config_check import compose_config
from feeds.catalog import Catalog
from sim.market import write_days
from strategies.engine import run_day, run_days
from strategies.records import MemoryJournal
from strategies.setup import build_setup
from tests.integration.scenario import (
    BASE_OVERRIDES,
    DAY,
    Scenario,
    at,
    check_journal,
    option,
    ramp,
    steps,
    write_scenario,
)

# The premium dips to 100 for one second at 10:00:20 and is back at 150 at 10:00:21.
DIP = steps(("09:15", 150.0), ("10:00:20", 100.0), ("10:00:21", 150.0))
SCENARIO = Scenario(index=ramp(("09:15", 24490.0), ("15:29:59", 24510.0)),
                    options=[option(1001, 24500, DIP)])


def run(root: Path, mode: str) -> MemoryJournal:
    overrides = [o for o in BASE_OVERRIDES if not o.startswith("mode=")]
    app = compose_config([f"data.root={root}", f"mode={mode}", *overrides,
                          "risk.cooldown_s=86400"])
    journal = MemoryJournal()
    run_days(app, build_setup(app, "bm"), Catalog(root), TradingCalendar(), [DAY], journal)
    check_journal(journal)
    return journal


def test_bar_mode_fills_a_stop_at_the_bars_low(tmp_path: Path) -> None:
    write_scenario(tmp_path, SCENARIO)
    journal = run(tmp_path, "backtest")
    assert len(journal.trades) == 1
    trade = journal.trades[0]
    assert (trade.entry_at, trade.entry_price) == (at("09:16:01"), 150.05)  # next bar's open
    assert (trade.exit_at, trade.exit_price) == (at("10:00:20"), 99.95)  # the low, less a tick
    assert trade.exit_tag == "stop_loss_30pct"


def test_tick_mode_fills_the_same_stop_on_the_next_quote(tmp_path: Path) -> None:
    write_scenario(tmp_path, SCENARIO)
    journal = run(tmp_path, "replay")
    assert len(journal.trades) == 1
    trade = journal.trades[0]
    assert (trade.entry_at, trade.entry_price) == (at("09:16:05"), 150.05)
    assert (trade.exit_at, trade.exit_price) == (at("10:00:21"), 149.95)  # it had recovered
    assert trade.exit_tag == "stop_loss_30pct"


def test_bar_mode_caches_option_bars_next_to_the_index_bars(tmp_path: Path) -> None:
    catalog = write_scenario(tmp_path, SCENARIO)
    run(tmp_path, "backtest")
    bars = catalog.read_bars("NIFTY", DAY, DAY)
    assert set(bars["security_id"].tolist()) == {13, 1001}
    dip = (bars["security_id"] == 1001) & (bars["ts"] == int(at("10:00").timestamp()) * 10**9)
    assert (bars["open"][dip][0], bars["low"][dip][0], bars["high"][dip][0],
            bars["close"][dip][0]) == (150.0, 100.0, 150.0, 150.0)


def _simulated_week(root: Path, mode: str, sessions: int,
                    extra: tuple[str, ...] = ()) -> tuple[object, TradingCalendar, list]:
    app = compose_config([f"data.root={root}", f"mode={mode}", "sim.tick_seconds=5", *extra])
    calendar = TradingCalendar(app.data.extra_sessions)
    days = calendar.sessions(date(2024, 10, 7), date(2024, 10, 11))[:sessions + 1]
    write_days(Catalog(root), app.index, app.sim, calendar, days)
    return app, calendar, days[1:]


def _run(app: object, calendar: TradingCalendar, days: list, batch: bool,
         take: bool) -> tuple[MemoryJournal, int]:
    journal, balance, number, steps = MemoryJournal(), app.risk.capital, 1, 0
    for day in days:
        result = run_day(app, build_setup(app, "bm"), Catalog(app.data.root), calendar, day,
                         balance, journal, number, batch_bar_paths=batch, take_bars=take)
        balance, number = result.end_balance, result.next_order_number
        steps += result.engine_steps
    return journal, steps


@pytest.mark.parametrize(("mode", "sessions", "min_trades", "extra"), [
    ("backtest", 4, 15, ()),
    ("replay", 2, 4, ()),
    # 25 s latency: orders fill on a later point of the path, or in the next minute's walk
    ("backtest", 2, 4, ("broker.latency_ms=25000",)),
])
def test_engine_shortcuts_give_the_reference_journal(tmp_path: Path, mode: str, sessions: int,
                                                     min_trades: int,
                                                     extra: tuple[str, ...]) -> None:
    """Walking a bar's path in one step, taking idle bars without a step and (bar mode)
    taking every bar with the slots driven by the strategy change nothing."""
    app, calendar, days = _simulated_week(tmp_path, mode, sessions, extra)
    reference, reference_steps = _run(app, calendar, days, batch=False, take=False)
    tags = {t.exit_tag for t in reference.trades}
    assert len(reference.trades) >= min_trades
    if sessions == 4:  # a busy week: stops, trailing exits, the breaker
        assert {"stop_loss_30pct", "trailing_stop_3pct", "circuit_breaker_6pct"} <= tags
    assert len(reference.decisions) > 300 * sessions  # every session bar logged
    batched, batched_steps = _run(app, calendar, days, batch=True, take=False)
    fast, fast_steps = _run(app, calendar, days, batch=True, take=True)
    for kind in ("trades", "orders", "order_updates", "fills", "positions", "decisions",
                 "days"):
        assert getattr(batched, kind) == getattr(reference, kind), kind
        assert getattr(fast, kind) == getattr(reference, kind), kind
    if mode == "backtest":  # every bar taken by the strategy, the slots driven by it
        assert reference_steps > batched_steps > fast_steps == 0
    else:  # ticks are never batched; held contracts' ticks still step
        assert reference_steps == batched_steps > fast_steps > 0
