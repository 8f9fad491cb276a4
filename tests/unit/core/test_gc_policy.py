import gc

import pytest

from core.gc_policy import YOUNG_GENERATION_THRESHOLD, day_run_collections


def test_young_collections_are_rarer_during_a_run_and_restored_after() -> None:
    before = gc.get_threshold()
    with day_run_collections():
        inside = gc.get_threshold()
        assert inside[0] == max(before[0], YOUNG_GENERATION_THRESHOLD)
        assert inside[1:] == before[1:]
        assert gc.get_freeze_count() > 0  # what lived before the run is out of collections
    assert gc.get_threshold() == before


def test_thresholds_are_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), day_run_collections():
        raise RuntimeError("a day blew up")
    assert gc.get_threshold() == before


def test_cycles_made_during_a_run_are_still_collected() -> None:
    class Node:
        pass

    with day_run_collections():
        collected = []
        for _ in range(3):
            a, b = Node(), Node()
            a.other, b.other = b, a  # a reference cycle, as backtrader leaves them
            del a, b
            collected.append(gc.collect(0))
        assert all(n >= 2 for n in collected)
