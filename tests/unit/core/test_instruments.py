"""Contract naming both ways and the OptionContract invariants."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import MalformedDataError
from core.instruments import (
    OptionContract,
    OptionType,
    contract_name,
    parse_contract_name,
)


@pytest.mark.parametrize(("underlying", "expiry", "strike", "kind", "name"), [
    ("NIFTY", date(2024, 10, 10), 24500.0, "CE", "NIFTY 2024-10-10 24500 CE"),
    ("banknifty", date(2024, 10, 9), 51200.0, "PE", "BANKNIFTY 2024-10-09 51200 PE"),
    ("SENSEX", date(2024, 10, 11), 81800.0, "CE", "SENSEX 2024-10-11 81800 CE"),
    ("NIFTY", date(2024, 10, 10), 24512.5, "PE", "NIFTY 2024-10-10 24512.5 PE"),
])
def test_contract_name_round_trip(underlying: str, expiry: date, strike: float, kind: str,
                                  name: str) -> None:
    assert contract_name(underlying, expiry, strike, kind) == name
    key = parse_contract_name(name)
    assert (key.underlying, key.expiry, key.strike, key.option_type) == (
        underlying.upper(), expiry, strike, OptionType(kind))


@pytest.mark.parametrize("bad", ["NIFTY 24500 CE", "NIFTY 2024-10-10 24500 XX", "", "NIFTY"])
def test_bad_contract_names_raise(bad: str) -> None:
    with pytest.raises(MalformedDataError, match="not a contract name"):
        parse_contract_name(bad)


def test_option_contract_requires_security_id_and_lot() -> None:
    good = OptionContract(37372, "NSE_FNO", "NIFTY", date(2024, 10, 10), 19600.0,
                          OptionType.CALL, 25)
    assert good.symbol == "NIFTY 2024-10-10 19600 CE"
    with pytest.raises(ValueError, match="without a security id"):
        OptionContract(0, "NSE_FNO", "NIFTY", date(2024, 10, 10), 19600.0, OptionType.CALL, 25)
    with pytest.raises(ValueError, match="lot size 0"):
        OptionContract(1, "NSE_FNO", "NIFTY", date(2024, 10, 10), 19600.0, OptionType.CALL, 0)
