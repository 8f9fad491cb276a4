"""JSON-lines logs with rotation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from runtime.logs import add_json_log


def test_records_are_json_lines_with_extras_and_tracebacks(tmp_path: Path) -> None:
    handler = add_json_log(tmp_path, "paper.jsonl", max_bytes=1_000_000, backups=2)
    log = logging.getLogger("optscalp.test.logs")
    try:
        log.warning("feed %s stale", "NIFTY", extra={"age_s": 7.5})
        try:
            raise RuntimeError("socket closed")
        except RuntimeError:
            log.exception("reader crashed")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    first, second = (json.loads(line) for line in
                     (tmp_path / "paper.jsonl").read_text().splitlines())
    assert first["level"] == "WARNING"
    assert first["message"] == "feed NIFTY stale"
    assert first["logger"] == "optscalp.test.logs"
    assert first["age_s"] == 7.5
    assert first["at"].endswith("+00:00")
    assert second["message"] == "reader crashed"
    assert "RuntimeError: socket closed" in second["exc"]


def test_files_rotate_at_the_size_limit(tmp_path: Path) -> None:
    handler = add_json_log(tmp_path, "paper.jsonl", max_bytes=2_000, backups=2)
    log = logging.getLogger("optscalp.test.rotate")
    try:
        for i in range(200):
            log.warning("line %d %s", i, "x" * 40)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["paper.jsonl", "paper.jsonl.1", "paper.jsonl.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 2_000
        for line in path.read_text().splitlines():
            assert json.loads(line)["logger"] == "optscalp.test.rotate"
