"""Compose, convert and validate the config; every failure becomes one ConfigError line."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from core.clock import parse_hhmm, parse_hhmmss
from core.config import AppConfig, register_configs
from core.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides: list[str] | None = None) -> AppConfig:
    """Compose ``conf/`` with overrides outside ``@hydra.main`` (pre-checks, tools, tests)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name="config", overrides=list(overrides or []))
    except Exception as e:  # Hydra raises many types; all mean "this config is wrong"
        raise ConfigError(_one_line(e)) from e
    finally:
        GlobalHydra.instance().clear()
    return to_app_config(cfg)


def to_app_config(cfg: DictConfig) -> AppConfig:
    """Resolve and convert a composed config into dataclasses, then validate it."""
    try:
        app = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise ConfigError(_one_line(e)) from e
    if not isinstance(app, AppConfig):
        raise ConfigError(f"config root is {type(app).__name__}, expected AppConfig")
    validate(app)
    return app


def _one_line(error: BaseException) -> str:
    """The most specific message in an exception chain, with its key, on one line."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in reversed(chain):
        key = getattr(exc, "full_key", None)
        if key:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"{key}: {first}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # Hydra appends its search path to "could not find" errors: noise for a user.
    kept = [line for line in lines if not line.startswith(("Config search path", "provider="))]
    return " ".join(kept) or type(error).__name__


def validate(app: AppConfig) -> None:
    """Check every field's declared range/choices, then the cross-field rules."""
    _check_fields(app, "")
    _check_cross_fields(app)


def _check_fields(obj: Any, prefix: str) -> None:
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            key = f"{prefix}{f.name}"
            _check_value(key, value, f.metadata)
            _check_fields(value, key + ".")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            _check_fields(item, f"{prefix[:-1]}[{i}].")
    elif isinstance(obj, dict):
        for name, item in obj.items():
            _check_fields(item, f"{prefix}{name}.")


def _check_value(key: str, value: Any, meta: Any) -> None:
    if "choices" in meta and value not in meta["choices"]:
        allowed = ", ".join(meta["choices"])
        raise ConfigError(f"{key}={value!r} is not allowed: choose one of {allowed}")
    if "range" in meta and value is not None:
        lo, hi, lo_open, hi_open = meta["range"]
        below = lo is not None and (value <= lo if lo_open else value < lo)
        above = hi is not None and (value >= hi if hi_open else value > hi)
        if below or above:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            span = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
            raise ConfigError(f"{key}={value} is out of range: allowed {span}")


def _check_cross_fields(app: AppConfig) -> None:
    risk, strategy = app.risk, app.strategy
    if risk.sizing_sl_pct is not None and risk.sizing_sl_pct != risk.sl_pct:
        raise ConfigError(
            f"risk.sizing_sl_pct={risk.sizing_sl_pct} differs from risk.sl_pct={risk.sl_pct}: "
            "sizing must use the same stop loss as the exits (remove sizing_sl_pct)")
    if strategy.validation not in strategy.presets:
        allowed = ", ".join(sorted(strategy.presets)) or "(none defined)"
        raise ConfigError(f"strategy.validation={strategy.validation!r} is not a preset: "
                          f"choose one of {allowed}")
    for name, preset in strategy.presets.items():
        if preset.iv_rank_min > preset.iv_rank_max:
            raise ConfigError(f"strategy.presets.{name}: iv_rank_min > iv_rank_max")
        _check_hhmm(f"strategy.presets.{name}.theta_cutoff", preset.theta_cutoff)
    if strategy.min_iv > strategy.max_iv:
        raise ConfigError("strategy.min_iv must not exceed strategy.max_iv")
    if strategy.confirm_minutes % strategy.primary_minutes:
        raise ConfigError("strategy.confirm_minutes must be a multiple of primary_minutes")
    _check_hhmm("strategy.no_entries_after", strategy.no_entries_after)
    _check_hhmm("risk.time_exit", risk.time_exit)
    if risk.max_same_side > risk.max_positions:
        raise ConfigError("risk.max_same_side must not exceed risk.max_positions")
    _check_bands(app)
    _check_dated("index.expiry_rules", [r.from_date for r in app.index.expiry_rules])
    _check_dated("index.lot_sizes", [v.from_date for v in app.index.lot_sizes])
    _check_paper(app)
    _check_live(app)
    charges = app.broker.charges
    for key, seq in (("stt_sell", charges.stt_sell), ("exchange_nse", charges.exchange_nse),
                     ("exchange_bse", charges.exchange_bse)):
        _check_dated(f"broker.charges.{key}", [v.from_date for v in seq])


def _check_hhmm(key: str, text: str) -> None:
    try:
        parse_hhmm(text)
    except ValueError as e:
        raise ConfigError(f"{key}={text!r} is not an HH:MM time") from e


def _check_paper(app: AppConfig) -> None:
    paper = app.paper
    if paper.stop_at:
        try:
            parse_hhmmss(paper.stop_at)
        except ValueError as e:
            raise ConfigError(f"paper.stop_at={paper.stop_at!r} is not an HH:MM[:SS] time") from e
    if paper.day:
        try:
            date.fromisoformat(paper.day)
        except ValueError as e:
            raise ConfigError(f"paper.day={paper.day!r} is not an ISO date (YYYY-MM-DD)") from e


def _check_live(app: AppConfig) -> None:
    live = app.live
    if live.day:
        try:
            date.fromisoformat(live.day)
        except ValueError as e:
            raise ConfigError(f"live.day={live.day!r} is not an ISO date (YYYY-MM-DD)") from e
    host = urlsplit(app.dhan.feed_url).hostname or ""
    if live.lockstep and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"live.lockstep=true steps with the local emulator only; "
                          f"dhan.feed_url={app.dhan.feed_url} is not on this machine")


def _check_bands(app: AppConfig) -> None:
    bands = app.risk.bands
    if not bands:
        raise ConfigError("risk.bands is empty: define at least one sizing band")
    limits = [b.up_to for b in bands[:-1] if b.up_to is not None]
    if len(limits) != len(bands) - 1 or bands[-1].up_to is not None:
        raise ConfigError("risk.bands: only the last band may (and must) have up_to=null")
    if limits != sorted(limits):
        raise ConfigError("risk.bands: up_to values must increase")


def _check_dated(key: str, dates: list[str]) -> None:
    if not dates:
        raise ConfigError(f"{key} is empty: at least one dated entry is required")
    try:
        parsed = [date.fromisoformat(d) for d in dates]
    except ValueError as e:
        raise ConfigError(f"{key}: {e}") from e
    if parsed != sorted(parsed):
        raise ConfigError(f"{key}: from_date values must increase")
