"""The journal's outcomes, held in arrays: a mapping of mini-batch index to Outcome like the
dict it replaces, replacing, forgetting failures and growing as records come."""

from __future__ import annotations

import sys

import pytest

from batchml.runner.outcomes import Outcome, Outcomes


def test_outcomes_read_back_as_recorded_in_index_order() -> None:
    outcomes = Outcomes()
    recorded = [
        Outcome(7, True, 1, files_failed=1, items=9, offset=2**40, length=5),
        Outcome(0, False, 3),
        Outcome(2, True, 2, items=10, offset=5, length=2**33),
    ]
    for outcome in recorded:
        outcomes.set(outcome)
    assert list(outcomes) == [0, 2, 7]
    assert outcomes == {o.index: o for o in recorded}
    assert len(outcomes) == 3
    assert 1 not in outcomes and None not in outcomes and -1 not in outcomes
    with pytest.raises(KeyError):
        outcomes[1]


def test_a_later_outcome_replaces_an_earlier_one_and_failures_can_be_forgotten() -> None:
    outcomes = Outcomes()
    outcomes.set(Outcome(0, False, 1))
    outcomes.set(Outcome(1, False, 1))
    outcomes.set(Outcome(1, True, 2, items=4))
    assert len(outcomes) == 2 and outcomes[1] == Outcome(1, True, 2, items=4)
    outcomes.forget_failed()
    assert outcomes == {1: Outcome(1, True, 2, items=4)}
    assert len(outcomes) == 1


def test_outcomes_take_a_few_megabytes_grown_a_quarter_at_a_time() -> None:
    outcomes = Outcomes()
    count = 140_000  # just past a power of two: doubled, the arrays would be 1.87x it
    for index in range(count):
        outcomes.set(Outcome(index, True, 1, items=10, offset=index * 100, length=100))
    held = sys.getsizeof(outcomes._state) + sum(
        sys.getsizeof(numbers)
        for numbers in (
            outcomes._attempt,
            outcomes._files_failed,
            outcomes._items,
            outcomes._offset,
            outcomes._length,
        )
    )
    # 33 bytes per index, and a quarter more at most: far from a dict of objects' 35 MB.
    assert held < count * 33 * 1.4
    assert outcomes[99_999] == Outcome(99_999, True, 1, items=10, offset=9_999_900, length=100)
