"""Bad input through the real engine: logged skips and clear reasons, never a crash or a
wrong order (every journalled order names a real option contract)."""

from __future__ import annotations

import logging
import math
from datetime import date
from pathlib import Path

import pytest

from core.config_check import compose_config
from core.errors import ConfigError
from tests.integration.scenario import (
    DAY,
    WARMUP_DAY,
    Quote,
    Scenario,
    at,
    check_journal,
    decision_at,
    option,
    ramp,
    replay,
    run_scenario,
    secs,
    steps,
    write_scenario,
)

FLAT_ATM = ramp(("09:15", 24490.0), ("15:29:59", 24510.0))  # ATM 24500 all day
NAN = math.nan


def test_missing_days_are_logged_and_skipped(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    write_scenario(tmp_path, Scenario(FLAT_ATM, [option(1001, 24500, steps(("09:15", 150.0)))]))
    before, after = date(2024, 10, 7), date(2024, 10, 10)
    with caplog.at_level(logging.ERROR, logger="strategies.engine"):
        # WARMUP_DAY has index ticks but no options listed: unusable for trading too.
        results, journal = replay(tmp_path, [before, WARMUP_DAY, DAY, after])
    check_journal(journal)
    assert [r.day for r in results] == [DAY]
    assert results[0].trades == 1
    assert len(journal.trades) == 1
    skips = [d for d in journal.decisions if d.kind == "skip"]
    assert [(d.at, d.taken) for d in skips] == [
        (at("09:15", before), False), (at("09:15", WARMUP_DAY), False),
        (at("09:15", after), False)]
    assert skips[0].reason == f"day skipped: no ticks for NIFTY on 2024-10-07 in {tmp_path}"
    assert skips[1].reason == ("day skipped: NIFTY 2024-10-08: contracts.parquet lists no "
                               "options")
    assert skips[2].reason.startswith("day skipped: no ticks for NIFTY on 2024-10-10")
    assert sum("skipping 2024-10-" in r.message for r in caplog.records) == 3


def no_quotes(_s: int) -> Quote | None:
    return None


def test_empty_chain_is_no_trade_with_a_reason(tmp_path: Path) -> None:
    scenario = Scenario(FLAT_ATM, [option(1001, 24500, no_quotes),
                                   option(1002, 24550, no_quotes)])
    results, journal = run_scenario(tmp_path, scenario)
    check_journal(journal)
    assert results[0].trades == 0
    assert journal.orders == []
    entries = [d for d in journal.decisions if d.kind == "entry"]
    assert len(entries) == 314  # every bar 09:16 .. 14:29 (then the theta cutoff)
    assert {d.reason for d in entries} == {"empty chain for NIFTY"}
    assert not any(d.taken for d in entries)


def test_a_listed_contract_without_quotes_is_passed_over(tmp_path: Path) -> None:
    # The ATM call never quotes: the strategy buys the next strike up instead.
    scenario = Scenario(FLAT_ATM, [option(1001, 24500, no_quotes),
                                   option(1002, 24550, steps(("09:15", 120.0)))])
    _, journal = run_scenario(tmp_path, scenario, "risk.cooldown_s=86400")
    check_journal(journal)
    [trade] = journal.trades
    assert trade.security_id == 1002
    assert trade.entry_at == at("09:16:05")
    assert {o.security_id for o in journal.orders} == {1002}


def nan_quotes() -> object:
    """150 flat, 105 from 10:00:10, with NaN quotes around the 09:16 bar and at 10:00, and a
    last price without a book (bid/ask NaN) at 10:00:10."""
    base = steps(("09:15", 150.0), ("10:00:10", 105.0))
    blank = [(secs("09:15:50"), secs("09:16:30")), (secs("10:00"), secs("10:00:10"))]

    def quote(s: int) -> Quote | None:
        good = base(s)
        if good is None:
            return None
        if any(a <= s < b for a, b in blank):
            return (NAN, NAN, NAN)
        if s == secs("10:00:10"):
            return (NAN, NAN, good[2])
        return good

    return quote


def test_nan_option_prices_give_no_decision_and_no_fill(tmp_path: Path) -> None:
    scenario = Scenario(FLAT_ATM, [option(1001, 24500, nan_quotes())])
    _, journal = run_scenario(tmp_path, scenario, "risk.cooldown_s=86400")
    check_journal(journal)
    # 09:16: the only candidate's last quote is NaN, so no strike passes.
    [first] = decision_at(journal, at("09:16"), "entry")
    assert not first.taken
    assert first.reason == "no candidate passed the filters"
    strikes = {c.name: c.detail for c in first.checks if c.name.startswith("strike ")}
    assert strikes == {"strike NIFTY 2024-10-10 24500 CE": "ltp: ltp nan is not > 0",
                       "strike NIFTY 2024-10-10 24550 CE": "quote: no CE quote at 24550",
                       "strike NIFTY 2024-10-10 24600 CE": "quote: no CE quote at 24600"}
    [trade] = journal.trades
    assert (trade.entry_at, trade.entry_price) == (at("09:17:05"), 150.05)
    # NaN ticks 10:00-10:00:05 decide nothing; the 10:00:10 last price stops the position
    # out, but with no bid there it fills on the next quote's bid.
    exits = [d for d in journal.decisions if d.kind == "exit"]
    assert [(d.at, d.reason) for d in exits] == [(at("10:00:10"), "stop_loss_30pct")]
    assert (trade.exit_at, trade.exit_price) == (at("10:00:15"), 104.95)
    assert all(not math.isnan(f.price) for f in journal.fills)


def test_sizing_stop_must_equal_the_exit_stop() -> None:
    with pytest.raises(ConfigError) as err:
        compose_config(["risk.sizing_sl_pct=0.25"])
    assert str(err.value) == (
        "risk.sizing_sl_pct=0.25 differs from risk.sl_pct=0.3: sizing must use the same stop "
        "loss as the exits (remove sizing_sl_pct)")
    assert compose_config(["risk.sizing_sl_pct=0.3"]).risk.sl_pct == 0.3
