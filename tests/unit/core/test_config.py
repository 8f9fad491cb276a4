"""Config composition, range checks and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config_check import compose_config
from core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_compose_to_spec_values() -> None:
    app = compose_config([])
    assert app.mode.name == "backtest"
    assert (app.index.name, app.index.security_id, app.index.strike_step) == ("NIFTY", 13, 50)
    assert (app.risk.sl_pct, app.risk.tp_pct, app.risk.trail_pct) == (0.30, 0.60, 0.03)
    assert app.risk.breaker_pct == 0.06
    assert app.risk.time_exit == "15:20"
    balanced = app.strategy.presets[app.strategy.validation]
    assert (balanced.adx_min_primary, balanced.adx_min_confirm) == (18.0, 20.0)
    assert [b.up_to for b in app.risk.bands] == [75_000, 150_000, 300_000, None]
    assert app.db.url == "sqlite:///data/optscalp.db"


@pytest.mark.parametrize(("index", "name", "sid", "step", "segment"), [
    ("nifty", "NIFTY", 13, 50, "NSE_FNO"),
    ("banknifty", "BANKNIFTY", 25, 100, "NSE_FNO"),
    ("sensex", "SENSEX", 51, 100, "BSE_FNO"),
])
def test_index_groups(index: str, name: str, sid: int, step: int, segment: str) -> None:
    app = compose_config([f"index={index}"])
    assert (app.index.name, app.index.security_id, app.index.strike_step,
            app.index.options_segment) == (name, sid, step, segment)


@pytest.mark.parametrize(("override", "message"), [
    ("risk.sl_pct=1.5", "risk.sl_pct=1.5 is out of range: allowed (0, 1)"),
    ("risk.sl_pct=0", "risk.sl_pct=0.0 is out of range: allowed (0, 1)"),
    ("risk.sl_pct=abc", "risk.sl_pct: Value 'abc' of type 'str' could not be converted to Float"),
    ("foo=1", "foo: Key 'foo' not in 'AppConfig'"),
    ("risk.max_positions=0", "risk.max_positions=0 is out of range: allowed [1, 20]"),
    ("risk.exit_price=mid", "risk.exit_price='mid' is not allowed: choose one of ltp, bid"),
    ("risk.sizing_sl_pct=0.25", "risk.sizing_sl_pct=0.25 differs from risk.sl_pct=0.3"),
    ("strategy.validation=wild", "strategy.validation='wild' is not a preset"),
    ("risk.time_exit=25:99", "risk.time_exit='25:99' is not an HH:MM time"),
    ("strategy.otm_steps=4", "strategy.otm_steps=4 is out of range: allowed [0, 3]"),
])
def test_bad_values_give_one_line_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        compose_config([override])
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_unknown_group_option_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        compose_config(["mode=zzz"])
    assert "Could not find 'mode/zzz'" in str(info.value)
    assert "backtest" in str(info.value)
    assert "search path" not in str(info.value)


def test_sizing_stop_equal_to_exit_stop_is_accepted() -> None:
    app = compose_config(["risk.sizing_sl_pct=0.3"])
    assert app.risk.sizing_sl_pct == app.risk.sl_pct


def test_main_prints_one_line_and_exits_2_on_bad_config() -> None:
    proc = subprocess.run([sys.executable, "main.py", "risk.sl_pct=1.5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "config error: risk.sl_pct=1.5 is out of range: allowed (0, 1)"
    assert "Traceback" not in proc.stderr
