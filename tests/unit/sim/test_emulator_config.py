"""The emulator's fault knobs can be set from the Hydra config, not only through /admin."""

from __future__ import annotations

from datetime import date

import pytest

from core.config_check import compose_config
from core.errors import ConfigError
from sim.dhan_emulator.settings import initial_faults, settings_from_app


def test_config_knobs_become_the_emulators_initial_faults() -> None:
    app = compose_config(["mode=emulator", "emulator.storm_requests=20",
                          "emulator.reject_next_orders=2", "+emulator.fail_status.positions=503",
                          "emulator.port=8123"])
    assert initial_faults(app) == {"storm_requests": 20, "reject_next_orders": 2,
                                   "fail_status": {"positions": 503}}
    settings = settings_from_app(app, date(2024, 10, 9))
    assert settings.port == 8123
    assert settings.faults == initial_faults(app)


def test_no_knob_set_means_no_fault() -> None:
    assert initial_faults(compose_config(["mode=emulator"])) == {}


def test_a_bad_knob_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="emulator.storm_requests=-1 is out of range"):
        compose_config(["emulator.storm_requests=-1"])
