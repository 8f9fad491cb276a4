"""Shared set-up for the benchmarks: a temporary catalog filled with simulated days."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.config_check import compose_config
from feeds.catalog import Catalog
from sim.market import write_days


def app_for(root: Path, *overrides: str) -> AppConfig:
    return compose_config([f"data.root={root}", *overrides])


def simulate(app: AppConfig, days: list[date]) -> float:
    """Write ``days`` plus their warm-up session into the catalog; returns seconds taken."""
    calendar = TradingCalendar(app.data.extra_sessions)
    warm = calendar.sessions_before(days[0], app.strategy.warmup_sessions)
    started = time.perf_counter()
    write_days(Catalog(app.data.root), app.index, app.sim, calendar, warm + days)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
