"""Structured logs for long-lived runs: one JSON object per line, in rotated files.

The console keeps its human format (``jobs/dispatch.py``); this adds a file an operator's
tools can parse: ``{"at": ISO UTC, "level", "logger", "thread", "message", ...}`` plus
``exc`` with the traceback when there is one, and any ``extra={...}`` fields given to the
logging call.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import UTC, datetime
from pathlib import Path

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def add_json_log(log_dir: Path, name: str, max_bytes: int, backups: int,
                 level: int = logging.INFO) -> logging.Handler:
    """Attach a rotating JSON-lines file ``log_dir/name`` to the root logger; returns it.

    The caller removes it (``logging.getLogger().removeHandler``) when the run ends.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(log_dir / name, maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler
