"""A small harness for golden scenarios: scripted NIFTY days through the real engine.

A scenario is the index LTP and a few option quote paths as functions of the seconds since
09:15:00 IST (the index ticks every second 09:15:00-15:29:59; an option quotes in the seconds
its path returns a quote for). :func:`write_scenario` turns it into a
catalog day (plus a warm-up session of index ticks before it) and :func:`run_scenario` replays
it with ``strategies.engine.run_days`` under an ``AppConfig`` composed from ``conf/`` with
overrides, returning the day results and the ``MemoryJournal``.

Helpers build paths from knots: :func:`ramp` (index, linear between knots) and
:func:`steps` (option LTP held between knots, quoted one tick either side).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from core.calendar import TradingCalendar
from core.clock import ist_to_utc, ns_from_utc
from core.config import AppConfig
from core.config_check import compose_config
from core.instruments import contract_name
from feeds.catalog import Catalog
from strategies.engine import DayResult, run_days
from strategies.records import MemoryJournal
from strategies.setup import build_setup

UNDERLYING = "NIFTY"
INDEX_ID = 13
LOT = 25
TICK = 0.05
SESSION_SECONDS = 22_500  # 09:15:00 .. 15:29:59
DAY = date(2024, 10, 9)
WARMUP_DAY = date(2024, 10, 8)
EXPIRY = date(2024, 10, 10)  # the Thursday weekly NIFTY expiry of DAY's week

# Tick replay. The scripted ramps have (almost) no volatility, so the realised-vol IV-rank
# proxy ranks float noise: its band is opened so the scenarios test strikes, guard, sizing
# and exits.
BASE_OVERRIDES = (
    "mode=replay",  # ticks, not the 1m-bar backtest
    "strategy.presets.balanced.iv_rank_min=0.0",
    "strategy.presets.balanced.iv_rank_max=1.0",
)

IndexPath = Callable[[np.ndarray], np.ndarray]  # seconds since 09:15 -> index LTP
Quote = tuple[float, float, float]  # (bid, ask, ltp)
QuotePath = Callable[[int], Quote | None]  # seconds since 09:15 -> quote, None = no update


@dataclass(frozen=True)
class OptionPath:
    """One listed option of the scenario and its quotes through the day."""

    security_id: int
    strike: float
    option_type: str  # "CE" | "PE"
    quotes: QuotePath
    oi: int = 500_000
    top_qty: int = 1_800  # bid and ask quantity (large: no partial fills)

    @property
    def symbol(self) -> str:
        return contract_name(UNDERLYING, EXPIRY, self.strike, self.option_type)


@dataclass(frozen=True)
class Scenario:
    index: IndexPath
    options: Sequence[OptionPath]
    warmup_index: IndexPath | None = None  # default: a gentle rise ending at index(0)
    day: date = DAY


def secs(hhmmss: str) -> int:
    """Seconds since 09:15:00 of an IST wall time ``HH:MM[:SS]``."""
    parts = [int(p) for p in hhmmss.split(":")]
    hh, mm, ss = (parts + [0])[:3]
    return (hh * 3600 + mm * 60 + ss) - (9 * 3600 + 15 * 60)


def at(hhmmss: str, day: date = DAY) -> datetime:
    """UTC instant of an IST wall time on ``day``."""
    parts = [int(p) for p in hhmmss.split(":")]
    hh, mm, ss = (parts + [0])[:3]
    return ist_to_utc(day, time(hh, mm, ss))


def ramp(*knots: tuple[str, float]) -> IndexPath:
    """Index LTP linear between ``(HH:MM[:SS], level)`` knots, flat beyond the ends."""
    xs = np.array([secs(t) for t, _ in knots], dtype=np.float64)
    ys = np.array([v for _, v in knots], dtype=np.float64)
    return lambda s: np.interp(np.asarray(s, dtype=np.float64), xs, ys)


def steps(*knots: tuple[str, float], half_spread: float = TICK, every: int = 5,
          gaps: Sequence[tuple[str, str]] = ()) -> QuotePath:
    """Option LTP held from each ``(HH:MM[:SS], ltp)`` knot to the next, quoted at
    ``ltp -/+ half_spread`` every ``every`` seconds (on multiples from 09:15) and at each knot;
    no quotes inside any ``(start, end)`` gap (end excluded).

    A quote every 5 s keeps a held contract's day at ~4,500 ticks (a scenario replays in about
    a second) and every 1m bar close has a quote of age 0.
    """
    starts = [secs(t) for t, _ in knots]
    levels = [v for _, v in knots]
    holes = [(secs(a), secs(b)) for a, b in gaps]

    def quote(s: int) -> Quote | None:
        if s < starts[0] or any(a <= s < b for a, b in holes):
            return None
        if s % every and s not in starts:
            return None
        ltp = levels[int(np.searchsorted(starts, s, side="right")) - 1]
        return (round(ltp - half_spread, 2), round(ltp + half_spread, 2), ltp)

    return quote


def option(security_id: int, strike: float, quotes: QuotePath, option_type: str = "CE",
           **kwargs: int) -> OptionPath:
    return OptionPath(security_id, strike, option_type, quotes, **kwargs)


def contract_rows(options: Sequence[OptionPath]) -> list[dict]:
    """The day's contracts.parquet rows: the index row first, then the options."""
    rows: list[dict] = [dict(
        security_id=INDEX_ID, segment="IDX_I", symbol=UNDERLYING, underlying=UNDERLYING,
        instrument="INDEX", expiry=None, strike=None, option_type=None, lot_size=1,
        tick_size=TICK, freeze_qty=None)]
    rows += [dict(security_id=o.security_id, segment="NSE_FNO", symbol=o.symbol,
                  underlying=UNDERLYING, instrument="OPTIDX", expiry=EXPIRY,
                  strike=float(o.strike), option_type=o.option_type, lot_size=LOT,
                  tick_size=TICK, freeze_qty=1_800) for o in options]
    return rows


def day_ticks(day: date, index: IndexPath, options: Sequence[OptionPath]) -> dict:
    """Catalog tick columns of one session: the index every second plus the option quotes."""
    open_ns = ns_from_utc(ist_to_utc(day, time(9, 15)))
    seconds = np.arange(SESSION_SECONDS)
    parts = [_index_part(open_ns, seconds, index(seconds))]
    parts += [_option_part(open_ns, o) for o in options]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _index_part(open_ns: int, seconds: np.ndarray, ltp: np.ndarray) -> dict:
    n = len(seconds)
    nan = np.full(n, np.nan)
    zeros = np.zeros(n, dtype=np.int64)
    return dict(ts=open_ns + seconds * 1_000_000_000, security_id=np.full(n, INDEX_ID),
                ltp=np.asarray(ltp, dtype=np.float64), bid=nan, ask=nan, ltq=zeros,
                bid_qty=zeros, ask_qty=zeros, volume=zeros, oi=zeros)


def _option_part(open_ns: int, path: OptionPath) -> dict:
    rows = [(s, q) for s in range(SESSION_SECONDS) if (q := path.quotes(s)) is not None]
    n = len(rows)
    prices = np.array([q for _, q in rows], dtype=np.float64).reshape(n, 3)
    qty = np.full(n, path.top_qty)
    return dict(ts=open_ns + np.array([s for s, _ in rows], dtype=np.int64) * 1_000_000_000,
                security_id=np.full(n, path.security_id), ltp=prices[:, 2],
                bid=prices[:, 0], ask=prices[:, 1], ltq=np.full(n, LOT), bid_qty=qty,
                ask_qty=qty, volume=np.arange(n) * LOT, oi=np.full(n, path.oi))


def write_scenario(root: Path, scenario: Scenario) -> Catalog:
    """Write the warm-up session (index ticks only) and the scenario's day into ``root``."""
    catalog = Catalog(root)
    start = float(scenario.index(np.zeros(1))[0])
    warmup = scenario.warmup_index or ramp(("09:15", start - 20.0), ("15:29:59", start))
    catalog.write_ticks(UNDERLYING, WARMUP_DAY, day_ticks(WARMUP_DAY, warmup, ()),
                        contract_rows(()))
    catalog.write_ticks(UNDERLYING, scenario.day,
                        day_ticks(scenario.day, scenario.index, scenario.options),
                        contract_rows(scenario.options))
    return catalog


def config(root: Path, *overrides: str) -> AppConfig:
    """The app config for a scenario under ``root``: defaults, the base overrides, yours."""
    return compose_config([f"data.root={root}", *BASE_OVERRIDES, *overrides])


def replay(root: Path, days: Sequence[date], *overrides: str
           ) -> tuple[list[DayResult], MemoryJournal]:
    """Run the engine over ``days`` of the catalog at ``root``."""
    app = config(root, *overrides)
    journal = MemoryJournal()
    results = run_days(app, build_setup(app, run_tag="t1"), Catalog(root),
                       TradingCalendar(app.data.extra_sessions), list(days), journal)
    return results, journal


def run_scenario(root: Path, scenario: Scenario, *overrides: str
                 ) -> tuple[list[DayResult], MemoryJournal]:
    """Write ``scenario`` under ``root`` and replay its day."""
    write_scenario(root, scenario)
    return replay(root, [scenario.day], *overrides)


def failed_checks(decision: object) -> set[str]:
    """Names of the checks a decision record failed."""
    return {c.name for c in decision.checks if not c.passed}  # type: ignore[attr-defined]


def decision_at(journal: MemoryJournal, when: datetime, kind: str | None = None) -> list:
    """Decisions recorded at ``when`` (of ``kind`` when given)."""
    return [d for d in journal.decisions
            if d.at == when and (kind is None or d.kind == kind)]


def check_journal(journal: MemoryJournal) -> None:
    """Invariants every run must keep: orders name a real contract, trades add up."""
    for order in journal.orders:
        assert isinstance(order.security_id, int), order
        assert order.security_id > 0, order
        assert order.security_id != INDEX_ID, order
    fills: dict[str, list] = {}
    for fill in journal.fills:
        fills.setdefault(fill.correlation_id, []).append(fill)
    for trade in journal.trades:
        assert trade.quantity == trade.lots * LOT, trade
        gross = round(trade.quantity * (trade.exit_price - trade.entry_price), 2)
        assert trade.gross_pnl == gross, trade
        paid = sum(f.charges for key in (trade.entry_correlation_id, trade.exit_correlation_id)
                   for f in fills.get(key, []))
        assert trade.charges == round(paid, 2), trade
        assert trade.net_pnl == round(trade.gross_pnl - trade.charges, 2), trade
