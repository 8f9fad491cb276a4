"""Instrument symbology: contract names, expiry rules, lot sizes and strikes per index.

A contract's name is ``"<UNDERLYING> <YYYY-MM-DD> <strike> <CE|PE>"``, e.g.
``"NIFTY 2024-10-10 24500 CE"``; :func:`contract_name` and :func:`parse_contract_name` are
inverses. Expiry weekdays and lot sizes are dated rules from the index config: they drive
synthetic data and the choice among listed expiries; recorded data carries its own metadata.
"""

from __future__ import annotations

import calendar as _pycal
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from core.errors import ConfigError, MalformedDataError

if TYPE_CHECKING:  # the pure logic imports this module; keep Hydra and the calendar out
    from core.calendar import TradingCalendar
    from core.config import IndexConfig

_WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4}
# Expiries are searched this far ahead; monthly contracts are never further away.
_EXPIRY_HORIZON_DAYS = 120


class OptionType(StrEnum):
    CALL = "CE"
    PUT = "PE"


@dataclass(frozen=True)
class ContractKey:
    """What a contract name says: underlying, expiry, strike and option type."""

    underlying: str
    expiry: date
    strike: float
    option_type: OptionType


@dataclass(frozen=True)
class OptionContract:
    """A tradable option with everything an order needs; a missing security id is a bug."""

    security_id: int
    segment: str
    underlying: str
    expiry: date
    strike: float
    option_type: OptionType
    lot_size: int
    tick_size: float = 0.05
    freeze_qty: int | None = None

    def __post_init__(self) -> None:
        if self.security_id <= 0:
            raise ValueError(f"option contract without a security id: {self.symbol}")
        if self.lot_size <= 0:
            raise ValueError(f"option contract {self.symbol} has lot size {self.lot_size}")

    @property
    def symbol(self) -> str:
        return contract_name(self.underlying, self.expiry, self.strike, self.option_type)


def format_strike(strike: float) -> str:
    """``24500.0`` -> ``"24500"``, ``24512.5`` -> ``"24512.5"``."""
    return f"{strike:.0f}" if float(strike).is_integer() else f"{strike:g}"


def contract_name(underlying: str, expiry: date, strike: float, option_type: str) -> str:
    return f"{underlying.upper()} {expiry.isoformat()} {format_strike(strike)} {option_type}"


_NAME = re.compile(r"^([A-Z0-9&]+) (\d{4}-\d{2}-\d{2}) (\d+(?:\.\d+)?) (CE|PE)$")


def parse_contract_name(name: str) -> ContractKey:
    match = _NAME.match(name.strip().upper())
    if not match:
        raise MalformedDataError(
            f"not a contract name: {name!r} (expected e.g. 'NIFTY 2024-10-10 24500 CE')")
    underlying, expiry, strike, kind = match.groups()
    return ContractKey(underlying, date.fromisoformat(expiry), float(strike), OptionType(kind))


class IndexRules:
    """Dated expiry and lot-size rules, strike grid and ATM for one index."""

    def __init__(self, index: IndexConfig, calendar: TradingCalendar) -> None:
        if not index.expiry_rules or not index.lot_sizes:
            raise ConfigError(f"index {index.name}: expiry_rules and lot_sizes are required")
        self.index = index
        self.calendar = calendar
        self._rules = sorted(
            ((date.fromisoformat(r.from_date), r) for r in index.expiry_rules),
            key=lambda pair: pair[0])
        self._lots = sorted(
            (date.fromisoformat(v.from_date), int(v.value)) for v in index.lot_sizes)

    @property
    def strike_step(self) -> int:
        return self.index.strike_step

    def atm_strike(self, spot: float) -> float:
        """Spot rounded to the nearest strike on the index's grid (halves round up)."""
        step = self.index.strike_step
        return float(int(spot / step + 0.5) * step)

    def lot_size(self, expiry: date) -> int:
        """Lot size of contracts expiring on ``expiry`` (rules keyed by expiry date)."""
        lot = self._lots[0][1]
        for start, value in self._lots:
            if expiry >= start:
                lot = value
        return lot

    def expiries(self, start: date, end: date) -> list[date]:
        """Expiry dates in ``[start, end]``, after rolling holidays back to a session."""
        found: set[date] = set()
        probe = start
        while probe <= end + timedelta(days=7):
            if self._is_nominal_expiry(probe):
                actual = self._roll_back(probe)
                if start <= actual <= end:
                    found.add(actual)
            probe += timedelta(days=1)
        return sorted(found)

    def listed_expiries(self, day: date, count: int = 2) -> list[date]:
        """The next ``count`` expiries live on ``day`` (an expiry on ``day`` counts)."""
        listed = self.expiries(day, day + timedelta(days=_EXPIRY_HORIZON_DAYS))
        if len(listed) < count:
            raise ConfigError(f"index {self.index.name}: fewer than {count} expiries after {day}")
        return listed[:count]

    def nearest_expiry(self, day: date, offset: int = 0) -> date:
        return self.listed_expiries(day, offset + 1)[offset]

    def _rule_for(self, day: date) -> tuple[int, str]:
        weekday, cycle = _WEEKDAYS[self._rules[0][1].weekday], self._rules[0][1].cycle
        for start, rule in self._rules:
            if day >= start:
                weekday, cycle = _WEEKDAYS[rule.weekday], rule.cycle
        return weekday, cycle

    def _is_nominal_expiry(self, day: date) -> bool:
        weekday, cycle = self._rule_for(day)
        if day.weekday() != weekday:
            return False
        if cycle == "weekly":
            return True
        days_in_month = _pycal.monthrange(day.year, day.month)[1]
        return day.day + 7 > days_in_month

    def _roll_back(self, day: date) -> date:
        """A holiday expiry moves to the previous trading day."""
        return day if self.calendar.is_session(day) else self.calendar.previous_session(day)
