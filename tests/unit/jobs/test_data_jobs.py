"""ensure_simulated: gaps filled with synthetic days next to existing data are said loudly."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from core.config_check import compose_config
from feeds.catalog import Catalog
from jobs.data_jobs import ensure_simulated


def _app(root: Path) -> object:
    return compose_config([f"data.root={root}", "sim.tick_seconds=30"])


def test_a_fresh_catalog_is_filled_quietly(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jobs.data_jobs"):
        written = ensure_simulated(_app(tmp_path), [date(2024, 10, 8), date(2024, 10, 9)])
    assert written == [date(2024, 10, 8), date(2024, 10, 9)]
    assert not [r for r in caplog.records if r.name == "jobs.data_jobs"]


def test_synthetic_days_written_next_to_existing_bars_are_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path)
    ensure_simulated(app, [date(2024, 10, 8)])  # stands for days already in the catalog
    with caplog.at_level(logging.WARNING, logger="jobs.data_jobs"):
        written = ensure_simulated(app, [date(2024, 10, 8), date(2024, 10, 10)])
    assert written == [date(2024, 10, 10)]
    [record] = [r for r in caplog.records if r.name == "jobs.data_jobs"]
    assert record.levelno == logging.WARNING
    assert "1 synthetic day(s) (2024-10-10)" in record.getMessage()
    assert "data.options=model" in record.getMessage()
    assert [d for _, d in Catalog(tmp_path).bar_days("NIFTY")] == [date(2024, 10, 8),
                                                                    date(2024, 10, 10)]
