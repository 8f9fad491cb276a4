"""Periodic reconciliation: differences between Dhan's positions and the engine's."""

from __future__ import annotations

import pytest

from core.errors import TransientBrokerError
from runtime.live_reconcile import PositionWatch, position_mismatches


@pytest.mark.parametrize(("dhan", "held", "expected"), [
    ([{"securityId": "7", "netQty": 50}], {7: 50}, {}),
    ([{"securityId": "7", "netQty": 50}], {}, {7: (50, 0)}),
    ([], {7: 25}, {7: (0, 25)}),
    ([{"securityId": "7", "netQty": 0}], {}, {}),
    ([{"securityId": "7", "netQty": 25}, {"securityId": "7", "netQty": 25}], {7: 50}, {}),
    ([{"securityId": "7", "netQty": 75}, {"securityId": "9", "netQty": 0}], {7: 50, 9: 25},
     {7: (75, 50), 9: (0, 25)}),
])
def test_position_mismatches(dhan: list[dict], held: dict[int, int], expected: dict) -> None:
    assert position_mismatches(dhan, held) == expected


def test_only_a_lasting_difference_is_alerted_and_a_failed_call_is_skipped() -> None:
    answers: list = [[{"securityId": "7", "netQty": 50}], TransientBrokerError("503"),
                     [{"securityId": "7", "netQty": 50}], [{"securityId": "7", "netQty": 50}]]
    held = [{}, {}, {7: 50}]  # not read when the positions call fails

    def positions() -> list[dict]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    notes: list[str] = []
    watch = PositionWatch(positions, lambda: held.pop(0), notes)
    assert watch.check() == {}  # first sight: may be an order in flight
    assert watch.check() == {}  # the call failed: skipped, nothing raised
    assert watch.check() == {7: (50, 0)}  # seen again: alerted
    assert len(notes) == 1
    assert notes[0].startswith("ALERT: security 7: Dhan holds 50, the engine 0")
    assert watch.check() == {}  # the engine caught up
    assert watch.checks == 3
