"""How far two append_row outputs agree: the rows of one job paired with the rows of another,
by a key field (a row's file name, as most scoring scripts write it) or by position.

A row is its line split on whitespace, as append_row joins fields with spaces. Two paired rows
agree when they are the same line, or when every field is equal or both fields are numbers
within the tolerance (math.isclose, relative and absolute). Rows with a key the other output
lacks (a file that failed in one job, or a script that wrote more rows) count against
agreement too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Differences kept in memory for the report and the diff file.
KEPT = 100


@dataclass(frozen=True)
class Difference:
    """One disagreement: the key, and each side's line (None when that side has no such row)."""

    key: str
    a: str | None
    b: str | None


@dataclass
class Agreement:
    """The tally of a comparison."""

    identical: int = 0
    within_tolerance: int = 0
    different: int = 0
    only_in_a: int = 0
    only_in_b: int = 0
    first_differences: list[Difference] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Every row of either side, a pair counted once."""
        return (
            self.identical
            + self.within_tolerance
            + self.different
            + self.only_in_a
            + self.only_in_b
        )

    @property
    def ratio(self) -> float:
        """The share of rows that agree (1.0 for two empty outputs)."""
        return (self.identical + self.within_tolerance) / self.rows if self.rows else 1.0

    def _differ(self, key: str, a: str | None, b: str | None) -> None:
        if len(self.first_differences) < KEPT:
            self.first_differences.append(Difference(key, a, b))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def fields_agree(a: str, b: str, tolerance: float) -> bool:
    """Whether two lines' fields are equal, numbers allowed to differ within `tolerance`."""
    left, right = a.split(), b.split()
    if len(left) != len(right):
        return False
    for x, y in zip(left, right, strict=True):
        if x == y:
            continue
        nx, ny = _number(x), _number(y)
        if (
            nx is None
            or ny is None
            or not math.isclose(nx, ny, rel_tol=tolerance, abs_tol=tolerance)
        ):
            return False
    return True


def _keyed(lines: Iterable[str], key_field: int) -> Iterator[tuple[str, str]]:
    """(key, line) for each line: its `key_field`-th field (1-based; a missing field is the
    empty key), or its position when `key_field` is 0."""
    for position, line in enumerate(lines):
        if key_field == 0:
            yield str(position), line
        else:
            fields = line.split()
            yield (fields[key_field - 1] if len(fields) >= key_field else ""), line


def compare(a: Iterable[str], b: Iterable[str], *, key_field: int, tolerance: float) -> Agreement:
    """Pair the rows of `a` and `b` (lines without their line ends) by key, the n-th row of a
    key in `a` with the n-th of that key in `b`, and tally them in `a`'s order, then the rows
    only `b` has in its order."""
    waiting: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    for key, line in _keyed(b, key_field):
        if key not in waiting:
            order.append(key)
        waiting[key].append(line)
    taken: dict[str, int] = defaultdict(int)
    tally = Agreement()
    for key, line in _keyed(a, key_field):
        rows = waiting.get(key, [])
        index = taken[key]
        if index >= len(rows):
            tally.only_in_a += 1
            tally._differ(key, line, None)
            continue
        taken[key] = index + 1
        other = rows[index]
        if line == other:
            tally.identical += 1
        elif fields_agree(line, other, tolerance):
            tally.within_tolerance += 1
        else:
            tally.different += 1
            tally._differ(key, line, other)
    for key in order:
        for line in waiting[key][taken[key] :]:
            tally.only_in_b += 1
            tally._differ(key, None, line)
    return tally
