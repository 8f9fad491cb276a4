"""Mode -> job. Each job takes the validated AppConfig and returns a process exit code."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from core.config import AppConfig
from core.errors import ConfigError

Job = Callable[[AppConfig], int]


# mode -> module:function. Modules are imported on use, so `mode=db` does not pay for
# backtrader, and aiohttp or Dask load only for the modes that need them.
_JOB_PATHS: dict[str, str] = {
    "simulate": "jobs.data_jobs:simulate",
    "import": "jobs.data_jobs:import_file",
    "db": "jobs.data_jobs:migrate",
    "backtest": "jobs.trading_jobs:replay",
    "replay": "jobs.trading_jobs:replay",
    "report": "jobs.report_jobs:report",
    "paper": "jobs.paper_jobs:paper",
    "kill": "jobs.paper_jobs:kill",
    "emulator": "jobs.emulator_jobs:emulator",
    "record": "jobs.live_jobs:record",
    "live": "jobs.live_jobs:live",
    "walkforward": "jobs.walkforward_jobs:walkforward",
}


def _jobs() -> dict[str, str]:
    return dict(_JOB_PATHS)


def _load(path: str) -> Job:
    module, function = path.split(":")
    return getattr(importlib.import_module(module), function)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(app: AppConfig) -> int:
    configure_logging()
    path = _JOB_PATHS.get(app.mode.name)
    if path is None:
        ready = ", ".join(sorted(_JOB_PATHS))
        raise ConfigError(f"mode={app.mode.name} is not available yet; available: {ready}")
    return _load(path)(app)
