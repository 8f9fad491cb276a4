"""Garbage collection for runs of replayed days.

A replayed day allocates a few hundred thousand small objects (bars, checks, decision
records), and backtrader leaves reference cycles behind, so collections must keep running.
Two things make them cheap without changing what they free:

- What is alive before the first day (imports, config, calendar) is frozen out of every
  later collection: it lives for the whole process, and each full collection would walk
  it again.
- During a run the young generation is collected every few thousand allocations instead
  of CPython's default 700; each young collection costs about the same whatever its size,
  so there are fewer of them, and no cycle lives on longer than a fraction of a day.

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
