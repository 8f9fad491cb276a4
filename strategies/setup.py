"""Build the pure logic's frozen parameters from the validated config, once per run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from brokers.charges import ChargeSchedule, order_charges
from core.clock import parse_hhmm
from core.config import AppConfig
from strategies.logic.exits import ExitParams
from strategies.logic.guard import GuardParams
from strategies.logic.signal import (
    IvRankParams,
    SignalParams,
    ValidationParams,
    signal_params_from_preset,
    validation_params_from_preset,
)
from strategies.logic.sizing import SizingBand, SizingParams
from strategies.logic.strikes import StrikeParams


@dataclass(frozen=True)
class StrategySetup:
    """Everything the scalper needs besides market data: parameters and the run's identity."""

    underlying: str
    exchange: str
    signal: SignalParams
    validation: ValidationParams
    iv_rank: IvRankParams
    strikes: StrikeParams
    guard: GuardParams
    sizing: SizingParams
    exits: ExitParams
    confirm_minutes: int
    supertrend_period: int
    supertrend_multiplier: float
    adx_period: int
    chain_strikes_each_side: int
    expiry_offset: int
    pick_rank: int
    risk_free_rate: float
    schedule: ChargeSchedule
    run_tag: str  # short, [A-Za-z0-9]: makes correlation ids unique across runs


def build_setup(app: AppConfig, run_tag: str) -> StrategySetup:
    strategy, risk = app.strategy, app.risk
    preset = strategy.presets[strategy.validation]
    return StrategySetup(
        underlying=app.index.name,
        exchange=app.index.exchange,
        signal=signal_params_from_preset(preset),
        validation=validation_params_from_preset(preset, strategy.no_entries_after),
        iv_rank=IvRankParams(),
        strikes=StrikeParams(
            strike_step=app.index.strike_step, otm_steps=strategy.otm_steps,
            min_iv=strategy.min_iv, max_iv=strategy.max_iv, min_oi=strategy.min_oi,
            max_spread_pct=strategy.max_spread_pct,
            delta_floors=tuple((f.from_hour, f.min_delta) for f in strategy.delta_floors),
            top_n=strategy.top_n),
        guard=GuardParams(
            max_positions=risk.max_positions, max_same_side=risk.max_same_side,
            cooldown_s=risk.cooldown_s, max_quote_age_s=risk.max_quote_age_s,
            no_entries_after=parse_hhmm(strategy.no_entries_after)),
        sizing=SizingParams(
            bands=tuple(SizingBand(b.up_to, b.alloc_pct, b.risk_pct) for b in risk.bands),
            sl_pct=risk.sl_pct, max_lots=risk.max_lots),
        exits=ExitParams(
            sl_pct=risk.sl_pct, tp_pct=risk.tp_pct,
            breakeven_trigger_pct=risk.breakeven_trigger_pct, trail_pct=risk.trail_pct,
            time_exit=parse_hhmm(risk.time_exit), breaker_pct=risk.breaker_pct,
            exit_price=risk.exit_price),
        confirm_minutes=strategy.confirm_minutes,
        supertrend_period=strategy.supertrend_period,
        supertrend_multiplier=strategy.supertrend_multiplier,
        adx_period=strategy.adx_period,
        chain_strikes_each_side=max(strategy.otm_steps + 2, 4),
        expiry_offset=strategy.expiry_offset,
        pick_rank=strategy.pick_rank,
        risk_free_rate=app.sim.risk_free_rate,
        schedule=ChargeSchedule.from_config(app.broker.charges),
        run_tag=run_tag,
    )


def order_suffix(setup: StrategySetup, order_number: int) -> str:
    """The unique part of a correlation id: the run's tag and the order's number."""
    return f"{setup.run_tag}{order_number:05d}"


def run_tag_for(run_id: str) -> str:
    """A <= 7 character tag unique per run id (base 36 of its digits), for correlation ids."""
    number = int("".join(ch for ch in run_id if ch.isdigit()) or "0")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def estimated_charges(setup: StrategySetup, price: float, lot_size: int,
                      day: date) -> tuple[float, float]:
    """(per lot, fixed) charges of a round trip at ``price``, for the affordability check.

    The proportional part is measured on one lot bought and sold at ``price``; the fixed
    part is the two orders' brokerage with its GST.
    """
    buy = order_charges("BUY", price * lot_size, setup.exchange, day, setup.schedule)
    sell = order_charges("SELL", price * lot_size, setup.exchange, day, setup.schedule)
    fixed = (buy.brokerage + sell.brokerage) * (1 + float(setup.schedule.gst))
    return max(buy.total + sell.total - fixed, 0.0), fixed
