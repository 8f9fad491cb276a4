"""``mode=walkforward``: optimise on a window of sessions, test on the next, roll forward.

For every window (``jobs/walkforward_plan.py``) each parameter set of the grid is run over the
optimisation sessions; the set with the best objective (default: net P&L after charges) is
then run over the window's test sessions, which all come after its optimisation sessions.
Only those out-of-sample sessions are journalled, as one run (``mode=walkforward``) whose
report is the out-of-sample result; the per-window table puts each window's in-sample
figures next to its out-of-sample ones (printed, ``windows.csv``, ``windows.png``).

Every session starts from ``risk.capital`` (fixed daily capital): with compounding, a
session's result would depend on the path of the windows before it. A run configured to
compound says so. Sessions run on Dask workers when ``run.workers > 1`` or ``run.cluster``
is set (``jobs/multiday.py``), in both phases. The search replays 1m bars by default
(``source="bars"``, the backtest) or ticks (``source="ticks"``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import AppConfig
from core.errors import ConfigError, MissingDataError
from jobs.daytasks import DayOutcome, DayTask, order_numbers_per_day, with_absolute_root
from jobs.multiday import DayOrderMerger, MissingDay, maybe_client, run_tasks
from jobs.walkforward_plan import (
    OBJECTIVES,
    ParamSet,
    Window,
    choose_best,
    expand_grid,
    objective_value,
    walkforward_windows,
)
from reports.metrics import RunMetrics, compute_metrics
from strategies.records import TradeRecord

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

MAX_LISTED = 10
SEARCH_RUN_TAG = "wf"  # search days are never journalled: their correlation ids are unused
SOURCES = {"bars": "backtest", "ticks": "replay"}
FIXED_CAPITAL_NOTE = ("walk-forward: every session starts from risk.capital (fixed daily "
                      "capital); risk.capital_mode=compounding is not applied")


@dataclass(frozen=True)
class WalkForwardSettings:
    """Walk-forward knobs (``walkforward.*`` in the config)."""

    train_sessions: int = 5
    test_sessions: int = 2
    anchored: bool = False
    objective: str = "net_pnl"
    source: str = "bars"
    grid: Mapping[str, Sequence[object]] = field(default_factory=lambda: {
        "risk.sl_pct": (0.2, 0.3), "risk.tp_pct": (0.4, 0.6)})

    @classmethod
    def from_app(cls, app: AppConfig) -> WalkForwardSettings:
        node = app.walkforward
        return cls(**{f.name: getattr(node, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Choice:
    """A window's chosen set, its in-sample metrics, and every set's in-sample objective."""

    params: ParamSet
    in_sample: RunMetrics
    scores: tuple[tuple[str, float], ...]

    @property
    def objective(self) -> float:
        return dict(self.scores)[self.params.text]


@dataclass(frozen=True)
class WindowResult:
    window: Window
    params: ParamSet
    in_sample: RunMetrics
    out_of_sample: RunMetrics
    objective: float  # the chosen set's in-sample objective
    scores: tuple[tuple[str, float], ...]  # (set, in-sample objective) of every set


@dataclass
class WalkForwardResult:
    run_id: str
    windows: list[WindowResult]
    out_of_sample: RunMetrics  # all test sessions together: the journalled run's numbers
    missing: list[MissingDay] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def walkforward(app: AppConfig, settings: WalkForwardSettings | None = None) -> int:
    """The job: prepare data, run the walk-forward, print and write the window table."""
    from jobs.data_jobs import calendar_for, days_with_warmup, ensure_simulated, run_days
    from jobs.report_jobs import report_after_run
    from reports.walkforward import format_windows, write_windows

    settings = settings or WalkForwardSettings.from_app(app)
    calendar = calendar_for(app)
    ensure_simulated(app, days_with_warmup(app, calendar))
    result = run_walkforward(app, settings, run_days(app, calendar))
    print(format_windows(result, settings.objective))
    folder = write_windows(result, Path(app.report.out_dir) / f"walkforward-{result.run_id}")
    print(f"window table: {folder}")
    report_after_run(app, result.run_id)
    return 1 if any(not m.skipped for m in result.missing) else 0


def run_walkforward(app: AppConfig, settings: WalkForwardSettings,
                    days: Sequence[date]) -> WalkForwardResult:
    """Search every window's optimisation sessions, then journal its test sessions."""
    windows = walkforward_windows(days, settings.train_sessions, settings.test_sessions,
                                  settings.anchored)
    params = expand_grid(settings.grid)
    trials = {p.label: trial_config(app, settings, p) for p in params}
    if settings.objective not in OBJECTIVES:
        raise ConfigError(f"walkforward.objective={settings.objective!r}: expected one of "
                          f"{', '.join(OBJECTIVES)}")
    notes = [FIXED_CAPITAL_NOTE] if app.risk.capital_mode == "compounding" else []
    for note in notes:
        log.warning(note)
    with maybe_client(app.run) as client:
        searched = search(trials, windows, client)
        notes += search_failures(searched.values())
        chosen = {}
        for window in windows:
            in_sample = {p.label: window_metrics(searched, p.label, window.train, app)
                         for p in params}
            best = choose_best(in_sample, [p.label for p in params], settings.objective)
            scores = tuple((p.text, objective_value(in_sample[p.label], settings.objective))
                           for p in params)
            chosen[window.number] = Choice(next(p for p in params if p.label == best),
                                           in_sample[best], scores)
        result = test_out_of_sample(app, windows, chosen, trials, client)
    result.notes[:0] = notes
    return result


def trial_config(app: AppConfig, settings: WalkForwardSettings, params: ParamSet) -> AppConfig:
    """``app`` with one parameter set applied, fixed daily capital and the search source."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from core.config_check import to_app_config

    if settings.source not in SOURCES:
        raise ConfigError(f"walkforward.source={settings.source!r}: expected bars or ticks")
    base = replace(app, mode=replace(app.mode, name=SOURCES[settings.source]),
                   risk=replace(app.risk, capital_mode="fixed"))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(base),
                                 OmegaConf.from_dotlist(params.dotlist))
    except OmegaConfBaseException as error:
        raise ConfigError(f"walkforward.grid ({params.text}): {error}".splitlines()[0]) from error
    return with_absolute_root(to_app_config(merged))  # type: ignore[arg-type]


def search(trials: Mapping[str, AppConfig], windows: Sequence[Window],
           client: Client | None) -> dict[tuple[str, date], DayOutcome]:
    """Every parameter set over every optimisation session (each once, however many
    windows share it): outcomes with trades only, by (label, day)."""
    train_days = sorted({day for window in windows for day in window.train})
    per_day = order_numbers_per_day(len(train_days))
    tasks = [DayTask(trial, day, index, trial.risk.capital, per_day, SEARCH_RUN_TAG, label,
                     keep_journal=False)
             for label, trial in trials.items() for index, day in enumerate(train_days)]
    outcomes: dict[tuple[str, date], DayOutcome] = {}
    done = [0]

    def keep(outcome: DayOutcome) -> None:
        outcomes[(outcome.label, outcome.day)] = outcome
        done[0] += 1
        log.info("search %d/%d: %s %s %s", done[0], len(tasks), outcome.label, outcome.day,
                 outcome.error or f"{len(outcome.journal.trades)} trade(s), net "
                 f"{outcome.net_pnl:.2f}")

    log.info("walk-forward search: %d parameter set(s) x %d session(s)", len(trials),
             len(train_days))
    run_tasks(tasks, client, keep)
    return outcomes


def search_failures(outcomes: Iterable[DayOutcome]) -> list[str]:
    """Summary lines for searched sessions without a result (they count as no trades)."""
    failed = [o for o in outcomes if o.result is None]
    if not failed:
        return []
    lines = [f"  in-sample search: {len(failed)} session run(s) without a result, counted as "
             "sessions without trades:"]
    lines += [f"    {o.label} {o.day}: {o.error}" for o in failed[:MAX_LISTED]]
    if len(failed) > MAX_LISTED:
        lines.append(f"    ... and {len(failed) - MAX_LISTED} more (see the log)")
    return lines


def window_metrics(outcomes: Mapping[tuple[str, date], DayOutcome], label: str,
                   days: Sequence[date], app: AppConfig) -> RunMetrics:
    """Metrics of parameter set ``label`` over ``days`` (sessions without a result count as
    sessions without trades; they are reported as missing by the search log)."""
    trades = [t for day in days for t in outcomes[(label, day)].journal.trades]
    return compute_metrics(_by_entry(trades), list(days), app.risk.capital)


def test_out_of_sample(app: AppConfig, windows: Sequence[Window], chosen: Mapping[int, Choice],
                       trials: Mapping[str, AppConfig], client: Client | None
                       ) -> WalkForwardResult:
    """Journal every window's test sessions with its chosen set, as one run."""
    from jobs.run_journal import open_run
    from jobs.sweep import note_sweep_run
    from strategies.setup import run_tag_for

    oos_days = [day for window in windows for day in window.test]
    per_day = order_numbers_per_day(len(oos_days))
    trades: dict[date, list[TradeRecord]] = {}
    with open_run(app, oos_days) as run:
        print(f"run {run.run_id}: walkforward {app.index.name} {len(windows)} window(s), "
              f"out-of-sample {oos_days[0]}..{oos_days[-1]}")
        note_sweep_run(app, run.run_id)
        merger = DayOrderMerger(run.journal, run.run_id, len(oos_days))
        tag = run_tag_for(run.run_id)
        tasks = [DayTask(trials[chosen[w.number].params.label], day, oos_days.index(day),
                         app.risk.capital, per_day, tag, chosen[w.number].params.label)
                 for w in windows for day in w.test]

        def keep(outcome: DayOutcome) -> None:
            trades[outcome.day] = outcome.journal.trades
            merger.add(outcome)

        run_tasks(tasks, client, keep)
        if not merger.run.results:
            raise MissingDataError("walk-forward: no out-of-sample session could be run")
    results = [WindowResult(w, chosen[w.number].params, chosen[w.number].in_sample,
                            _metrics(trades, w.test, app), chosen[w.number].objective,
                            chosen[w.number].scores) for w in windows]
    return WalkForwardResult(run.run_id, results, _metrics(trades, oos_days, app),
                             merger.run.missing)


def _metrics(trades: Mapping[date, list[TradeRecord]], days: Sequence[date],
             app: AppConfig) -> RunMetrics:
    return compute_metrics(_by_entry([t for d in days for t in trades.get(d, [])]), list(days),
                           app.risk.capital)


def _by_entry(trades: list[TradeRecord]) -> list[TradeRecord]:
    return sorted(trades, key=lambda t: (t.entry_at, t.exit_at))
