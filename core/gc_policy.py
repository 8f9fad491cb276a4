"""Garbage collection for runs of replayed days.

A replayed day allocates a few hundred thousand small objects (bars, checks, decision
records), and backtrader leaves reference cycles behind, so collections must keep running.
Two things make them cheap without changing what they free:

- What is alive before the first day (imports, config, calendar) is frozen out of every
  later collection: it lives for the whole process, and each full collection would walk
  it again.
- During a run the young generation is collected every 5,000 allocations instead of
  CPython's default 700: fewer young collections for the same garbage. Older generations
  keep their thresholds, so a day's backtrader cycles still go at the next full
  collection (the day tasks also collect after each day). Peak memory of a 20-day tick
  replay (``bench/bench_memory.py``) is the same with either threshold.

Measured on 155 real bar days (``bench/bench_year_bars.py``): ~13% of a day's time went to
collections with the defaults.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_GENERATION_THRESHOLD = 5_000

_frozen = False


def freeze_long_lived_objects() -> None:
    """Once per process, before its first day: exempt what is alive now from collections."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


@contextmanager
def day_run_collections() -> Iterator[None]:
    """Collections tuned for replaying days (see the module docstring); the process's
    thresholds are restored on the way out."""
    freeze_long_lived_objects()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GENERATION_THRESHOLD), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)
