import re
from datetime import date, time

import pytest

from core.instruments import OptionContract, OptionType
from strategies.logic.exits import ExitParams
from strategies.logic.tags import (
    CORRELATION_ID_MAX,
    correlation_id,
    entry_tag,
    exit_tag,
    percent_label,
)
from strategies.logic.types import ExitReason

_CHARSET = re.compile(r"^[A-Za-z0-9 _-]+$")


def _contract(underlying: str = "NIFTY", strike: float = 24500.0,
              kind: OptionType = OptionType.CALL) -> OptionContract:
    return OptionContract(security_id=41001, segment="NSE_FNO", underlying=underlying,
                          expiry=date(2024, 10, 10), strike=strike, option_type=kind,
                          lot_size=25)


@pytest.mark.parametrize(("fraction", "label"), [
    (0.30, "30"), (0.25, "25"), (0.6, "60"), (0.03, "3"), (0.06, "6"), (0.125, "12p5"),
    (0.1, "10"), (0.0333, "3p33"), (1.0, "100"),
])
def test_percent_label(fraction, label):
    assert percent_label(fraction) == label


@pytest.mark.parametrize(("reason", "overrides", "tag"), [
    (ExitReason.STOP_LOSS, {}, "stop_loss_30pct"),
    (ExitReason.STOP_LOSS, {"sl_pct": 0.25}, "stop_loss_25pct"),
    (ExitReason.STOP_LOSS, {"sl_pct": 0.125}, "stop_loss_12p5pct"),
    (ExitReason.TAKE_PROFIT, {"tp_pct": 0.6}, "take_profit_60pct"),
    (ExitReason.TRAILING_STOP, {"trail_pct": 0.03}, "trailing_stop_3pct"),
    (ExitReason.TRAILING_STOP, {"trail_pct": 0.05}, "trailing_stop_5pct"),
    (ExitReason.CIRCUIT_BREAKER, {"breaker_pct": 0.06}, "circuit_breaker_6pct"),
    (ExitReason.TIME_EXIT, {}, "time_exit_1520"),
    (ExitReason.TIME_EXIT, {"time_exit": time(9, 5)}, "time_exit_0905"),
    (ExitReason.KILL_SWITCH, {}, "kill_switch"),
    (ExitReason.BREAKEVEN_STOP, {}, "breakeven_stop"),
    (ExitReason.END_OF_DATA, {}, "end_of_data"),
])
def test_exit_tag_from_configured_values(reason, overrides, tag):
    assert exit_tag(reason, ExitParams(**overrides)) == tag


@pytest.mark.parametrize(("contract", "tag"), [
    (_contract(), "entry_NIFTY_CE_24500"),
    (_contract("BANKNIFTY", 52100.0, OptionType.PUT), "entry_BANKNIFTY_PE_52100"),
    (_contract("nifty", 24512.5), "entry_NIFTY_CE_24512p5"),
])
def test_entry_tag(contract, tag):
    assert entry_tag(contract) == tag


def test_correlation_id_keeps_a_short_tag_whole():
    assert correlation_id("entry_NIFTY_CE_24500", "r7x00012") == "entry_NIFTY_CE_24500-r7x00012"


@pytest.mark.parametrize("tag", [
    "entry_BANKNIFTY_PE_52100", "circuit_breaker_12p5pct", "trailing_stop_3pct",
    "entry_MIDCPNIFTY_CE_12775", "x" * 80, "a.b:c/d e",
])
@pytest.mark.parametrize("suffix", ["1", "r3-000042", "ABCDEFGHIJKL"])
def test_correlation_id_length_and_charset(tag, suffix):
    cid = correlation_id(tag, suffix)
    assert len(cid) <= CORRELATION_ID_MAX
    assert _CHARSET.match(cid)
    assert cid.endswith(suffix)


def test_long_tag_is_shortened_keeping_index_side_and_strike():
    cid = correlation_id("entry_BANKNIFTY_PE_52100", "run42-000017")
    assert cid == "en_BNF_PE_52100-run42-000017"
    assert len(cid) == 28


def test_very_long_tag_is_cut_to_fit():
    cid = correlation_id("z" * 40, "abc123")
    assert cid == "z" * 23 + "-abc123"
    assert len(cid) == CORRELATION_ID_MAX


def test_disallowed_tag_characters_are_replaced():
    assert correlation_id("entry/NIFTY.CE", "1") == "entry_NIFTY_CE-1"


def test_distinct_suffixes_give_distinct_ids():
    tag = "entry_BANKNIFTY_PE_52100_and_more_words"
    ids = {correlation_id(tag, f"r1-{n:06d}") for n in range(500)}
    assert len(ids) == 500


@pytest.mark.parametrize("suffix", ["", "a" * 13, "bad.suffix", "ünï"])
def test_bad_suffix_is_rejected(suffix):
    with pytest.raises(ValueError, match="correlation suffix"):
        correlation_id("entry_NIFTY_CE_24500", suffix)
