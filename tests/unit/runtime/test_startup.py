"""Paper startup: one-line errors for a bad day, missing data or an unreachable database,
and which run a start resumes."""

from __future__ import annotations

import copy
import functools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.config_check import compose_config
from core.db.engine import make_engine, session_factory
from core.db.migrate import upgrade
from core.errors import ConfigError, MissingDataError
from feeds.catalog import Catalog
from reports.journal import Journal
from runtime.startup import (
    SESSION_END,
    check_database,
    check_session_data,
    open_paper_run,
    paper_day,
)
from strategies.records import DecisionRecord

DAY = date(2024, 10, 9)
STARTED = datetime(2024, 10, 9, 3, 0, tzinfo=UTC)


@functools.cache
def _composed(extra: tuple[str, ...]) -> AppConfig:
    return compose_config(["mode=paper", f"data.days={DAY}", *extra])


def app_for(tmp_path: Path, *extra: str) -> AppConfig:
    """The paper config with ``extra`` overrides (composed once each), rooted at tmp_path."""
    app = copy.deepcopy(_composed(extra))
    app.data.root = str(tmp_path)
    if not any(e.startswith("db.url=") for e in extra):
        app.db.url = f"sqlite:///{tmp_path}/optscalp.db"
    return app


@pytest.mark.parametrize(("extra", "expected"), [
    ((), DAY),
    (("data.days=2024-10-07:2024-10-11",), date(2024, 10, 11)),
    (("paper.day=2024-10-08",), date(2024, 10, 8)),
])
def test_the_session_to_replay(tmp_path: Path, extra: tuple[str, ...], expected: date) -> None:
    app = app_for(tmp_path, *extra)
    assert paper_day(app, TradingCalendar(app.data.extra_sessions)) == expected


def test_a_day_that_is_no_session_is_refused(tmp_path: Path) -> None:
    app = app_for(tmp_path, "paper.day=2024-10-12")
    with pytest.raises(ConfigError, match=r"^paper.day=2024-10-12 is not a trading session$"):
        paper_day(app, TradingCalendar(app.data.extra_sessions))


def test_missing_data_names_the_day_and_the_folder(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    with pytest.raises(MissingDataError) as info:
        check_session_data(app, Catalog(tmp_path), TradingCalendar(), DAY)
    assert str(info.value) == (f"no ticks for NIFTY on {DAY} under {tmp_path}/ticks: "
                               "mode=paper replays a catalog day (simulate or record it)")


def test_an_unreachable_database_is_one_line_naming_the_key(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/optscalp.db"
    with pytest.raises(ConfigError) as info:
        check_database(app_for(tmp_path, f"db.url={url}"))
    text = str(info.value)
    assert text.startswith(f"db.url={url}: database unreachable: ")
    assert "\n" not in text


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    url = f"sqlite:///{tmp_path}/j.db"
    upgrade(url)
    return Journal(session_factory(make_engine(url)))


def new_run(journal: Journal, run_id: str, mode: str = "paper", complete: bool = False) -> None:
    journal.start_run(run_id, mode, "NIFTY", "", "", "test", [DAY], STARTED)
    if complete:
        with journal.sink(run_id) as sink:
            sink.decision(DecisionRecord(STARTED, SESSION_END, True, "end"))
    journal.finish_run(run_id, STARTED, "finished")


def test_a_start_resumes_the_latest_unfinished_session_of_the_day(tmp_path: Path,
                                                                  journal: Journal) -> None:
    app = app_for(tmp_path)
    new_run(journal, "r20241009-001", complete=True)
    new_run(journal, "r20241009-002")  # stopped (SIGTERM) before the end of its session
    run = open_paper_run(app, journal, DAY, STARTED)
    assert (run.run_id, run.resumed) == ("r20241009-002", True)
    assert journal.run("r20241009-002").status == "running"


def test_a_completed_session_starts_a_new_run(tmp_path: Path, journal: Journal) -> None:
    new_run(journal, "r20241009-001", complete=True)
    run = open_paper_run(app_for(tmp_path), journal, DAY, STARTED)
    assert (run.run_id, run.resumed) == ("r20241009-002", False)
    fresh = open_paper_run(app_for(tmp_path, "paper.resume=false"), journal, DAY, STARTED)
    assert (fresh.run_id, fresh.resumed) == ("r20241009-003", False)


@pytest.mark.parametrize(("mode", "complete", "message"), [
    ("paper", True, "run.id=r20241009-001 already completed its session 2024-10-09"),
    ("replay", False, "run.id=r20241009-001 is a replay run of NIFTY on 2024-10-09, "
                      "not paper NIFTY 2024-10-09"),
])
def test_run_id_must_name_an_unfinished_paper_session(tmp_path: Path, journal: Journal,
                                                      mode: str, complete: bool,
                                                      message: str) -> None:
    new_run(journal, "r20241009-001", mode=mode, complete=complete)
    with pytest.raises(ConfigError) as info:
        open_paper_run(app_for(tmp_path, "run.id=r20241009-001"), journal, DAY, STARTED)
    assert str(info.value) == message
