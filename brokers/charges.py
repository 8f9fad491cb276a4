"""Indian charges for index-option buying, per executed order (SPEC section 7).

Rates come from ``broker.charges`` and are dated, so an old trade costs what it cost then:
for each dated list the rate in force on a trade date is the entry with the latest
``from_date`` on or before it.

Rounding (broker practice): STT and stamp duty to the nearest rupee, every other charge to
the paisa, both **half-up** (0.50 rupee -> 1, 0.005 rupee -> 0.01) in ``Decimal`` so halves
are deterministic. Each executed order is rounded on its own (a contract note that
aggregates a day's orders can differ by a paisa or a rupee). GST is charged on the rounded
brokerage + exchange + SEBI + IPFT amounts.

:class:`IndianOptionsCommInfo` plugs the schedule into backtrader as a CommInfo.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Literal

import backtrader as bt

from core.errors import ConfigError, MissingDataError

if TYPE_CHECKING:
    from core.config import ChargesConfig, DatedValue

Side = Literal["BUY", "SELL"]
Exchange = Literal["NSE", "BSE"]

_PAISA = Decimal("0.01")
_RUPEE = Decimal("1")
_ZERO = Decimal("0")


@dataclass(frozen=True)
class DatedRate:
    """A rate (fraction of premium turnover) in force from ``from_date``."""

    from_date: date
    rate: Decimal


@dataclass(frozen=True)
class ChargeSchedule:
    """Charge rates for option buying; dated where the rate has changed over time."""

    brokerage_per_order: Decimal
    stt_sell: tuple[DatedRate, ...]
    exchange_nse: tuple[DatedRate, ...]
    exchange_bse: tuple[DatedRate, ...]
    ipft_nse: Decimal
    sebi: Decimal
    stamp_buy: Decimal
    gst: Decimal

    @classmethod
    def from_config(cls, cfg: ChargesConfig) -> ChargeSchedule:
        """Build from ``broker.charges``; a bad entry raises ConfigError naming its key."""
        return cls(
            brokerage_per_order=_decimal("brokerage_per_order", cfg.brokerage_per_order),
            stt_sell=_dated_rates("stt_sell", cfg.stt_sell),
            exchange_nse=_dated_rates("exchange_nse", cfg.exchange_nse),
            exchange_bse=_dated_rates("exchange_bse", cfg.exchange_bse),
            ipft_nse=_decimal("ipft_nse", cfg.ipft_nse),
            sebi=_decimal("sebi", cfg.sebi),
            stamp_buy=_decimal("stamp_buy", cfg.stamp_buy),
            gst=_decimal("gst", cfg.gst),
        )

    def stt_rate(self, trade_date: date) -> Decimal:
        """STT on sell-side premium in force on ``trade_date``."""
        return _rate_on("stt_sell", self.stt_sell, trade_date)

    def exchange_rate(self, exchange: Exchange, trade_date: date) -> Decimal:
        """Exchange transaction charge of ``exchange`` in force on ``trade_date``."""
        if exchange == "NSE":
            return _rate_on("exchange_nse", self.exchange_nse, trade_date)
        return _rate_on("exchange_bse", self.exchange_bse, trade_date)

    def ipft_rate(self, exchange: Exchange) -> Decimal:
        """NSE's Investor Protection Fund Trust charge; BSE has none."""
        return self.ipft_nse if exchange == "NSE" else _ZERO


@dataclass(frozen=True)
class ChargeBreakdown:
    """Charges of one executed order (or a sum of orders), in rupees."""

    brokerage: float
    stt: float
    exchange: float
    ipft: float
    sebi: float
    stamp: float
    gst: float
    total: float

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        # Round the sums so adding paise amounts never leaves float noise behind.
        return ChargeBreakdown(**{
            f.name: round(getattr(self, f.name) + getattr(other, f.name), 2)
            for f in fields(self)})


def order_charges(side: Side, premium_turnover: float, exchange: Exchange,
                  trade_date: date, schedule: ChargeSchedule) -> ChargeBreakdown:
    """Charges of one executed option order of ``premium_turnover`` rupees (price x qty).

    Brokerage every order; STT on the sell side; stamp duty on the buy side; exchange,
    SEBI and (NSE only) IPFT both sides; GST on brokerage + exchange + SEBI + IPFT.
    """
    _check_side(side)
    _check_exchange(exchange)
    turnover = _turnover(premium_turnover)
    selling = side == "SELL"
    brokerage = schedule.brokerage_per_order.quantize(_PAISA, ROUND_HALF_UP)
    stt = _to_rupee(turnover * schedule.stt_rate(trade_date)) if selling else _ZERO
    exchange_fee = _to_paisa(turnover * schedule.exchange_rate(exchange, trade_date))
    ipft = _to_paisa(turnover * schedule.ipft_rate(exchange))
    sebi = _to_paisa(turnover * schedule.sebi)
    stamp = _ZERO if selling else _to_rupee(turnover * schedule.stamp_buy)
    gst = _to_paisa(schedule.gst * (brokerage + exchange_fee + sebi + ipft))
    total = brokerage + stt + exchange_fee + ipft + sebi + stamp + gst
    return ChargeBreakdown(
        brokerage=float(brokerage), stt=float(stt), exchange=float(exchange_fee),
        ipft=float(ipft), sebi=float(sebi), stamp=float(stamp), gst=float(gst),
        total=float(total))


def round_trip_charges(quantity: int, buy_price: float, sell_price: float,
                       exchange: Exchange, trade_date: date,
                       schedule: ChargeSchedule) -> ChargeBreakdown:
    """Charges of an intraday buy then sell of ``quantity`` units: two executed orders."""
    if quantity <= 0:
        raise ValueError(f"round trip quantity must be positive, got {quantity}")
    buy = order_charges("BUY", buy_price * quantity, exchange, trade_date, schedule)
    sell = order_charges("SELL", sell_price * quantity, exchange, trade_date, schedule)
    return buy + sell


class IndianOptionsCommInfo(bt.CommInfoBase):
    """backtrader commission scheme charging :func:`order_charges` per execution.

    backtrader does not pass the date to a CommInfo, so the trade date comes from the
    ``date_provider`` param (a callable, e.g. ``lambda: data.datetime.date(0)``) when
    given, else from the last :meth:`set_trade_date` call. A size > 0 is a BUY, < 0 a
    SELL, at ``price x |size|`` premium turnover. An order that reverses a position
    through zero is charged twice by backtrader (close + open); option buying never does.
    """

    params = (
        ("schedule", None),
        ("exchange", "NSE"),
        ("date_provider", None),
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_FIXED),
        ("commission", 0.0),
    )

    def __init__(self) -> None:
        super().__init__()
        if not isinstance(self.p.schedule, ChargeSchedule):
            raise ConfigError("IndianOptionsCommInfo needs schedule=ChargeSchedule(...)")
        _check_exchange(self.p.exchange)
        self._trade_date: date | None = None

    def set_trade_date(self, trade_date: date) -> None:
        """Date of the orders executed from now on (call once per session)."""
        self._trade_date = trade_date

    def trade_date(self) -> date:
        """The date used for rates now; MissingDataError when nobody has set one."""
        provider: Callable[[], date] | None = self.p.date_provider
        day = provider() if provider is not None else self._trade_date
        if day is None:
            raise MissingDataError(
                "IndianOptionsCommInfo has no trade date: pass date_provider= or call "
                "set_trade_date() before orders execute")
        return day

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        if size == 0:
            return 0.0
        side: Side = "BUY" if size > 0 else "SELL"
        charges = order_charges(side, abs(size) * price, self.p.exchange,
                                self.trade_date(), self.p.schedule)
        return charges.total


def _check_side(side: str) -> None:
    if side not in ("BUY", "SELL"):
        raise ValueError(f"side must be 'BUY' or 'SELL', got {side!r}")


def _check_exchange(exchange: str) -> None:
    if exchange not in ("NSE", "BSE"):
        raise ValueError(f"exchange must be 'NSE' or 'BSE', got {exchange!r}")


def _turnover(value: float) -> Decimal:
    """Premium turnover as money: to the paisa first, so 100.05 x 65 float noise is gone."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"premium turnover must be a finite amount >= 0, got {value}")
    return Decimal(repr(float(value))).quantize(_PAISA, ROUND_HALF_UP)


def _to_paisa(amount: Decimal) -> Decimal:
    return amount.quantize(_PAISA, ROUND_HALF_UP)


def _to_rupee(amount: Decimal) -> Decimal:
    return amount.quantize(_RUPEE, ROUND_HALF_UP).quantize(_PAISA)


def _decimal(key: str, value: float) -> Decimal:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"broker.charges.{key}={value} must be a finite number >= 0")
    # repr keeps the decimal the user wrote (0.0003503), not its binary expansion.
    return Decimal(repr(float(value)))


def _dated_rates(key: str, values: Sequence[DatedValue]) -> tuple[DatedRate, ...]:
    if not values:
        raise ConfigError(f"broker.charges.{key} is empty: at least one dated rate is needed")
    rates = []
    for i, entry in enumerate(values):
        try:
            start = date.fromisoformat(entry.from_date)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"broker.charges.{key}[{i}].from_date={entry.from_date!r} "
                              "is not an ISO date (YYYY-MM-DD)") from e
        rates.append(DatedRate(start, _decimal(f"{key}[{i}].value", entry.value)))
    starts = [r.from_date for r in rates]
    if any(a >= b for a, b in zip(starts, starts[1:], strict=False)):
        raise ConfigError(f"broker.charges.{key}: from_date values must strictly increase")
    return tuple(rates)


def _rate_on(key: str, table: tuple[DatedRate, ...], day: date) -> Decimal:
    position = bisect_right([r.from_date for r in table], day) - 1
    if position < 0:
        raise ConfigError(f"broker.charges.{key}: no rate in force on {day.isoformat()} "
                          f"(the first starts {table[0].from_date.isoformat()})")
    return table[position].rate
