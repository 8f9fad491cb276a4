"""One session of a multi-day run as a self-contained task: what a Dask worker executes.

A :class:`DayTask` carries the validated config (a picklable dataclass), the day, its starting
balance and the first number of the day's own range of order numbers. The worker reads the
day and its warm-up sessions from the catalog under ``data.root`` itself (shared storage):
only the config crosses the wire, never market data. :func:`run_day_task` returns a
:class:`DayOutcome` holding the day's records in a :class:`MemoryJournal`, or the reason the
day has no result; it never raises, so one bad day cannot take a run's other days with it.

Each day gets its own block of order numbers (:func:`order_numbers_per_day`), whether the
days run in order in one process or out of order on workers, so both give the same
correlation ids, field for field.
"""

from __future__ import annotations

import gc
import logging
import traceback
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path

from core.calendar import TradingCalendar
from core.config import AppConfig
from core.errors import ConfigError, DataError
from core.gc_policy import day_run_collections
from strategies.engine import DayResult
from strategies.records import DecisionRecord, MemoryJournal

log = logging.getLogger(__name__)

# A correlation id's unique suffix is the run tag (<= 7 characters) plus a 5-digit order
# number (strategies.logic.tags.SUFFIX_MAX = 12), so a run has 99,999 order numbers to share.
ORDER_NUMBER_LIMIT = 99_999
ORDERS_PER_DAY = 1_000
MIN_ORDERS_PER_DAY = 50


def order_numbers_per_day(n_days: int) -> int:
    """How many order numbers each day of an ``n_days`` run owns (at most 1,000)."""
    per_day = min(ORDERS_PER_DAY, ORDER_NUMBER_LIMIT // max(n_days, 1))
    if per_day < MIN_ORDERS_PER_DAY:
        longest = ORDER_NUMBER_LIMIT // MIN_ORDERS_PER_DAY
        raise ConfigError(
            f"data.days: {n_days} sessions in one run leave {per_day} order numbers per day "
            f"(correlation ids hold 5 digits); run at most {longest} sessions per run")
    return per_day


def first_order_number(day_index: int, per_day: int) -> int:
    """The first order number of the ``day_index``-th day (0-based) of a run."""
    return 1 + day_index * per_day


@dataclass(frozen=True)
class DayTask:
    """Everything a worker needs to replay one session (the data it reads itself)."""

    app: AppConfig
    day: date
    day_index: int  # position of the day in the run: fixes its order-number block
    balance: float
    order_numbers: int  # size of the day's order-number block
    run_tag: str
    label: str = ""  # which parameter set (walk-forward); "" for a plain run
    keep_journal: bool = True  # False: return only trades and the day record (searches)

    @property
    def first_order_number(self) -> int:
        return first_order_number(self.day_index, self.order_numbers)


@dataclass(frozen=True)
class DayOutcome:
    """A day's result and records, or why it has none (``error``)."""

    day: date
    day_index: int
    label: str
    result: DayResult | None
    journal: MemoryJournal = field(default_factory=MemoryJournal)
    error: str = ""
    skipped: bool = False  # True: the data could not support the day (not an error)

    @property
    def net_pnl(self) -> float:
        """Net P&L after charges of the day's closed trades."""
        return sum(t.net_pnl for t in self.journal.trades)


def with_absolute_root(app: AppConfig) -> AppConfig:
    """``app`` with ``data.root`` absolute: workers may run in another working directory."""
    root = str(Path(app.data.root).expanduser().resolve())
    return app if root == app.data.root else replace(app, data=replace(app.data, root=root))


@lru_cache(maxsize=8)
def _calendar(extra_sessions: tuple[str, ...]) -> TradingCalendar:
    # One per worker process: building the exchange calendar costs more than a short day.
    return TradingCalendar(extra_sessions)


def calendar_of(app: AppConfig) -> TradingCalendar:
    return _calendar(tuple(app.data.extra_sessions))


def run_day_task(task: DayTask) -> DayOutcome:
    """Replay ``task.day``; a failure becomes an outcome with the error text, never a raise.

    A day the data cannot support (DataError) is skipped as the sequential engine skips it:
    one "skip" decision saying why. Any other error is logged with its traceback here (on
    the worker) and reported the same way, with the error's type and place.
    """
    from feeds.catalog import Catalog
    from strategies.engine import run_day
    from strategies.setup import build_setup

    journal = MemoryJournal()
    calendar = calendar_of(task.app)
    try:
        setup = build_setup(task.app, task.run_tag)
        with day_run_collections():
            result = run_day(task.app, setup, Catalog(task.app.data.root), calendar,
                             task.day, task.balance, journal, task.first_order_number)
        _check_order_range(task, result)
    except DataError as error:
        log.error("skipping %s: %s", task.day, error)
        return failed_outcome(task, f"skipped: {error}", calendar, skipped=True)
    except Exception as error:  # noqa: BLE001 - any failure of one day is reported, not raised
        log.exception("day %s%s failed", task.day, f" ({task.label})" if task.label else "")
        return failed_outcome(task, f"failed: {describe_error(error)}", calendar)
    finally:
        # backtrader's cerebro, feeds and strategy form reference cycles holding the day's
        # arrays: collect them now, or a worker may hold two days at once (peak memory
        # would then grow with the number of days a worker runs)
        gc.collect()
    if not task.keep_journal:
        journal = MemoryJournal(trades=journal.trades, days=journal.days)
    return DayOutcome(task.day, task.day_index, task.label, result, journal)


def failed_outcome(task: DayTask, reason: str, calendar: TradingCalendar, *,
                   skipped: bool = False) -> DayOutcome:
    """An outcome without a result whose journal holds one "skip" decision giving ``reason``."""
    at = calendar.session_bounds(task.day)[0]
    skip = DecisionRecord(at=at, kind="skip", taken=False, reason=f"day {reason}")
    return DayOutcome(task.day, task.day_index, task.label, None,
                      MemoryJournal(decisions=[skip]), reason, skipped)


def describe_error(error: BaseException) -> str:
    """``Type: message (at file.py:line)`` of the innermost frame: one line for a report."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {message}{where}"


def _check_order_range(task: DayTask, result: DayResult) -> None:
    used = result.next_order_number - task.first_order_number
    if used > task.order_numbers:
        raise ConfigError(
            f"{task.day} placed {used} orders, more than the {task.order_numbers} order "
            "numbers each day of this run owns; run fewer sessions per run (data.days)")
