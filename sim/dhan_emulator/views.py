"""JSON shapes of the account endpoints, field for field as the real API (recorded bodies).

Quirks kept: ``availabelBalance`` and ``receiveableAmount`` (sic), ``correlationId``/
``legName`` "NA" when absent, ``exchangeTime`` "0001-01-01 00:00:00" before the exchange saw
the order, ids as strings, times as IST ``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

from typing import Any

from brokers.dhan.parsing import DRV_OPTION_TYPES
from sim.dhan_emulator.market import Instrument
from sim.dhan_emulator.order_updates import ist_text
from sim.dhan_emulator.orders import Funds, Order, Position, Trade


def number(value: float, digits: int = 2) -> int | float:
    """A price as the real API prints it: rounded, and integral values without ``.0``."""
    rounded = round(float(value), digits)
    return int(rounded) if rounded.is_integer() else rounded


def _drv(instrument: Instrument) -> dict[str, Any]:
    if not instrument.is_option:
        return {"drvExpiryDate": "0001-01-01", "drvOptionType": "NA", "drvStrikePrice": 0.0}
    return {"drvExpiryDate": str(instrument.expiry),
            "drvOptionType": DRV_OPTION_TYPES[instrument.option_type or ""],
            "drvStrikePrice": float(instrument.strike or 0.0)}


def order_view(order: Order, client_id: str) -> dict[str, Any]:
    inst = order.instrument
    price = order.price
    if order.order_type == "MARKET" and order.protection_limit is not None:
        price = order.protection_limit  # Dhan prices API market orders with its MPP band
    return {
        "dhanClientId": client_id, "orderId": order.order_id,
        "exchangeOrderId": order.exchange_order_id,
        "correlationId": order.correlation_id or "NA", "orderStatus": order.status,
        "transactionType": order.side, "exchangeSegment": inst.segment,
        "productType": order.product, "orderType": order.order_type,
        "validity": order.validity, "tradingSymbol": inst.trading_symbol,
        "securityId": str(inst.security_id), "quantity": order.quantity,
        "disclosedQuantity": order.disclosed_qty, "price": float(price),
        "triggerPrice": float(order.trigger_price), "afterMarketOrder": False,
        "boProfitValue": 0.0, "boStopLossValue": 0.0, "legName": "NA",
        "createTime": ist_text(order.created), "updateTime": ist_text(order.updated),
        "exchangeTime": ist_text(order.exchange_time), **_drv(inst),
        "omsErrorCode": order.error_code, "omsErrorDescription": order.error_text,
        "algoId": "0", "remainingQuantity": order.remaining,
        "averageTradedPrice": float(order.average_price), "filledQty": order.filled_qty,
    }


def trade_view(trade: Trade, client_id: str) -> dict[str, Any]:
    order, inst = trade.order, trade.order.instrument
    return {
        "dhanClientId": client_id, "orderId": order.order_id,
        "exchangeOrderId": order.exchange_order_id, "exchangeTradeId": trade.trade_id,
        "transactionType": order.side, "exchangeSegment": inst.segment,
        "productType": order.product, "orderType": order.order_type,
        "tradingSymbol": inst.trading_symbol, "customSymbol": None,  # null in today's book
        "securityId": str(inst.security_id), "tradedQuantity": trade.quantity,
        "tradedPrice": float(trade.price), "createTime": ist_text(order.created),
        "updateTime": ist_text(trade.time), "exchangeTime": ist_text(trade.time),
        **_drv(inst),
    }


def position_view(pos: Position, client_id: str) -> dict[str, Any]:
    net = pos.net_qty
    kind = "LONG" if net > 0 else "SHORT" if net < 0 else "CLOSED"
    cost = pos.buy_avg if net > 0 else pos.sell_avg if net < 0 else 0.0
    drv = _drv(pos.instrument)
    return {
        "dhanClientId": client_id, "tradingSymbol": pos.instrument.trading_symbol,
        "securityId": str(pos.instrument.security_id), "positionType": kind,
        "exchangeSegment": pos.instrument.segment, "productType": pos.product,
        "buyAvg": round(pos.buy_avg, 2), "buyQty": pos.buy_qty, "costPrice": round(cost, 2),
        "sellAvg": round(pos.sell_avg, 2), "sellQty": pos.sell_qty, "netQty": net,
        "realizedProfit": round(pos.realized, 2) + 0.0,  # + 0.0 turns -0.0 into 0.0
        "unrealizedProfit": round(pos.unrealized, 2) + 0.0,
        "rbiReferenceRate": 0.0, "multiplier": 1, "carryForwardBuyQty": 0,
        "carryForwardSellQty": 0, "carryForwardBuyValue": 0.0, "carryForwardSellValue": 0.0,
        "dayBuyQty": pos.buy_qty, "daySellQty": pos.sell_qty,
        "dayBuyValue": round(pos.buy_value, 2), "daySellValue": round(pos.sell_value, 2),
        **drv, "crossCurrency": False,
    }


def funds_view(funds: Funds, client_id: str) -> dict[str, Any]:
    return {
        "dhanClientId": client_id, "availabelBalance": funds.available,
        "sodLimit": funds.opening, "collateralAmount": 0.0, "receiveableAmount": 0.0,
        "utilizedAmount": funds.utilized, "blockedPayoutAmount": 0.0,
        "withdrawableBalance": max(funds.available, 0.0),
    }
