"""Charges schedule: rates by date, rounding, the worked example and the backtrader adapter."""

from __future__ import annotations

from datetime import date

import backtrader as bt
import pandas as pd
import pytest

from brokers.charges import (
    ChargeBreakdown,
    ChargeSchedule,
    IndianOptionsCommInfo,
    order_charges,
    round_trip_charges,
)
from core.config import ChargesConfig, DatedValue
from core.config_check import compose_config
from core.errors import ConfigError, MissingDataError


@pytest.fixture(scope="module")
def schedule() -> ChargeSchedule:
    return ChargeSchedule.from_config(compose_config([]).broker.charges)


def test_worked_example_nifty_one_lot_after_april_2026(schedule: ChargeSchedule) -> None:
    # NIFTY 1 lot = 65, buy @100 (turnover 6500), sell @110 (turnover 7150), NSE.
    # Each executed order is rounded on its own (half-up):
    # buy : exchange 6500 x 0.0003503 = 2.27695 -> 2.28; IPFT 0.0325 -> 0.03;
    #       SEBI 0.0065 -> 0.01; stamp 0.195 -> 0; GST 0.18 x 22.32 = 4.0176 -> 4.02
    # sell: STT 7150 x 0.0015 = 10.725 -> 11; exchange 2.504645 -> 2.50; IPFT 0.03575 -> 0.04;
    #       SEBI 0.00715 -> 0.01; GST 0.18 x 22.55 = 4.059 -> 4.06
    buy = order_charges("BUY", 6500.0, "NSE", date(2026, 4, 2), schedule)
    sell = order_charges("SELL", 7150.0, "NSE", date(2026, 4, 2), schedule)
    assert buy == ChargeBreakdown(brokerage=20.0, stt=0.0, exchange=2.28, ipft=0.03,
                                  sebi=0.01, stamp=0.0, gst=4.02, total=26.34)
    assert sell == ChargeBreakdown(brokerage=20.0, stt=11.0, exchange=2.50, ipft=0.04,
                                   sebi=0.01, stamp=0.0, gst=4.06, total=37.61)
    trip = round_trip_charges(65, 100.0, 110.0, "NSE", date(2026, 4, 2), schedule)
    assert trip == ChargeBreakdown(brokerage=40.0, stt=11.0, exchange=4.78, ipft=0.07,
                                   sebi=0.02, stamp=0.0, gst=8.08, total=63.95)
    # The reference computes SEBI on the round trip's turnover (0.0137 -> 0.01): ~Rs 63.9.
    assert trip.total == pytest.approx(63.9, abs=0.06)


@pytest.mark.parametrize(("side", "turnover", "day", "expected_stt"), [
    ("SELL", 100_000.0, date(2024, 9, 30), 63.0),   # 0.0625% = 62.5 -> 63 (half-up)
    ("SELL", 100_000.0, date(2024, 10, 1), 100.0),  # 0.10%
    ("SELL", 100_000.0, date(2026, 3, 31), 100.0),  # 0.10%
    ("SELL", 100_000.0, date(2026, 4, 1), 150.0),   # 0.15%
    ("BUY", 100_000.0, date(2026, 4, 1), 0.0),      # buy side pays no STT
    ("SELL", 10_500.0, date(2025, 6, 2), 11.0),     # 10.50 exactly -> 11 (half-even gives 10)
    ("SELL", 10_490.0, date(2025, 6, 2), 10.0),     # 10.49 -> 10
])
def test_stt_rate_by_date_and_rupee_rounding(schedule: ChargeSchedule, side: str,
                                              turnover: float, day: date,
                                              expected_stt: float) -> None:
    assert order_charges(side, turnover, "NSE", day, schedule).stt == expected_stt


@pytest.mark.parametrize(("exchange", "day", "expected_exchange", "expected_ipft"), [
    ("NSE", date(2024, 9, 30), 49.50, 0.50),  # 0.0495% before 1 Oct 2024
    ("NSE", date(2024, 10, 1), 35.03, 0.50),  # 0.03503% from 1 Oct 2024
    ("BSE", date(2024, 9, 30), 32.50, 0.0),   # 0.0325%, no IPFT on BSE
    ("BSE", date(2026, 4, 1), 32.50, 0.0),
])
def test_exchange_charge_by_exchange_and_date(schedule: ChargeSchedule, exchange: str,
                                              day: date, expected_exchange: float,
                                              expected_ipft: float) -> None:
    charges = order_charges("BUY", 100_000.0, exchange, day, schedule)
    assert charges.exchange == expected_exchange
    assert charges.ipft == expected_ipft
    assert charges.sebi == 0.10
    assert charges.stamp == 3.0  # 0.003% of 100,000
    # GST 18% of brokerage + exchange + SEBI + IPFT, to the paisa
    expected_gst = round(0.18 * (20.0 + expected_exchange + 0.10 + expected_ipft) + 1e-9, 2)
    assert charges.gst == expected_gst
    assert charges.total == pytest.approx(
        20.0 + expected_exchange + expected_ipft + 0.10 + 3.0 + expected_gst, abs=1e-9)


def test_bse_sell_worked_by_hand(schedule: ChargeSchedule) -> None:
    # SENSEX 1 lot = 20 @ 250 -> 5000; STT 0.15% = 7.50 -> 8; exchange 0.0325% = 1.625 -> 1.63;
    # SEBI 0.005 -> 0.01; GST 0.18 x (20 + 1.63 + 0.01) = 3.8952 -> 3.90
    charges = order_charges("SELL", 5000.0, "BSE", date(2026, 4, 6), schedule)
    assert charges == ChargeBreakdown(brokerage=20.0, stt=8.0, exchange=1.63, ipft=0.0,
                                      sebi=0.01, stamp=0.0, gst=3.90, total=33.54)


@pytest.mark.parametrize(("side", "turnover", "expected_stamp", "expected_sebi"), [
    ("BUY", 150_000.0, 5.0, 0.15),  # stamp 4.50 -> 5 (half-up; half-even gives 4)
    ("BUY", 50_000.0, 2.0, 0.05),   # stamp 1.50 -> 2
    ("BUY", 5_000.0, 0.0, 0.01),    # stamp 0.15 -> 0; SEBI 0.005 -> 0.01 (paisa half-up)
    ("SELL", 150_000.0, 0.0, 0.15),  # sell side pays no stamp duty
    ("BUY", 4_990.0, 0.0, 0.0),     # SEBI 0.00499 -> 0.00
])
def test_stamp_and_sebi_rounding(schedule: ChargeSchedule, side: str, turnover: float,
                                 expected_stamp: float, expected_sebi: float) -> None:
    charges = order_charges(side, turnover, "NSE", date(2025, 1, 6), schedule)
    assert charges.stamp == expected_stamp
    assert charges.sebi == expected_sebi


def test_float_noise_in_turnover_does_not_move_a_half(schedule: ChargeSchedule) -> None:
    # 100.05 x 65 is 6503.249999... in floats; as money it is 6503.25.
    # exchange 6503.25 x 0.0003503 = 2.278088... -> 2.28
    charges = order_charges("BUY", 100.05 * 65, "NSE", date(2026, 4, 2), schedule)
    assert charges.exchange == 2.28
    assert charges.ipft == 0.03  # 0.03251625


def test_rates_before_first_date_are_a_config_error(schedule: ChargeSchedule) -> None:
    with pytest.raises(ConfigError, match=r"broker\.charges\.stt_sell.*1999-12-31"):
        order_charges("SELL", 1000.0, "NSE", date(1999, 12, 31), schedule)


@pytest.mark.parametrize(("stt_sell", "message"), [
    ([], r"stt_sell is empty"),
    ([DatedValue("2024-10-01", 0.001), DatedValue("2000-01-01", 0.000625)], r"increase"),
    ([DatedValue("2024-13-01", 0.001)], r"stt_sell\[0\]\.from_date"),
    ([DatedValue("2024-10-01", -0.001)], r"stt_sell\[0\]\.value"),
])
def test_bad_dated_rates_raise_config_error(stt_sell: list[DatedValue], message: str) -> None:
    cfg = ChargesConfig(stt_sell=stt_sell, exchange_nse=[DatedValue("2000-01-01", 0.0003503)],
                        exchange_bse=[DatedValue("2000-01-01", 0.000325)])
    with pytest.raises(ConfigError, match=message):
        ChargeSchedule.from_config(cfg)


@pytest.mark.parametrize(("side", "turnover", "exchange"), [
    ("HOLD", 100.0, "NSE"), ("BUY", -1.0, "NSE"), ("BUY", float("nan"), "NSE"),
    ("BUY", 100.0, "MCX"),
])
def test_bad_order_input_is_rejected(schedule: ChargeSchedule, side: str, turnover: float,
                                     exchange: str) -> None:
    with pytest.raises(ValueError, match=r"side|turnover|exchange"):
        order_charges(side, turnover, exchange, date(2025, 1, 6), schedule)


def test_comminfo_uses_trade_date_set_by_caller(schedule: ChargeSchedule) -> None:
    info = IndianOptionsCommInfo(schedule=schedule, exchange="NSE")
    with pytest.raises(MissingDataError, match="set_trade_date"):
        info.getcommission(-65, 110.0)
    info.set_trade_date(date(2026, 3, 31))
    before = info.getcommission(-65, 110.0)
    info.set_trade_date(date(2026, 4, 1))
    after = info.getcommission(-65, 110.0)
    assert before == order_charges("SELL", 7150.0, "NSE", date(2026, 3, 31), schedule).total
    assert after == order_charges("SELL", 7150.0, "NSE", date(2026, 4, 1), schedule).total
    assert after - before == pytest.approx(11.0 - 7.0)  # STT 0.15% vs 0.10% of 7150
    assert info.getcommission(65, 100.0) == 26.34
    assert info.getcommission(0, 100.0) == 0.0


class _RoundTrip(bt.Strategy):
    """Buy 2 lots on the first bar, sell one lot on each of the next two bars."""

    def __init__(self) -> None:
        self.executions: list[tuple[date, float, float, float]] = []

    def next(self) -> None:
        bar = len(self)
        if bar == 1:
            self.buy(size=130)
        elif bar in (2, 3):
            self.sell(size=65)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.executions.append((self.data.datetime.date(0), order.executed.size,
                                    order.executed.price, order.executed.comm))


def test_cerebro_reports_order_charges_as_commission(schedule: ChargeSchedule) -> None:
    days = pd.to_datetime(["2026-03-27", "2026-03-30", "2026-03-31", "2026-04-01",
                           "2026-04-02"])
    frame = pd.DataFrame({"open": [99.0, 100.0, 110.0, 110.0, 111.0],
                          "high": [101.0, 104.0, 112.0, 113.0, 112.0],
                          "low": [98.0, 99.0, 108.0, 109.0, 110.0],
                          "close": [100.0, 103.0, 111.0, 112.0, 111.0],
                          "volume": 1000.0, "openinterest": 0.0}, index=days)
    feed = bt.feeds.PandasData(dataname=frame)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(feed)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.addcommissioninfo(IndianOptionsCommInfo(
        schedule=schedule, exchange="NSE", date_provider=lambda: feed.datetime.date(0)))
    cerebro.addstrategy(_RoundTrip)
    strategy = cerebro.run()[0]

    expected_days = [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)]
    assert [e[0] for e in strategy.executions] == expected_days
    assert [(e[1], e[2]) for e in strategy.executions] == [
        (130, 100.0), (-65, 110.0), (-65, 110.0)]
    expected = [order_charges("BUY", 13_000.0, "NSE", expected_days[0], schedule).total,
                order_charges("SELL", 7150.0, "NSE", expected_days[1], schedule).total,
                order_charges("SELL", 7150.0, "NSE", expected_days[2], schedule).total]
    assert [e[3] for e in strategy.executions] == pytest.approx(expected, abs=1e-9)
    assert expected[2] - expected[1] == pytest.approx(4.0)  # STT 11 (0.15%) vs 7 (0.10%)
    # Cash paid the charges: 100,000 - 13,000 + 2 x 7,150 - commissions
    assert cerebro.broker.getcash() == pytest.approx(101_300.0 - sum(expected), abs=1e-6)
