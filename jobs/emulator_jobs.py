"""``mode=emulator``: serve one replayed catalog day as a local DhanHQ v2 until Ctrl-C.

    python main.py mode=emulator data.days=2024-10-09 data.speed=1

A synthetic day (``data.options=synthetic|model``) is simulated into the catalog first when
missing, with the session before it so previous closes are real; a recorded day must exist.
The clock starts at the 09:15 IST open and runs at ``data.speed``; at ``max`` (as fast as
the feed's readers keep up) it waits, paused, for ``POST /admin/clock {"action": "start"}``.
Prints the URLs, the credentials the emulator accepts and the three lines that point a
``dhanhq`` script at it; logs go to stderr.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.config import AppConfig
from core.errors import ConfigError
from jobs.data_jobs import calendar_for, ensure_simulated, run_days
from sim.clock import parse_speed
from sim.dhan_emulator import EmulatorServer, settings_from_app

log = logging.getLogger(__name__)


def emulator(app: AppConfig) -> int:
    """The job: serve until interrupted."""
    try:
        return serve(app, threading.Event())
    except KeyboardInterrupt:
        log.info("emulator stopped")
        return 0


def serve(app: AppConfig, stop: threading.Event,
          out: Callable[[str], None] = print) -> int:
    """Start the emulator for ``data.days`` (one day), print how to use it, wait for ``stop``."""
    calendar = calendar_for(app)
    days = run_days(app, calendar)
    if len(days) != 1:
        raise ConfigError(f"mode=emulator replays one day; data.days={app.data.days!r} names "
                          f"{len(days)}")
    day = days[0]
    if app.data.options == "recorded":
        ensure_simulated(app, [day])
    else:
        ensure_simulated(app, [calendar.previous_session(day), day])
    # At max speed nothing would be left of the day by the time a script connects: wait.
    max_speed = parse_speed(app.data.speed) is None
    with EmulatorServer(settings_from_app(app, day, start_paused=max_speed)) as server:
        out(banner(server))
        while not stop.wait(0.5):  # short waits keep Ctrl-C responsive
            pass
    return 0


def banner(server: EmulatorServer) -> str:
    """What the job prints: where the emulator is and how to point dhanhq at it."""
    s = server.settings
    lines = [
        f"DhanHQ v2 emulator: {s.underlying} {s.day} at speed {s.speed} (Ctrl-C to stop)",
        f"  REST          {server.base_url}",
        f"  market feed   {server.feed_url}",
        f"  order updates {server.order_update_url}",
        f"  admin         {server.admin_url}/state  (POST /admin/clock, /admin/faults, ...)",
        f"  credentials   client_id={s.client_id!r} access_token={s.access_token!r}",
        "Point a dhanhq 2.3.0 script at it (ctx = DhanContext(client_id, access_token);",
        "order_update = OrderUpdate(ctx)):",
        *(f"    {line}" for line in server.client_lines()),
    ]
    if s.start_paused:
        lines.append(f"The replay clock is paused at the open; start it with: curl -X POST "
                     f"{server.admin_url}/clock -d '{{\"action\": \"start\"}}'")
    return "\n".join(lines)
