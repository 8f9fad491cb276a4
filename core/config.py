"""Structured-config schema: one dataclass per Hydra group, registered in the ConfigStore.

Types are checked by OmegaConf while Hydra composes; ranges and cross-field rules are
checked by :func:`validate` on the converted objects, so a wrong value stops the program with
one line naming the key and the allowed range. Below ``main.py`` nothing sees a DictConfig:
callers get these dataclasses (``OmegaConf.to_object``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


def rng(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
        hi_open: bool = False) -> dict[str, Any]:
    """Field metadata for an allowed numeric range, checked by :func:`validate`."""
    return {"range": (lo, hi, lo_open, hi_open)}


def choice(*allowed: str) -> dict[str, Any]:
    """Field metadata for an allowed set of strings."""
    return {"choices": allowed}


@dataclass
class ModeConfig:
    name: str = field(default="backtest", metadata=choice(
        "backtest", "replay", "paper", "live", "record", "report", "simulate", "import", "db",
        "emulator", "kill", "walkforward"))


@dataclass
class DatedValue:
    """A value in force from ``from_date`` (ISO date) until the next entry's date."""

    from_date: str = "2000-01-01"
    value: float = 0.0


@dataclass
class ExpiryRule:
    """Expiry weekday and cycle for contracts expiring on or after ``from_date``."""

    from_date: str = "2000-01-01"
    weekday: str = field(default="THU", metadata=choice("MON", "TUE", "WED", "THU", "FRI"))
    cycle: str = field(default="weekly", metadata=choice("weekly", "monthly"))


@dataclass
class IndexConfig:
    name: str = "NIFTY"
    security_id: int = 13
    exchange: str = field(default="NSE", metadata=choice("NSE", "BSE"))
    options_segment: str = field(default="NSE_FNO", metadata=choice("NSE_FNO", "BSE_FNO"))
    strike_step: int = field(default=50, metadata=rng(1))
    tick_size: float = field(default=0.05, metadata=rng(0, lo_open=True))
    expiry_rules: list[ExpiryRule] = field(default_factory=list)
    # Lot size by contract expiry date (synthetic data only: real data carries its own).
    lot_sizes: list[DatedValue] = field(default_factory=list)
    freeze_qty: int = field(default=1800, metadata=rng(1))
    # Synthetic market: level the path starts from when no real level is known.
    base_level: float = field(default=24_000.0, metadata=rng(0, lo_open=True))
    annual_vol: float = field(default=0.14, metadata=rng(0.01, 2.0))


@dataclass
class SimConfig:
    """Synthetic market knobs (``sim/market.py``)."""

    seed: int = 7
    tick_seconds: float = field(default=1.0, metadata=rng(0.1, 60))
    strikes_each_side: int = field(default=5, metadata=rng(1, 40))
    regime_minutes: float = field(default=40.0, metadata=rng(1, 375))
    trend_probability: float = field(default=0.5, metadata=rng(0, 1))
    trend_strength: float = field(default=1.0, metadata=rng(0, 5))
    jump_per_day: float = field(default=0.5, metadata=rng(0, 20))
    jump_size_sigma: float = field(default=0.004, metadata=rng(0, 0.1))
    smile_curvature: float = field(default=0.8, metadata=rng(0, 10))
    smile_skew: float = field(default=-0.15, metadata=rng(-5, 5))
    base_spread_ticks: int = field(default=1, metadata=rng(1, 100))
    spread_pct_far: float = field(default=0.008, metadata=rng(0, 0.5))
    near_quote_seconds: float = field(default=1.0, metadata=rng(0.1, 600))
    far_quote_seconds: float = field(default=6.0, metadata=rng(0.1, 600))
    risk_free_rate: float = field(default=0.065, metadata=rng(0, 0.5))
    iv_level: float = field(default=0.15, metadata=rng(0.01, 2.0))


@dataclass
class DataConfig:
    root: str = "data"
    # "2024-10-09", "2024-10-07:2024-10-11" (sessions in range) or "2024-10-07,2024-10-09".
    days: str = "2024-10-07:2024-10-11"
    options: str = field(default="synthetic", metadata=choice("synthetic", "model", "recorded"))
    bar_source: str = field(default="", metadata={})  # real 1m index bars for options=model
    speed: str = "max"
    # Dates the exchange opened that the XBOM calendar does not list (special Saturday sessions).
    extra_sessions: list[str] = field(default_factory=lambda: [
        "2024-01-20", "2024-03-02", "2024-05-18"])


@dataclass
class IngestConfig:
    """``mode=import``: a scrip master CSV or a vendor CSV of 1m bars, detected by header."""

    path: str = ""
    underlying: str = ""  # for bar CSVs whose rows do not name a known index


@dataclass
class DBConfig:
    url: str = "sqlite:///${data.root}/optscalp.db"
    busy_timeout_ms: int = field(default=5000, metadata=rng(0, 600_000))
    echo: bool = False


@dataclass
class ValidationPreset:
    adx_min_primary: float = field(default=18.0, metadata=rng(0, 100))
    adx_min_confirm: float = field(default=20.0, metadata=rng(0, 100))
    iv_rank_min: float = field(default=0.10, metadata=rng(0, 1))
    iv_rank_max: float = field(default=0.80, metadata=rng(0, 1))
    theta_cutoff: str = "14:30"
    trend_confirmation: bool = True


@dataclass
class DeltaFloor:
    from_hour: int = field(default=0, metadata=rng(0, 23))
    min_delta: float = field(default=0.08, metadata=rng(0, 1))


@dataclass
class StrategyConfig:
    primary_minutes: int = field(default=1, metadata=rng(1, 60))
    confirm_minutes: int = field(default=5, metadata=rng(1, 240))
    supertrend_period: int = field(default=10, metadata=rng(1, 500))
    supertrend_multiplier: float = field(default=3.0, metadata=rng(0.1, 20))
    adx_period: int = field(default=14, metadata=rng(2, 500))
    validation: str = "balanced"
    presets: dict[str, ValidationPreset] = field(default_factory=dict)
    warmup_sessions: int = field(default=1, metadata=rng(0, 30))
    iv_rank_lookback_sessions: int = field(default=20, metadata=rng(1, 500))
    no_entries_after: str = "15:00"
    expiry_offset: int = field(default=0, metadata=rng(0, 4))  # 0 = nearest listed expiry
    otm_steps: int = field(default=2, metadata=rng(0, 3))
    min_iv: float = field(default=0.10, metadata=rng(0, 5))
    max_iv: float = field(default=0.60, metadata=rng(0, 5))
    min_oi: int = field(default=50_000, metadata=rng(0))
    max_spread_pct: float = field(default=0.03, metadata=rng(0, 1))
    delta_floors: list[DeltaFloor] = field(default_factory=list)
    top_n: int = field(default=2, metadata=rng(1, 10))
    pick_rank: int = field(default=0, metadata=rng(0, 9))


@dataclass
class SizingBand:
    up_to: float | None = None  # None = no upper bound
    alloc_pct: float = field(default=0.20, metadata=rng(0, 1, lo_open=True))
    risk_pct: float = field(default=0.025, metadata=rng(0, 1, lo_open=True))


@dataclass
class RiskConfig:
    capital: float = field(default=100_000.0, metadata=rng(0, lo_open=True))
    capital_mode: str = field(default="compounding", metadata=choice("compounding", "fixed"))
    sl_pct: float = field(default=0.30, metadata=rng(0, 1, lo_open=True, hi_open=True))
    # Sizing must use the exit stop; a different value here is rejected, not silently used.
    sizing_sl_pct: float | None = None
    tp_pct: float = field(default=0.60, metadata=rng(0, 10, lo_open=True))
    breakeven_trigger_pct: float = field(default=0.10, metadata=rng(0, 10))
    trail_pct: float = field(default=0.03, metadata=rng(0, 1, lo_open=True, hi_open=True))
    time_exit: str = "15:20"
    breaker_pct: float = field(default=0.06, metadata=rng(0, 1, lo_open=True))
    exit_price: str = field(default="ltp", metadata=choice("ltp", "bid"))
    max_positions: int = field(default=3, metadata=rng(1, 20))
    max_same_side: int = field(default=2, metadata=rng(1, 20))
    cooldown_s: float = field(default=180.0, metadata=rng(0, 86_400))
    max_quote_age_s: float = field(default=5.0, metadata=rng(0, 3600, lo_open=True))
    max_lots: int = field(default=10, metadata=rng(1, 10_000))
    bands: list[SizingBand] = field(default_factory=list)


@dataclass
class ChargesConfig:
    brokerage_per_order: float = field(default=20.0, metadata=rng(0))
    stt_sell: list[DatedValue] = field(default_factory=list)
    exchange_nse: list[DatedValue] = field(default_factory=list)
    exchange_bse: list[DatedValue] = field(default_factory=list)
    ipft_nse: float = field(default=0.000005, metadata=rng(0, 0.01))
    sebi: float = field(default=0.000001, metadata=rng(0, 0.01))
    stamp_buy: float = field(default=0.00003, metadata=rng(0, 0.01))
    gst: float = field(default=0.18, metadata=rng(0, 1))


@dataclass
class BrokerConfig:
    name: str = field(default="sim", metadata=choice("sim", "paper", "dhan"))
    latency_ms: float = field(default=0.0, metadata=rng(0, 60_000))
    slippage_ticks: int = field(default=0, metadata=rng(0, 100))
    cap_by_top_qty: bool = True
    price_protection_pct: float | None = None  # Dhan's market-as-limit band, e.g. 0.02
    # Bar backtests have no book: options are quoted price -/+ this many ticks.
    bar_half_spread_ticks: int = field(default=1, metadata=rng(0, 100))
    charges: ChargesConfig = field(default_factory=ChargesConfig)


@dataclass
class LiveConfig:
    """``mode=live`` (and ``mode=paper feed=dhan``): the strategy on DhanHQ's feed.

    Orders go to Dhan only with both arming switches: this flag and env ``OPTSCALP_LIVE=1``.
    """

    orders_enabled: bool = False
    # The session traded, ISO; "" = today (IST). A rehearsal names the emulator's day.
    day: str = ""
    # Contracts streamed: ATM +/- (the strategy's chain width + this) strikes, widened as the
    # index moves, so a strike entering the chain has been streaming for a while.
    band_margin_strikes: int = field(default=2, metadata=rng(0, 50))
    # Broker order status: REST poll of a working order at most this often without a tick.
    order_poll_s: float = field(default=1.0, metadata=rng(0.01, 60))
    # An exit resting unfilled this long is cancelled and sent again (price protection).
    exit_wait_s: float = field(default=2.0, metadata=rng(0.01, 600))
    exit_rounds: int = field(default=10, metadata=rng(1, 100))
    # Dhan's positions against the engine's every this many seconds (0 = only at start).
    reconcile_s: float = field(default=60.0, metadata=rng(0, 3600))
    # Emulator rehearsals only: step with the emulator (emulator.lockstep=true) so a live run
    # trades exactly like the replay. Refused unless the feed URL is on this machine.
    lockstep: bool = False


@dataclass
class DhanConfig:
    """DhanHQ client behaviour: retries, rate limits (SPEC section 8) and feed supervision.

    Credentials are never config: env ``DHAN_CLIENT_ID`` / ``DHAN_ACCESS_TOKEN``. The URLs
    default to Dhan's; tests (and emulator rehearsals) point them at the emulator.
    """

    base_url: str = "https://api.dhan.co/v2"
    feed_url: str = "wss://api-feed.dhan.co"
    order_update_url: str = "wss://api-order-update.dhan.co"
    timeout_s: float = field(default=10.0, metadata=rng(0.1, 600))
    max_retries: int = field(default=5, metadata=rng(0, 100))
    backoff_base_s: float = field(default=0.25, metadata=rng(0, 60))
    backoff_cap_s: float = field(default=8.0, metadata=rng(0, 600))
    backoff_jitter: float = field(default=0.25, metadata=rng(0, 1))  # fraction of the delay
    orders_per_second: int = field(default=10, metadata=rng(1, 1_000))
    orders_per_minute: int = field(default=250, metadata=rng(1, 100_000))
    data_per_second: int = field(default=5, metadata=rng(1, 1_000))
    quotes_per_second: int = field(default=1, metadata=rng(1, 1_000))
    other_per_second: int = field(default=20, metadata=rng(1, 1_000))
    option_chain_seconds: float = field(default=3.0, metadata=rng(0, 600))
    feed_reconnect_base_s: float = field(default=0.5, metadata=rng(0, 60))
    feed_reconnect_cap_s: float = field(default=30.0, metadata=rng(0, 600))
    feed_stale_s: float = field(default=5.0, metadata=rng(0, 3600, lo_open=True))
    # mode=record: ATM +/- this many strikes of the nearest record_expiries expiries.
    record_strikes_each_side: int = field(default=10, metadata=rng(0, 100))
    record_expiries: int = field(default=2, metadata=rng(1, 8))
    record_flush_s: float = field(default=5.0, metadata=rng(0.1, 3600))


@dataclass
class PaperConfig:
    """``mode=paper``: the long-lived runtime (paced replay today, the live feed later)."""

    # Session to replay (ISO date); "" = the last session of data.days.
    day: str = ""
    # Resume the latest unfinished paper run of that day (or run.id=...) instead of a new one.
    resume: bool = True
    health_port: int = field(default=8765, metadata=rng(0, 65_535))  # 0 = any free port
    kill_file: str = "${data.root}/paper.kill"
    kill_release: bool = False  # mode=kill paper.kill_release=true removes the kill file
    flatten_on_shutdown: bool = False  # SIGINT/SIGTERM: flatten (else keep and resume later)
    shutdown_timeout_s: float = field(default=30.0, metadata=rng(0, 3600))
    stale_feed_s: float = field(default=5.0, metadata=rng(0, 3600, lo_open=True))
    heartbeat_s: float = field(default=0.5, metadata=rng(0.01, 60))
    watchdog_stall_s: float = field(default=5.0, metadata=rng(0.05, 3600))
    log_dir: str = "${data.root}/logs"
    log_max_bytes: int = field(default=10_000_000, metadata=rng(1_000))
    log_backups: int = field(default=5, metadata=rng(0, 100))
    decision_batch: int = field(default=1, metadata=rng(1, 10_000))
    # Stop when replay time reaches HH:MM[:SS] IST ("" = run the session to its end), by
    # sending this process stop_signal; SIGKILL simulates a crash (tests).
    stop_at: str = ""
    stop_signal: str = field(default="SIGTERM", metadata=choice("SIGTERM", "SIGINT", "SIGKILL"))
    # Test fault: SIGKILL right after the Nth order is journalled, before it is sent (0 = off).
    kill_after_order: int = field(default=0, metadata=rng(0))


@dataclass
class ReportConfig:
    out_dir: str = "${data.root}/reports"
    enabled: bool = True
    max_day_charts: int = field(default=10, metadata=rng(0, 1000))
    max_trade_charts: int = field(default=40, metadata=rng(0, 10_000))


@dataclass
class EmulatorConfig:
    """``mode=emulator``: the local DhanHQ v2 server and its fault knobs at start.

    The knobs have the names POST /admin/faults takes, so a rehearsal can start faulty:
    ``emulator.storm_requests=20 emulator.fail_status={positions:503}``.
    """

    port: int = field(default=0, metadata=rng(0, 65_535))  # 0 = a free port
    client_id: str = "1000000001"  # the emulator's own credentials, not secrets
    access_token: str = "emulator-access-token"
    ping_seconds: float = field(default=10.0, metadata=rng(0.1, 600))
    stall_feed: bool = False
    stall_ids: list[int] = field(default_factory=list)
    storm_requests: int = field(default=0, metadata=rng(0, 1_000_000))
    reject_next_orders: int = field(default=0, metadata=rng(0, 1_000_000))
    fail_status: dict[str, int] = field(default_factory=dict)
    delay_seconds: dict[str, float] = field(default_factory=dict)
    ack_delay_ms: float = field(default=0.0, metadata=rng(0, 600_000))
    token_expired: bool = False
    # Parity rehearsals (max speed only): the replay waits for the feed client's ack of each
    # instant; a missing ack is logged and skipped after lockstep_timeout_s.
    lockstep: bool = False
    lockstep_timeout_s: float = field(default=30.0, metadata=rng(0, 3600, lo_open=True))
    fill_on_next_quote: bool = False  # orders fill on the quote after the one decided on


@dataclass
class RunConfig:
    workers: int = field(default=1, metadata=rng(1, 256))
    cluster: str = ""
    id: str = ""  # for mode=report: run id(s), comma-separated


@dataclass
class WalkForwardConfig:
    """``mode=walkforward``: optimise on ``train_sessions``, test on the next ``test_sessions``,
    roll forward by the test length (``anchored``: the training window keeps its start)."""

    train_sessions: int = field(default=5, metadata=rng(1, 1000))
    test_sessions: int = field(default=2, metadata=rng(1, 1000))
    anchored: bool = False
    objective: str = field(default="net_pnl", metadata=choice(
        "net_pnl", "profit_factor", "sharpe", "net_over_drawdown"))
    source: str = field(default="bars", metadata=choice("bars", "ticks"))
    # Parameter grid searched in each training window: override -> values.
    grid: dict[str, list[str]] = field(default_factory=lambda: {
        "risk.sl_pct": ["0.2", "0.3"], "risk.tp_pct": ["0.4", "0.6"]})


@dataclass
class AppConfig:
    mode: ModeConfig = field(default_factory=ModeConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    db: DBConfig = field(default_factory=DBConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    dhan: DhanConfig = field(default_factory=DhanConfig)
    paper: PaperConfig = field(default_factory=PaperConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    # mode=paper's market data: "replay" (a catalog day, paced) or "dhan" (the live feed).
    feed: str = field(default="replay", metadata=choice("replay", "dhan"))
    emulator: EmulatorConfig = field(default_factory=EmulatorConfig)
    walkforward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    run: RunConfig = field(default_factory=RunConfig)


_GROUPS: dict[str, type] = {
    "mode": ModeConfig, "index": IndexConfig, "strategy": StrategyConfig, "risk": RiskConfig,
    "broker": BrokerConfig, "data": DataConfig, "db": DBConfig, "report": ReportConfig,
}


def register_configs() -> None:
    """Store the schemas: ``base_config`` for the root, ``base_<group>`` for each group."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=AppConfig)
    for group, schema in _GROUPS.items():
        store.store(group=group, name=f"base_{group}", node=schema)
