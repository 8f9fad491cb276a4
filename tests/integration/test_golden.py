"""Golden scenarios: scripted NIFTY days through the real engine give exactly these trades.

Every scenario trades the 2024-10-10 weekly expiry on 2024-10-09 (lot 25) with the index
rising monotonically (bullish on 1m and 5m from the first bar, ADX 100), so a CE is bought at
the first 1m bar close (09:16:00) and filled at its next quote (09:16:05) at the ask. Options
quote every 5 s (and at each scripted change) at ``ltp -/+ 0.05``: entries fill at
``ltp + 0.05``, exits at ``ltp - 0.05``, on the first quote strictly after the decision.
Sizing at the default capital 100,000 (band up to 150,000: allocation 25%, risk 3.5%) at
150.05: by allocation 25,000 / 3,751.25 = 6 lots, by risk 3,500 / (3,751.25 x 0.30) = 3 lots
-> 3 lots = 75.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strategies.records import MemoryJournal, TradeRecord
from tests.integration.scenario import (
    Scenario,
    at,
    check_journal,
    decision_at,
    failed_checks,
    option,
    ramp,
    run_scenario,
    steps,
)

ATM_CE, CE_24550, CE_24600 = 1001, 1002, 1003
SYMBOL = {ATM_CE: "NIFTY 2024-10-10 24500 CE", CE_24550: "NIFTY 2024-10-10 24550 CE",
          CE_24600: "NIFTY 2024-10-10 24600 CE"}
# 24490 -> 24510 over the day: ATM stays 24500.
FLAT_ATM = ramp(("09:15", 24490.0), ("15:29:59", 24510.0))
# 50 points a minute until 09:18, then a crawl: at the 09:16, 09:17 and 09:18 bar closes the
# index is 24510, 24560, 24610, so ATM walks 24500 -> 24550 -> 24600 and stays there.
ATM_WALK = ramp(("09:15", 24460.0), ("09:18", 24610.0), ("15:29:59", 24620.0))
ONE_TRADE = "risk.cooldown_s=86400"  # no re-entry of the contract after its exit


def single_ce(root: Path, quotes, *overrides: str) -> tuple[list, MemoryJournal]:
    scenario = Scenario(index=FLAT_ATM, options=[option(ATM_CE, 24500, quotes)])
    results, journal = run_scenario(root, scenario, *overrides)
    check_journal(journal)
    return results, journal


def assert_trade(trade: TradeRecord, security_id: int, entry: tuple[str, float],
                 exit_: tuple[str, float], quantity: int, tag: str) -> None:
    assert trade.security_id == security_id
    assert trade.symbol == SYMBOL[security_id]
    assert (trade.entry_at, trade.entry_price) == (at(entry[0]), entry[1])
    assert (trade.exit_at, trade.exit_price) == (at(exit_[0]), exit_[1])
    assert (trade.quantity, trade.lots) == (quantity, quantity // 25)
    assert trade.exit_tag == tag
    assert trade.gross_pnl == round(quantity * (exit_[1] - entry[1]), 2)
    assert trade.net_pnl == round(trade.gross_pnl - trade.charges, 2)
    assert trade.charges > 0


def exit_decisions(journal: MemoryJournal) -> list[tuple]:
    return [(d.at, d.reason) for d in journal.decisions if d.kind == "exit"]


# -- single-position exits ---------------------------------------------------------------------


def test_stop_loss(tmp_path: Path) -> None:
    # Stop at 150.05 x 0.70 = 105.035: 105.05 holds, 105.00 fires.
    quotes = steps(("09:15", 150.0), ("09:50", 105.05), ("10:00", 105.0))
    results, journal = single_ce(tmp_path, quotes, ONE_TRADE)
    [trade] = journal.trades
    assert_trade(trade, ATM_CE, ("09:16:05", 150.05), ("10:00:05", 104.95), 75,
                 "stop_loss_30pct")
    assert trade.gross_pnl == -3382.5
    assert exit_decisions(journal) == [(at("10:00"), "stop_loss_30pct")]
    assert [o.reference_price for o in journal.orders] == [150.05, 105.0]
    assert results[0].realised_pnl == trade.net_pnl
    assert results[0].end_balance == round(100_000 + trade.net_pnl, 2)


def test_take_profit(tmp_path: Path) -> None:
    # Target 150.05 x 1.60 = 240.08: 240.05 holds, 240.10 fires (the lock at 200 changes
    # nothing: the target is checked before the trail).
    quotes = steps(("09:15", 150.0), ("09:20", 200.0), ("09:30", 240.05), ("09:40", 240.10))
    _, journal = single_ce(tmp_path, quotes, ONE_TRADE)
    [trade] = journal.trades
    assert_trade(trade, ATM_CE, ("09:16:05", 150.05), ("09:40:05", 240.05), 75,
                 "take_profit_60pct")
    assert trade.breakeven_locked
    assert trade.hwm == 240.10
    assert exit_decisions(journal) == [(at("09:40"), "take_profit_60pct")]


def test_breakeven_lock_then_trailing_stop(tmp_path: Path) -> None:
    # 170 >= 150.05 x 1.10 = 165.055 locks; HWM 180 puts the trail at 180 x 0.97 = 174.6:
    # 174.65 holds, 174.60 fires.
    quotes = steps(("09:15", 150.0), ("09:20", 170.0), ("09:25", 180.0), ("09:30", 174.65),
                   ("09:35", 174.60))
    _, journal = single_ce(tmp_path, quotes, ONE_TRADE)
    [trade] = journal.trades
    assert_trade(trade, ATM_CE, ("09:16:05", 150.05), ("09:35:05", 174.55), 75,
                 "trailing_stop_3pct")
    assert trade.breakeven_locked
    assert trade.hwm == 180.0
    locked = [p for p in journal.positions if p.breakeven_locked]
    assert locked[0].at == at("09:20")
    assert locked[0].status == "active"


def test_breakeven_stop_with_a_wide_trail(tmp_path: Path) -> None:
    # trail 20%: after the lock at 170 the trail (170 x 0.8 = 136) is below the entry, so the
    # stop is the entry 150.05: 150.10 holds, 150.05 fires.
    quotes = steps(("09:15", 150.0), ("09:20", 170.0), ("09:30", 150.10), ("09:40", 150.05))
    _, journal = single_ce(tmp_path, quotes, ONE_TRADE, "risk.trail_pct=0.20")
    [trade] = journal.trades
    assert_trade(trade, ATM_CE, ("09:16:05", 150.05), ("09:40:05", 150.0), 75,
                 "breakeven_stop")
    assert trade.gross_pnl == -3.75
    assert trade.net_pnl < -3.75


@pytest.mark.parametrize(("gaps", "decided", "filled"), [
    ((), "15:20:00", "15:20:05"),  # the 15:20:00 quote itself decides
    ((("15:19:58", "15:20:10"),), "15:20:00", "15:20:10"),  # the 15:20 bar decides
], ids=["quote_at_1520", "quote_gap_at_1520"])
def test_time_exit(tmp_path: Path, gaps: tuple, decided: str, filled: str) -> None:
    quotes = steps(("09:15", 150.0), gaps=gaps)
    _, journal = single_ce(tmp_path, quotes)
    [trade] = journal.trades
    assert_trade(trade, ATM_CE, ("09:16:05", 150.05), (filled, 149.95), 75, "time_exit_1520")
    assert exit_decisions(journal) == [(at(decided), "time_exit_1520")]
    # No entry after the 15:00 cutoff (nor while held): one order pair in the whole day.
    assert [o.purpose for o in journal.orders] == ["entry", "exit"]


# -- guard and sizing --------------------------------------------------------------------------


def test_cooldown_blocks_the_same_contract_for_180s(tmp_path: Path) -> None:
    # Stopped out on the 09:59:55 quote, filled at 10:00:00; the premium is back at 150 from
    # 10:00:05. The contract is blocked at the 10:00, 10:01 and 10:02 bars and bought again at
    # 10:03:00 = exit + 180 s.
    quotes = steps(("09:15", 150.0), ("09:59:55", 105.0), ("10:00:05", 150.0))
    _, journal = single_ce(tmp_path, quotes)
    first, second = journal.trades
    assert_trade(first, ATM_CE, ("09:16:05", 150.05), ("10:00:00", 104.95), 75,
                 "stop_loss_30pct")
    assert second.entry_at == at("10:03:05")
    assert second.entry_price == 150.05
    assert second.exit_tag == "time_exit_1520"
    for minute in ("10:01", "10:02"):
        [decision] = decision_at(journal, at(minute), "entry")
        assert not decision.taken
        assert failed_checks(decision) == {"cooldown"}
    [taken] = decision_at(journal, at("10:03"), "entry")
    assert taken.taken
    assert taken.security_id == ATM_CE


def test_stale_option_quote_blocks_the_entry(tmp_path: Path) -> None:
    # No quote between 09:15:55 and 09:16:30: at the 09:16:00 bar the last one is 10 s old.
    quotes = steps(("09:15", 150.0), gaps=[("09:15:55", "09:16:30")])
    _, journal = single_ce(tmp_path, quotes, ONE_TRADE)
    [blocked] = decision_at(journal, at("09:16"), "entry")
    assert not blocked.taken
    assert failed_checks(blocked) == {"option_quote"}
    assert "age 10.0s" in {c.name: c.detail for c in blocked.checks}["option_quote"]
    [trade] = journal.trades
    assert trade.entry_at == at("09:17:05")
    assert journal.orders[0].at == at("09:17")


def test_zero_lots_is_no_trade_and_logged(tmp_path: Path) -> None:
    # Capital 5,000: allocation 1,500 < one lot (3,751.25), risk 250 < one lot's stop loss.
    _, journal = single_ce(tmp_path, steps(("09:15", 150.0)), "risk.capital=5000")
    assert journal.trades == []
    assert journal.orders == []
    assert journal.fills == []
    [first] = decision_at(journal, at("09:16"), "entry")
    assert not first.taken
    assert failed_checks(first) == {"sizing"}
    assert first.reason == "zero lots: zero lots: alloc 0, risk 0, cap 10"


# -- several positions: pyramiding limit, circuit breaker, no look-ahead ----------------------


def walk_scenario(first_quotes, second_quotes) -> Scenario:
    third = steps(("09:15", 150.0))
    return Scenario(index=ATM_WALK, options=[option(ATM_CE, 24500, first_quotes),
                                             option(CE_24550, 24550, second_quotes),
                                             option(CE_24600, 24600, third)])


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory: pytest.TempPathFactory) -> MemoryJournal:
    # The first CE is in profit (152) at 09:17, so a second CE may be added; no exit fires
    # until 15:20.
    first = steps(("09:15", 150.0), ("09:16:30", 152.0))
    scenario = walk_scenario(first, steps(("09:15", 150.0)))
    _, journal = run_scenario(tmp_path_factory.mktemp("pyramid"), scenario, ONE_TRADE,
                              "risk.max_positions=2")
    check_journal(journal)
    return journal


def test_pyramiding_limit_refuses_a_third_entry(pyramid: MemoryJournal) -> None:
    first, second = pyramid.trades
    # Second entry sized on the cash left: 88,717.92 x 3.5% / (3,751.25 x 0.3) -> 2 lots.
    assert_trade(first, ATM_CE, ("09:16:05", 150.05), ("15:20:05", 151.95), 75,
                 "time_exit_1520")
    assert_trade(second, CE_24550, ("09:17:05", 150.05), ("15:20:05", 149.95), 50,
                 "time_exit_1520")
    [refused] = decision_at(pyramid, at("09:18"), "entry")
    assert refused.security_id == CE_24600
    assert not refused.taken
    assert {"max_positions", "same_side"} <= failed_checks(refused)
    assert {c.name: c.detail for c in refused.checks}["max_positions"] == (
        "2 open positions, limit 2")
    assert CE_24600 not in {o.security_id for o in pyramid.orders}


@pytest.fixture(scope="module")
def breaker(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, MemoryJournal]:
    # Capital 30,000 (band up to 75,000: allocation 30%, risk 5%): one lot each, entries at
    # 150.05 (24500 CE at 09:16:05, 24550 CE at 09:17:05). The breaker trips at day P&L
    # <= -6% x 30,000 = -1,800. At 10:00:00 both fall to 112: after the first falls its loss
    # is 25 x (112 - 150.05) = -951.25 (-976 with entry charges), the other is ~-26: no trip;
    # after the second the day is ~-1,953: trip, both sold at the next quote's bid 111.95.
    # Neither reaches its stop (105.035).
    first = steps(("09:15", 150.0), ("09:16:30", 152.0), ("10:00", 112.0))
    second = steps(("09:15", 150.0), ("10:00", 112.0))
    results, journal = run_scenario(tmp_path_factory.mktemp("breaker"),
                                    walk_scenario(first, second), ONE_TRADE,
                                    "risk.capital=30000")
    check_journal(journal)
    return results, journal


def test_circuit_breaker_flattens_both_and_blocks_the_day(breaker: tuple) -> None:
    results, journal = breaker
    first, second = journal.trades
    assert_trade(first, ATM_CE, ("09:16:05", 150.05), ("10:00:05", 111.95), 25,
                 "circuit_breaker_6pct")
    assert_trade(second, CE_24550, ("09:17:05", 150.05), ("10:00:05", 111.95), 25,
                 "circuit_breaker_6pct")
    # The breaker fired on the second drop; the first alone did not trip it.
    [trip] = [d for d in journal.decisions if d.kind == "breaker"]
    assert trip.at == at("10:00")
    assert trip.taken
    day_pnl = float(trip.reason.split()[2])
    assert -2_000 < day_pnl <= -1_800
    assert results[0].breaker_tripped
    assert results[0].realised_pnl == round(first.net_pnl + second.net_pnl, 2)
    # Two entries only (the third CE at 09:18 is over the same-side limit), and every bar
    # after the trip is refused by the breaker check.
    assert [o.purpose for o in journal.orders].count("entry") == 2
    later = [d for d in journal.decisions if d.kind == "entry" and d.at >= at("10:00")]
    assert len(later) == 270  # 10:00 .. 14:29; from the 14:30 theta cutoff: "signal" stage
    assert all(not d.taken and "breaker" in failed_checks(d) for d in later)


def test_exit_fill_waits_for_its_own_quote(tmp_path: Path) -> None:
    # One position at a time. The held 24500 CE is stopped at 10:00:00, but its next quote
    # comes only at 10:02:30: the position is open (and blocks new entries) until that fill,
    # so the next CE is bought at the first bar after it, 10:03:00.
    first = steps(("09:15", 150.0), ("10:00", 105.0), ("10:02:30", 104.0),
                  gaps=[("10:00:01", "10:02:30")])
    _, journal = run_scenario(tmp_path, walk_scenario(first, steps(("09:15", 150.0))),
                              ONE_TRADE, "risk.max_positions=1", "risk.max_same_side=1")
    check_journal(journal)
    first_trade, second_trade = journal.trades
    assert_trade(first_trade, ATM_CE, ("09:16:05", 150.05), ("10:02:30", 103.95), 75,
                 "stop_loss_30pct")
    assert second_trade.security_id == CE_24600  # ATM since 09:18
    assert second_trade.entry_at == at("10:03:05")
    assert second_trade.exit_tag == "time_exit_1520"  # never sees the first contract's prices
    [blocked] = decision_at(journal, at("10:01"), "entry")
    assert "max_positions" in failed_checks(blocked)


@pytest.mark.parametrize("mode", ["replay", "backtest"])
def test_every_bar_of_both_timeframes_reaches_the_strategy_while_a_position_is_held(
        tmp_path: Path, mode: str) -> None:
    # Held all day: the contract ticks every 5 s between the index bars. backtrader must
    # still hand the strategy all 375 one-minute and all 75 five-minute bars of the session.
    quotes = steps(("09:15", 150.0), ("09:16:05", 150.0))
    scenario = Scenario(index=FLAT_ATM, options=[option(ATM_CE, 24500, quotes)])
    results, journal = run_scenario(tmp_path, scenario, ONE_TRADE, f"mode={mode}")
    assert len(journal.trades) == 1
    assert journal.trades[0].exit_tag == "time_exit_1520"
    assert (results[0].primary_bars, results[0].confirm_bars) == (375, 75)
