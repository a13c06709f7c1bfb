"""Mini-batches: a job's files, in order, cut into runs of `mini_batch_size` files, or of as
many files as fit in a size bound such as "10MB" (see RunSettings.mini_batch_size), a bigger
file alone.

A job's runner plans from its list of files on disk (batchml.store.input_list) in one pass
that keeps only where each mini-batch starts (`ListedBatches`): its files are read again when
it is handed out, so that the plan of ten million files is a few arrays of numbers. Items are
opaque strings: absolute local paths, paths in storage, or whatever a list holds.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, overload

from batchml.core.errors import UsageError
from batchml.core.sizes import parse_size

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from batchml.store.input_list import ListFile


class _Cut:
    """Says, run of files after run of files, which files start a new mini-batch."""

    def __init__(self, size: int | str) -> None:
        self._count = size if isinstance(size, int) else None
        bound = parse_size(size) if isinstance(size, str) else None
        assert self._count is not None or bound is not None, f"mini_batch_size {size!r}"
        self._bound = bound or 0
        self._files = self._held = 0

    @property
    def by_size(self) -> bool:
        return self._count is None

    def starts(self, files: int, sizes: Sequence[int] | None = None) -> range | list[int]:
        """The indexes among the next `files` files (sizes: `sizes`, needed by size) at which
        a mini-batch starts."""
        first, self._files = self._files, self._files + files
        if self._count is not None:
            return range(-first % self._count, files, self._count)
        assert sizes is not None, "mini-batches by size need sizes"
        starts, held, bound = [], self._held, self._bound
        for index, size in enumerate(sizes):
            if (first or index) and held + size <= bound:
                held += size
            else:
                starts.append(index)
                held = size
        self._held = held
        return starts


def plan_mini_batches(
    files: Sequence[Path | str],
    size: int | str,
    *,
    local: bool = True,
    sizes: Sequence[int] | None = None,
) -> list[tuple[str, ...]]:
    """Split files held in memory, in the given order, into mini-batches of `size` (by their
    `sizes` for a size bound: os.stat's for local files if not given). Paths are absolute ones
    for `local` files, else paths in storage as they are."""
    paths = [os.path.abspath(path) if local else str(path) for path in files]
    cut = _Cut(size)
    if sizes is None and cut.by_size:
        if not local:
            raise UsageError("mini-batches by size need the sizes of the files in storage")
        sizes = [os.stat(path).st_size for path in paths]
    starts = list(cut.starts(len(paths), sizes))
    ends = [*starts[1:], len(paths)] if starts else []
    return [tuple(paths[start:end]) for start, end in zip(starts, ends, strict=True)]


class ListedBatches(Sequence[tuple[str, ...]]):
    """The mini-batches of a job's list of files on disk, each file as `root`/its path (an
    absolute path for local files, where `root` is absolute)."""

    def __init__(self, listing: ListFile, size: int | str, *, local: bool) -> None:
        self._listing = listing
        root = os.path.abspath(listing.root) if local else listing.root.rstrip("/")
        self._prefix = root.rstrip("/") + "/"
        cut = _Cut(size)
        if cut.by_size and not listing.has_sizes:
            raise UsageError(
                f"the list of input files {listing.path} records no sizes, which mini-batches "
                "by size need: invoke the job again"
            )
        # Where each mini-batch starts: its first file's index, and offset in the list.
        self._firsts, self._offsets = array("q"), array("q")
        width, count = listing.width, 0
        for offset, fields in listing.chunks():
            files = len(fields) // width
            sizes = self._sizes(fields[2::width]) if cut.by_size else None
            starts = cut.starts(files, sizes)
            if starts:
                # Each field's end, less the NULs before it: the offset of entry k follows.
                ends = list(accumulate(map(len, fields)))
                for start in starts:
                    field = start * width
                    before = ends[field - 1] + field if field else 0
                    self._firsts.append(count + start)
                    self._offsets.append(offset + before)
            count += files
        self.files_total = count
        self._end = listing.path.stat().st_size

    def __len__(self) -> int:
        return len(self._firsts)

    def _sizes(self, fields: list[bytes]) -> list[int]:
        try:
            return list(map(int, fields))
        except ValueError:
            raise UsageError(
                f"the list of input files {self._listing.path} records no sizes, which "
                "mini-batches by size need: invoke the job again"
            ) from None

    @overload
    def __getitem__(self, index: int) -> tuple[str, ...]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, ...]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, ...] | Sequence[tuple[str, ...]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        end = self._offsets[index + 1] if index + 1 < len(self) else self._end
        return self._decoded(self._listing.paths(self._offsets[index], end))

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        """The mini-batches in order, from one read of the list (not one per mini-batch)."""
        wanted = (self.files_in(index) for index in range(len(self)))
        want, batch = next(wanted, 0), list[str]()
        for _, fields in self._listing.chunks():
            paths = self._decoded(fields[0 :: self._listing.width])
            at = 0
            while at < len(paths):
                take = want - len(batch)
                batch.extend(paths[at : at + take])
                at += take
                if len(batch) == want:
                    yield tuple(batch)
                    want, batch = next(wanted, 0), list[str]()

    def _decoded(self, paths: list[bytes]) -> tuple[str, ...]:
        # Joined, decoded and split again at once: far quicker than path by path.
        if not paths:
            return ()
        prefix = self._prefix.encode()
        return tuple((prefix + (b"\0" + prefix).join(paths)).decode().split("\0"))

    def files_in(self, index: int) -> int:
        """How many files mini-batch `index` holds (without reading them)."""
        end = self._firsts[index + 1] if index + 1 < len(self) else self.files_total
        return end - self._firsts[index]

    def keys(self) -> dict[str, str]:
        """Each file's cache key (files in storage), read from the list."""
        return {self._prefix + path: key for _, (path, key, _) in self._listing.entries()}


def files_total(batches: Sequence[tuple[str, ...]]) -> int:
    """How many files the mini-batches hold."""
    if isinstance(batches, ListedBatches):
        return batches.files_total
    return sum(map(len, batches))


def files_in(batches: Sequence[tuple[str, ...]], index: int) -> int:
    """How many files mini-batch `index` holds."""
    if isinstance(batches, ListedBatches):
        return batches.files_in(index)
    return len(batches[index])
