"""Everything the emulator is started with (built from the app config by the job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.config import AppConfig, ChargesConfig
from sim.dhan_emulator.limits import RateLimitSettings
from sim.dhan_emulator.orders import FillSettings

DEFAULT_CLIENT_ID = "1000000001"
DEFAULT_ACCESS_TOKEN = "emulator-access-token"


@dataclass(frozen=True)
class EmulatorSettings:
    """One replayed day of one underlying, and how the emulated DhanHQ behaves."""

    catalog_root: str
    underlying: str
    day: date
    index_security_id: int
    speed: str | float = "max"
    start_at: datetime | None = None  # default: the session open
    start_paused: bool = False
    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port
    client_id: str = DEFAULT_CLIENT_ID
    access_token: str = DEFAULT_ACCESS_TOKEN
    opening_balance: float = 100_000.0
    risk_free_rate: float = 0.065  # for the option chain's IV and greeks
    fills: FillSettings = field(default_factory=FillSettings)
    charges: ChargesConfig | None = None
    limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    faults: dict[str, Any] = field(default_factory=dict)  # initial knobs, as for /admin/faults
    ping_seconds: float = 10.0
    extra_sessions: tuple[str, ...] = ()
    # Option chain fields added in v2.5 (Feb 2026): average_price and security_id.
    chain_v25_fields: bool = True
    # GET /orders/{id} answered a one-element list in the recorded real API (docs: object).
    order_lookup_as_list: bool = True
    # Rehearsal-only (real Dhan has nothing like it), max speed only: after each replay
    # instant the feed sends a {"Lockstep": ns} marker and the replay waits for the client's
    # {"LockstepAck": ns} (or lockstep_timeout_s) before moving on; see sim.dhan_emulator.feed.
    lockstep: bool = False
    lockstep_timeout_s: float = 30.0


def initial_faults(app: AppConfig) -> dict[str, Any]:
    """The fault knobs switched on in config, as POST /admin/faults would take them."""
    knobs = app.emulator
    faults: dict[str, Any] = {
        "stall_feed": knobs.stall_feed, "stall_ids": list(knobs.stall_ids),
        "storm_requests": knobs.storm_requests, "reject_next_orders": knobs.reject_next_orders,
        "fail_status": dict(knobs.fail_status), "delay_seconds": dict(knobs.delay_seconds),
        "ack_delay_ms": knobs.ack_delay_ms, "token_expired": knobs.token_expired}
    return {key: value for key, value in faults.items() if value}


def settings_from_app(app: AppConfig, day: date, **overrides: Any) -> EmulatorSettings:
    """Settings for ``day`` from the composed config (index, data, broker, sim)."""
    broker = app.broker
    base: dict[str, Any] = {
        "catalog_root": app.data.root, "underlying": app.index.name, "day": day,
        "index_security_id": app.index.security_id, "speed": app.data.speed,
        "opening_balance": app.risk.capital, "risk_free_rate": app.sim.risk_free_rate,
        "fills": FillSettings(slippage_ticks=broker.slippage_ticks,
                              cap_by_top_qty=broker.cap_by_top_qty,
                              price_protection_pct=broker.price_protection_pct,
                              fill_on_next_quote=app.emulator.fill_on_next_quote),
        "charges": broker.charges, "extra_sessions": tuple(app.data.extra_sessions),
        "port": app.emulator.port, "client_id": app.emulator.client_id,
        "access_token": app.emulator.access_token, "ping_seconds": app.emulator.ping_seconds,
        "faults": initial_faults(app), "lockstep": app.emulator.lockstep,
        "lockstep_timeout_s": app.emulator.lockstep_timeout_s,
    }
    base.update(overrides)
    return EmulatorSettings(**base)
