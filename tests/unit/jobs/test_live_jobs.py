"""mode=record's contract list from the instruments DB; mode=live refuses and says why."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.config_check import compose_config
from core.db import migrate
from core.db.engine import make_engine, session_factory
from core.db.models import Derivative, Instrument
from core.errors import ConfigError, MissingDataError
from jobs.live_jobs import day_contracts, live

NOW = datetime(2024, 10, 9, 3, 0, tzinfo=UTC)
DAY = date(2024, 10, 9)


def _option(sid: int, expiry: date, strike: float, kind: str, underlying: str = "NIFTY"
            ) -> Derivative:
    return Derivative(exchange="NSE", segment="NSE_FNO", security_id=sid,
                      symbol=f"{underlying}-{expiry}-{strike:.0f}-{kind}", display_name="x",
                      instrument="OPTIDX", underlying_symbol=underlying, expiry=expiry,
                      strike=strike, option_type=kind, lot_size=25, tick_size=0.05,
                      freeze_qty=1800, updated_at=NOW)


def test_day_contracts_are_the_index_and_the_nearest_expiries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    app = compose_config([f"db.url={url}"])
    app = dataclasses.replace(app, dhan=dataclasses.replace(app.dhan, record_expiries=2))
    expiries = [date(2024, 10, 3), date(2024, 10, 10), date(2024, 10, 17), date(2024, 10, 24)]
    with session_factory(make_engine(url))() as session:
        session.add(Instrument(exchange="NSE", segment="IDX_I", security_id=13, symbol="NIFTY",
                               display_name="Nifty 50", instrument="INDEX", lot_size=1,
                               tick_size=0.05, updated_at=NOW))
        session.add_all([_option(100 + i, e, 25000.0, "CE") for i, e in enumerate(expiries)])
        session.add(_option(200, expiries[1], 50000.0, "PE", underlying="BANKNIFTY"))
        session.commit()
    rows = day_contracts(app, DAY)
    assert [(r["security_id"], r["instrument"], r["expiry"]) for r in rows] == [
        (13, "INDEX", None), (101, "OPTIDX", date(2024, 10, 10)),
        (102, "OPTIDX", date(2024, 10, 17))]
    assert rows[1]["freeze_qty"] == 1800


def test_day_contracts_without_an_import_say_what_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    migrate.upgrade(url)
    with pytest.raises(MissingDataError, match="run mode=import"):
        day_contracts(compose_config([f"db.url={url}"]), DAY)


def test_live_mode_says_dry_run_then_needs_credentials(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    for name in ("OPTSCALP_LIVE", "DHAN_CLIENT_ID", "DHAN_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    app = compose_config(["mode=live", f"data.root={tmp_path}", "live.day=2024-10-09",
                          f"db.url=sqlite:///{tmp_path / 'db.sqlite'}"])
    with pytest.raises(ConfigError, match="credentials missing: set DHAN_CLIENT_ID"):
        live(app)
    assert "DRY RUN" in capsys.readouterr().out


def test_live_day_must_be_a_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DHAN_CLIENT_ID", "1")
    monkeypatch.setenv("DHAN_ACCESS_TOKEN", "t")
    app = compose_config(["mode=live", f"data.root={tmp_path}", "live.day=2024-10-12"])
    with pytest.raises(ConfigError, match="2024-10-12 is not a trading session"):
        live(app)
