"""Number formats of the report and the rendering of the metrics table."""

from __future__ import annotations

import math
from datetime import date

import pytest

from jobs.report_jobs import parse_run_ids
from reports.build import choose_chart_days, config_differences
from reports.html import inr, metric_rows, number, percent, render, rupee
from reports.metrics import compute_metrics


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0.00"),
    (999.5, "999.50"),
    (1234.5, "1,234.50"),
    (100_000.0, "1,00,000.00"),
    (-12_345_678.9, "-1,23,45,678.90"),
    (-0.001, "0.00"),  # no "-0.00"
    (None, "-"),
    (math.nan, "-"),
    (math.inf, "-"),
])
def test_inr_uses_indian_grouping(value: float | None, text: str) -> None:
    assert inr(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (-6044.56, "-₹6,044.56"), (3297.456, "₹3,297.46"), (None, "-")])
def test_rupee_puts_the_sign_before_the_symbol(value: float | None, text: str) -> None:
    assert rupee(value) == text


def test_undefined_numbers_and_percentages_show_a_dash() -> None:
    assert (number(None), number(math.nan), percent(None)) == ("-", "-", "-")
    assert (number(1234.567), percent(12.345)) == ("1,234.57", "12.3%")


def test_metric_rows_of_an_empty_run_have_no_nan_or_inf() -> None:
    rows = dict(metric_rows(compute_metrics([], [date(2024, 10, 7)], 100_000.0)))
    assert rows["Win rate"] == "-"
    assert rows["Net P&L after charges (₹)"] == "0.00"
    assert rows["Max drawdown duration"] == "-"
    assert not any(bad in value.lower() for value in rows.values() for bad in ("nan", "inf"))


def test_base_template_is_a_whole_page() -> None:
    html = render("base.html.j2")
    assert html.startswith("<!DOCTYPE html>")
    assert "<style>" in html


@pytest.mark.parametrize(("text", "ids"), [
    ("r1", ["r1"]), ("r1,r2", ["r1", "r2"]), (" r1 , r2 r3 ", ["r1", "r2", "r3"]),
    ("r1,r1", ["r1"]), ("", [])])
def test_parse_run_ids(text: str, ids: list[str]) -> None:
    assert parse_run_ids(text) == ids


def test_choose_chart_days_keeps_the_best_and_worst_in_date_order() -> None:
    days = [date(2024, 10, d) for d in range(1, 8)]
    daily = list(zip(days, [5.0, -9.0, 1.0, 7.0, -2.0, 0.0, 3.0], strict=True))
    traded = set(days) - {days[5]}
    assert choose_chart_days(daily, traded, 10) == [d for d in days if d in traded]
    assert choose_chart_days(daily, traded, 4) == [days[0], days[1], days[3], days[4]]


def test_config_differences_lists_only_changed_keys() -> None:
    first = "risk:\n  sl_pct: 0.3\n  tp_pct: 0.6\nmode:\n  name: backtest\n"
    second = "risk:\n  sl_pct: 0.2\n  tp_pct: 0.6\nmode:\n  name: backtest\nextra: 1\n"
    assert config_differences([first, second]) == [("extra", ["-", "1"]),
                                                   ("risk.sl_pct", ["0.3", "0.2"])]
