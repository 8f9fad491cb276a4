"""Paper trading jobs: ``mode=paper`` (the long-lived runtime) and ``mode=kill``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core.config import AppConfig


def paper(app: AppConfig) -> int:
    """``mode=paper``: one session with the paper broker, until it ends or stops: a paced
    replay of a catalog day, or (``feed=dhan``) DhanHQ's live market feed."""
    from runtime.supervisor import PaperRuntime

    if app.feed == "dhan":
        from runtime.live import LiveRuntime

        runtime: PaperRuntime = LiveRuntime(app, send_orders=False)
    else:
        runtime = PaperRuntime(app)
    code = runtime.run()
    print(f"run {runtime.run_id}: paper ({app.feed} feed) {app.index.name} {runtime.day} "
          f"{'finished' if code == 0 else 'failed'}; journalled in {app.db.url}")
    if runtime.run_id:
        from jobs.report_jobs import report_after_run

        report_after_run(app, runtime.run_id)
    return code


def kill(app: AppConfig) -> int:
    """``mode=kill``: engage the kill switch of the running paper process (or release it)."""
    from runtime.controls import engage_kill_file, read_kill_file, release_kill_file

    path = Path(app.paper.kill_file)
    if app.paper.kill_release:
        removed = release_kill_file(path)
        print(f"kill switch released: {path} {'removed' if removed else 'was not there'}; "
              "the next paper start trades again (a running process stays killed)")
        return 0
    if read_kill_file(path) is None:
        engage_kill_file(path, "cli", "python main.py mode=kill", datetime.now(UTC))
    print(f"kill switch engaged: {path}; a running paper process flattens and blocks entries "
          "(release with mode=kill paper.kill_release=true)")
    return 0
