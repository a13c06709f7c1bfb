"""The final outcome of each mini-batch a journal recorded, held compactly (a job may have
millions of mini-batches): six numbers per mini-batch index in arrays, 33 bytes each, instead
of an object and a dict entry each (about 250 bytes).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_NONE, _SUCCEEDED, _FAILED = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    """The final outcome of a mini-batch, as recorded; its lines are rows.bin[offset:+length].

    files_failed and items count the failed files and the items of a succeeded mini-batch.
    """

    index: int
    succeeded: bool
    attempt: int
    files_failed: int = 0
    items: int = 0
    offset: int = 0
    length: int = 0


class Outcomes(Mapping[int, Outcome]):
    """Mini-batch index -> its Outcome, in index order; set() adds or replaces one."""

    def __init__(self) -> None:
        self._state = bytearray()  # _NONE, _SUCCEEDED or _FAILED per index
        self._attempt = array("I")
        self._files_failed = array("I")
        self._items = array("Q")
        self._offset = array("Q")
        self._length = array("Q")
        self._count = 0

    def set(self, outcome: Outcome) -> None:
        """Record `outcome` for its mini-batch, replacing an earlier one."""
        self.put(
            outcome.index, outcome.succeeded, outcome.attempt, outcome.files_failed,
            outcome.items, outcome.offset, outcome.length,
        )  # fmt: skip

    def put(
        self,
        index: int,
        succeeded: bool,
        attempt: int,
        files_failed: int = 0,
        items: int = 0,
        offset: int = 0,
        length: int = 0,
    ) -> None:
        """As set() of the Outcome of these fields, without making one (once a mini-batch)."""
        if index >= len(self._state):
            self._grow(index + 1)
        if self._state[index] == _NONE:
            self._count += 1
        self._state[index] = _SUCCEEDED if succeeded else _FAILED
        self._attempt[index] = attempt
        self._files_failed[index] = files_failed
        self._items[index] = items
        self._offset[index] = offset
        self._length[index] = length

    def forget_failed(self) -> None:
        """Drop the outcomes of the mini-batches that failed."""
        for index, state in enumerate(self._state):
            if state == _FAILED:
                self._state[index] = _NONE
                self._count -= 1

    def __contains__(self, index: object) -> bool:
        return (
            isinstance(index, int) and 0 <= index < len(self._state) and self._state[index] != _NONE
        )

    def __getitem__(self, index: int) -> Outcome:
        if index not in self:
            raise KeyError(index)
        return Outcome(
            index,
            self._state[index] == _SUCCEEDED,
            self._attempt[index],
            self._files_failed[index],
            self._items[index],
            self._offset[index],
            self._length[index],
        )

    def __iter__(self) -> Iterator[int]:
        return (index for index, state in enumerate(self._state) if state != _NONE)

    def __len__(self) -> int:
        return self._count

    def _grow(self, size: int) -> None:
        # By a quarter, so that recording mini-batches one by one costs O(1) each, and ten
        # million mini-batches hold 1.25x their 33 bytes each at most, not 2x.
        more = max(size, len(self._state) + len(self._state) // 4) - len(self._state)
        self._state.extend(bytes(more))
        for numbers in (
            self._attempt,
            self._files_failed,
            self._items,
            self._offset,
            self._length,
        ):
            numbers.frombytes(bytes(more * numbers.itemsize))
