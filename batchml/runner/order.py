"""Mini-batch order for the journal: a succeeded mini-batch is recorded only once every earlier
one has an outcome, so that the journal's rows.bin holds the output's lines in order and the
output can be rows.bin itself (batchml.runner.assembly), its lines written once.

Workers finish out of order, so later mini-batches wait here, in a window: their lines stay in
the part file the worker wrote, or in memory. The window is bounded, in mini-batches and in
bytes held in memory: past either bound (a slow or retried mini-batch holding back many), every
mini-batch held goes to the journal at once, and from then on each as it comes, out of order;
the output is then copied from the journal in mini-batch order instead. What is held is not
done yet: a runner that stops before recording it runs it again when the job resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

# Enough for workers that finish a few mini-batches each while one takes longer.
MIN_WINDOW = 64
WINDOW_PER_WORKER = 4
MAX_HELD_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


def window_size(workers: int, ahead: int = 1) -> int:
    """How many mini-batches may wait for an earlier one, for `workers` workers each sent up
    to `ahead` mini-batches ahead (which it runs in order, after those the others were sent
    before them)."""
    return max(MIN_WINDOW, (WINDOW_PER_WORKER + ahead - 1) * workers)


class InOrder(Generic[T]):
    """Items keyed by mini-batch index, given back in index order.

    An item is given back once every earlier mini-batch is `done` (has an outcome elsewhere)
    or was given back; at most `window` items are held (0: none, each goes at once).
    """

    def __init__(self, done: Callable[[int], bool], window: int) -> None:
        self._done = done
        self._window = window
        self._held: dict[int, tuple[T, int]] = {}
        self._held_bytes = 0
        self._next = 0

    def __contains__(self, index: int) -> bool:
        return index in self._held

    def add(self, index: int, item: T, size: int = 0) -> list[T]:
        """Hold `item` of mini-batch `index` (`size` bytes in memory); the items now due."""
        if not self._window:
            return [item]
        self._held[index] = (item, size)
        self._held_bytes += size
        return self.due()

    def due(self) -> list[T]:
        """The items whose earlier mini-batches all have an outcome now (after one was
        recorded elsewhere, a failure), in order; all of them past the window's bounds."""
        due = []
        while True:
            if self._next in self._held:
                due.append(self._pop(self._next))
            elif not self._done(self._next):
                break
            self._next += 1
        if len(self._held) > self._window or self._held_bytes > MAX_HELD_BYTES:
            due.extend(self.drain())
            self._window = 0
        return due

    def drain(self) -> list[T]:
        """Every item held, in index order (the job ends, or the window overflowed)."""
        return [self._pop(index) for index in sorted(self._held)]

    def _pop(self, index: int) -> T:
        item, size = self._held.pop(index)
        self._held_bytes -= size
        return item
