"""The window that puts succeeded mini-batches in order for the journal (batchml.runner.order)."""

from __future__ import annotations

from batchml.runner import order
from batchml.runner.order import InOrder


def test_items_come_back_once_every_earlier_mini_batch_has_an_outcome():
    outcomes: set[int] = set()
    window: InOrder[str] = InOrder(outcomes.__contains__, 8)

    assert window.add(2, "two") == []
    assert window.add(1, "one") == []
    assert 2 in window and 0 not in window
    assert window.add(0, "zero") == ["zero", "one", "two"]
    assert window.add(5, "five") == []
    outcomes.update({3, 4})  # done elsewhere: failed, or kept from an earlier run
    assert window.due() == ["five"]
    assert window.add(6, "six") == ["six"]


def test_mini_batches_done_before_do_not_hold_back_later_ones():
    window: InOrder[str] = InOrder({0, 1, 2}.__contains__, 8)

    assert window.add(3, "three") == ["three"]


def test_past_the_window_everything_held_goes_and_the_rest_as_it_comes():
    window: InOrder[int] = InOrder(set[int]().__contains__, 3)

    assert [window.add(index, index) for index in (1, 2, 3)] == [[], [], []]
    assert window.add(5, 5) == [1, 2, 3, 5]
    assert window.add(4, 4) == [4]
    assert window.add(0, 0) == [0]


def test_past_the_bytes_held_in_memory_everything_held_goes(monkeypatch):
    monkeypatch.setattr(order, "MAX_HELD_BYTES", 100)
    window: InOrder[int] = InOrder(set[int]().__contains__, 50)

    assert window.add(1, 1, size=60) == []
    assert window.add(3, 3, size=0) == []
    assert window.add(2, 2, size=60) == [1, 2, 3]


def test_a_window_of_none_holds_nothing():
    window: InOrder[int] = InOrder(set[int]().__contains__, 0)

    assert window.add(3, 3) == [3]
    assert window.drain() == []


def test_the_window_grows_with_the_workers():
    assert order.window_size(2) == order.MIN_WINDOW
    assert order.window_size(100) == 100 * order.WINDOW_PER_WORKER
