"""Kill switch (file, command, poll) and shutdown state; mode=kill writes and releases it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from core.clock import FixedClock
from core.config_check import compose_config
from jobs import dispatch
from runtime.controls import (
    OperatorControls,
    engage_kill_file,
    read_kill_file,
    release_kill_file,
)

NOW = datetime(2024, 10, 9, 5, 0, tzinfo=UTC)


def controls(tmp_path: Path, flatten: bool = False) -> OperatorControls:
    return OperatorControls(tmp_path / "paper.kill", FixedClock(NOW), flatten)


def test_kill_writes_the_file_and_tells_listeners(tmp_path: Path) -> None:
    ops = controls(tmp_path)
    woken: list[bool] = []
    ops.on_change(lambda: woken.append(True))
    assert not ops.kill_requested
    ops.kill("http", "too volatile")
    assert ops.kill_requested
    assert woken == [True]
    saved = json.loads((tmp_path / "paper.kill").read_text())
    assert saved == {"at": NOW.isoformat(), "source": "http", "reason": "too volatile"}
    assert ops.kill_info["source"] == "http"


def test_a_kill_file_written_by_another_process_engages_on_poll(tmp_path: Path) -> None:
    ops = controls(tmp_path)
    assert not ops.poll_kill_file()
    engage_kill_file(tmp_path / "paper.kill", "cli", "python main.py mode=kill", NOW)
    assert ops.poll_kill_file()
    assert ops.kill_info == {"at": NOW.isoformat(), "source": "cli",
                             "reason": "python main.py mode=kill"}
    release_kill_file(tmp_path / "paper.kill")
    assert ops.poll_kill_file()  # a running process stays killed


def test_any_kill_file_content_means_killed(tmp_path: Path) -> None:
    path = tmp_path / "paper.kill"
    assert read_kill_file(path) is None
    path.write_text("stop now\n")
    assert read_kill_file(path) == {"source": "file", "reason": "stop now"}
    assert release_kill_file(path)
    assert not release_kill_file(path)


def test_shutdown_stops_entries_and_flattens_only_when_configured(tmp_path: Path) -> None:
    keep, flatten = controls(tmp_path), controls(tmp_path, flatten=True)
    for ops in (keep, flatten):
        assert (ops.entries_stopped, ops.flatten_requested, ops.keep_open_on_stop) == (
            False, False, False)
        ops.request_shutdown("SIGTERM")
        assert ops.entries_stopped
        assert ops.keep_open_on_stop
        assert ops.shutdown_reason == "SIGTERM"
    assert not keep.flatten_requested
    assert flatten.flatten_requested


def test_mode_kill_engages_and_releases(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    kill_file = tmp_path / "k" / "paper.kill"
    overrides = [f"data.root={tmp_path}", f"paper.kill_file={kill_file}"]
    assert dispatch.run(compose_config(["mode=kill", *overrides])) == 0
    assert read_kill_file(kill_file)["source"] == "cli"
    assert "kill switch engaged" in capsys.readouterr().out
    assert dispatch.run(compose_config(["mode=kill", "paper.kill_release=true",
                                        *overrides])) == 0
    assert not kill_file.exists()
