"""Supervised threads: named, crash-logged, heartbeated, joined; the watchdog restarts."""

from __future__ import annotations

import threading
import time

from runtime.threads import ThreadSupervisor, Watchdog, Worker


def wait_for(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_spawn_names_the_thread_and_stop_joins_it() -> None:
    supervisor = ThreadSupervisor()
    names: list[str] = []

    def loop(worker: Worker) -> None:
        names.append(threading.current_thread().name)
        while not worker.wait(0.01):
            worker.beat()

    worker = supervisor.spawn("feed-pump", loop)
    wait_for(lambda: names)
    assert names == ["feed-pump"]
    assert worker.alive
    assert supervisor.stop(timeout_s=2.0) == []
    assert not worker.alive
    assert worker.finished
    assert not worker.failed


def test_a_crash_is_recorded_with_its_error_and_logged(caplog) -> None:  # noqa: ANN001
    supervisor = ThreadSupervisor()

    def boom(worker: Worker) -> None:
        raise ValueError("bad packet")

    worker = supervisor.spawn("ws-reader", boom)
    wait_for(lambda: worker.finished)
    assert worker.failed
    assert worker.error == "ValueError: bad packet"
    [record] = [r for r in caplog.records if r.name == "runtime.threads" and r.exc_info]
    assert record.getMessage() == "thread ws-reader crashed"
    [row] = supervisor.snapshot()
    assert (row["name"], row["alive"], row["failed"]) == ("ws-reader", False, True)
    supervisor.stop()


def test_heartbeat_age_follows_the_wall_clock() -> None:
    wall = [100.0]
    supervisor = ThreadSupervisor(wall=lambda: wall[0])
    release = threading.Event()
    worker = supervisor.spawn("engine", lambda w: release.wait(5))
    wall[0] = 103.5
    assert worker.heartbeat_age() == 3.5
    worker.beat()
    assert worker.heartbeat_age() == 0.0
    release.set()
    supervisor.stop()


def test_watchdog_restarts_a_silent_worker_and_the_old_one_leaves() -> None:
    wall = [0.0]
    supervisor = ThreadSupervisor(wall=lambda: wall[0])
    runs: list[str] = []
    hang = threading.Event()
    hang.set()

    def pump(worker: Worker) -> None:
        runs.append(worker.name)
        while not worker.wait(0.01):
            if not hang.is_set():
                worker.beat()

    first = supervisor.spawn("feed-pump", pump)
    watchdog = Watchdog(supervisor, stall_s=5.0, backoff_s=1.0)
    watchdog.watch(first, pump)
    wall[0] = 4.0
    assert watchdog.check(wall[0]) == []  # silent 4 s: not yet
    wall[0] = 6.0
    assert watchdog.check(wall[0]) == ["feed-pump"]
    hang.clear()
    second = watchdog.current("feed-pump")
    wait_for(lambda: not first.alive)  # told to stop, it left
    assert second.name == "feed-pump#2"
    wait_for(lambda: runs == ["feed-pump", "feed-pump#2"])
    assert watchdog.restarts() == {"feed-pump": 1}
    assert watchdog.check(wall[0]) == []  # the new one beats
    supervisor.stop()


def test_watchdog_restarts_a_dead_worker_with_backoff() -> None:
    wall = [0.0]
    supervisor = ThreadSupervisor(wall=lambda: wall[0])

    def dies(worker: Worker) -> None:
        raise ConnectionError("socket closed")

    watchdog = Watchdog(supervisor, stall_s=60.0, backoff_s=1.0)
    watchdog.watch(supervisor.spawn("feed-pump", dies), dies)
    wait_for(lambda: not watchdog.current("feed-pump").alive)
    assert watchdog.check(0.0) == ["feed-pump"]
    wait_for(lambda: not watchdog.current("feed-pump").alive)
    assert watchdog.check(0.5) == []  # backoff: 1 s after the first restart
    assert watchdog.check(1.0) == ["feed-pump"]
    assert watchdog.restarts() == {"feed-pump": 2}
    supervisor.stop()
