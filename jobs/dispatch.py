"""Mode -> job. Each job takes the validated AppConfig and returns a process exit code."""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.config import AppConfig
from core.errors import ConfigError

Job = Callable[[AppConfig], int]


def _jobs() -> dict[str, Job]:
    # Imported lazily so `mode=db` does not pay for backtrader, and a broken optional
    # dependency only breaks the modes that need it.
    from jobs import data_jobs

    jobs: dict[str, Job] = {
        "simulate": data_jobs.simulate,
        "import": data_jobs.import_file,
        "db": data_jobs.migrate,
        "emulator": lambda app: __import__("jobs.emulator_jobs").emulator_jobs.emulator(app),
    }
    from jobs import report_jobs

    jobs.update(report_jobs.JOBS)
    try:
        from jobs import trading_jobs
    except ImportError:  # the strategy runtime is not built yet
        jobs["backtest"] = data_jobs.sample_summary
    else:
        jobs.update(trading_jobs.JOBS)
        from jobs import paper_jobs

        jobs.update(paper_jobs.JOBS)
        from jobs import live_jobs, walkforward_jobs

        jobs.update(live_jobs.JOBS)
        jobs.update(walkforward_jobs.JOBS)
    return jobs


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(app: AppConfig) -> int:
    configure_logging()
    jobs = _jobs()
    job = jobs.get(app.mode.name)
    if job is None:
        ready = ", ".join(sorted(jobs))
        raise ConfigError(f"mode={app.mode.name} is not available yet; available: {ready}")
    return job(app)
