"""Mini-batches: a job's files, in order, cut into runs of `mini_batch_size` files, or of as
many files as fit in a size bound such as "10MB" (see RunSettings.mini_batch_size), a bigger
file alone.

A job's runner plans from its list of files on disk (batchml.store.input_list) in one pass
that keeps only where each mini-batch starts (`ListedBatches`): its files are read again when
it is handed out, so that the plan of ten million files is a few arrays of numbers. A job's
first run plans as it lists (`StreamedBatches`): each piece of the walk is written to the list,
cut into mini-batches and fed to the plan digest at once, and the mini-batches planned so far
are handed out while the listing goes on. Items are opaque strings: absolute local paths,
paths in storage, or whatever a list holds.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array
from collections.abc import Mapping, Sequence
from itertools import accumulate, islice
from typing import TYPE_CHECKING, overload

from batchml.core.errors import BatchmlError, CorruptStateError, UsageError
from batchml.core.sizes import parse_size
from batchml.runner.journal import JournalError, PlanDigest
from batchml.store.input_list import NAMES, ListFile, ListWriter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

    from batchml.store.input_list import Entry

# Files listed at a time by a plan made as it lists: first a few, so that the first
# mini-batches go out at once, then twice as many each time up to LISTED_AT_ONCE.
FIRST_PIECE = 16
LISTED_AT_ONCE = 4096
# The GIL switch interval while the listing thread runs.
_SWITCH_SECONDS = 0.0002


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
        self._start(listing, size, local=local)
        if not listing.complete:
            raise CorruptStateError(listing.path, "its listing was cut short (no trailer)")
        for offset, fields in listing.chunks():
            sizes = self._sizes(fields[2 :: listing.width]) if self._cut.by_size else None
            self._plan(offset, fields, sizes)
        self._end = listing.end

    def _start(self, listing: ListFile, size: int | str, *, local: bool) -> None:
        self._listing = listing
        root = os.path.abspath(listing.root) if local else listing.root.rstrip("/")
        self._prefix = root.rstrip("/") + "/"
        self._cut = _Cut(size)
        if self._cut.by_size and not listing.has_sizes:
            raise UsageError(
                f"the list of input files {listing.path} records no sizes, which mini-batches "
                "by size need: invoke the job again"
            )
        # Where each mini-batch starts: its first file's index, and offset in the list.
        self._firsts, self._offsets = array("q"), array("q")
        self.files_total = 0

    def _plan(self, offset: int, fields: list[bytes], sizes: Sequence[int] | None) -> list[int]:
        """Cut the next files, the fields of whole entries from `offset` in the list, into
        mini-batches; the indexes among them where one starts."""
        width = self._listing.width
        files = len(fields) // width
        starts = list(self._cut.starts(files, sizes))
        if starts:
            # Each field's end, less the NULs before it: the offset of entry k follows.
            ends = list(accumulate(map(len, fields)))
            for start in starts:
                field = start * width
                before = ends[field - 1] + field if field else 0
                self._firsts.append(self.files_total + start)
                self._offsets.append(offset + before)
        self.files_total += files
        return starts

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
        end = self._offsets[index + 1] if index + 1 < len(self._offsets) else self._end
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
        prefix = self._prefix.encode(errors=NAMES)
        joined = prefix + (b"\0" + prefix).join(paths)
        return tuple(joined.decode(errors=NAMES).split("\0"))

    def files_in(self, index: int) -> int:
        """How many files mini-batch `index` holds (without reading them)."""
        end = self._firsts[index + 1] if index + 1 < len(self._firsts) else self.files_total
        return end - self._firsts[index]

    def keys(self) -> Mapping[str, str]:
        """Each file's cache key (files in storage), read from the list."""
        return {self._prefix + path: key for _, (path, key, _) in self._listing.entries()}


class StreamedBatches(ListedBatches):
    """The mini-batches of a job's first run, planned as its input is listed, on a thread of
    this object's (`start`): each piece of the listing is written to the job's list, cut into
    mini-batches and fed to the plan digest, in pieces that grow from FIRST_PIECE files to
    LISTED_AT_ONCE, so that the first mini-batches are there at once. While `listing`, the
    last mini-batch may still grow, so the ones before it are all there is (len); once the
    listing is over this is the ListedBatches of the complete list and `digest` is its plan
    digest (batchml.runner.journal.plan_digest); `error` says why it stopped, if it failed.
    Of files in storage, `keys()` grows with the plan: a mini-batch's files are in it from
    when it is planned."""

    def __init__(
        self,
        folder: Path,
        root: str,
        entries: Iterable[Entry],
        size: int | str,
        *,
        local: bool,
        output_action: str,
    ) -> None:
        self._writer = ListWriter(folder, root)
        self._start(ListFile(folder), size, local=local)
        self._entries = iter(entries)
        self._local = local
        self._keys: dict[str, str] = {}
        self._end = self._writer.size
        self._digest = PlanDigest(output_action)
        self.output_action = output_action
        self._growing: list[str] = []  # the paths of the last mini-batch, for the digest
        self.listing = True
        self.digest: bytes | None = None
        # Why the listing stopped, if it failed: a BatchmlError fails the job, anything else
        # is raised again where the plan is used (a bug: the runner records a crash).
        self.error: BaseException | None = None
        self._grown = threading.Condition()
        self._on_grown: Callable[[], None] | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._list, name="listing", daemon=True)

    def __len__(self) -> int:
        # Offsets are appended after the firsts: a mini-batch is there once its offset is.
        return max(0, len(self._offsets) - self.listing)

    def start(self) -> None:
        """List on the thread; returns once the first mini-batch is planned (or the listing
        is over). Raises what listing raised if it failed before."""
        self._thread.start()
        self.wait_for(1, timeout=None)
        if self.error is not None and not len(self):
            raise self.error

    def _list(self) -> None:
        piece = FIRST_PIECE
        # While this thread lists, the scheduler's waits for the GIL after each of its system
        # calls (a worker's outcome read, a journal write) until this one lets it go: the
        # switch interval (5 ms by default) a call, most of the job's time at a million files.
        switching = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_SECONDS)
        try:
            while not self._stopping:
                entries = list(islice(self._entries, piece))
                if entries:
                    self._add(entries)
                if len(entries) < piece:
                    self._finish()
                    return
                piece = min(2 * piece, LISTED_AT_ONCE)
        except BaseException as exc:  # handed to the thread that uses the plan
            self.error = exc
        finally:
            sys.setswitchinterval(switching)
            self._writer.close()
            with self._grown:
                self._notify()

    def _add(self, piece: list[Entry]) -> None:
        offset = self._writer.size
        data = self._writer.add(piece)
        paths = [self._prefix + path for path, _, _ in piece]
        if not self._local:  # before the mini-batches they are in are planned
            self._keys.update(zip(paths, (key for _, key, _ in piece), strict=True))
        sizes = [size or 0 for _, _, size in piece] if self._cut.by_size else None
        starts = self._plan(offset, data.split(b"\0")[:-1], sizes)
        done = []
        at = 0
        for start in starts:
            self._growing.extend(paths[at:start])
            if self._growing:
                done.append(self._growing)
            self._growing, at = [], start
        self._growing.extend(paths[at:])
        self._digest.add(done)
        with self._grown:
            self._notify()

    def _finish(self) -> None:
        self._digest.add([self._growing] if self._growing else [])
        self._growing = []
        self._writer.finish()
        self._listing = ListFile(self._listing.path.parent)
        self._end = self._listing.end
        self.digest = self._digest.digest()
        with self._grown:
            self.listing = False
            self._notify()

    def _notify(self) -> None:
        self._grown.notify_all()
        if self._on_grown is not None:
            self._on_grown()

    def call_on_grown(self, call: Callable[[], None] | None) -> None:
        """Have the listing thread call `call` each time mini-batches are added, the listing
        ends or it fails (None: no longer; once this returns, no call is under way)."""
        with self._grown:
            self._on_grown = call

    def keys(self) -> Mapping[str, str]:
        return self._keys

    def sync(self) -> None:
        """Put the list written so far on disk (before the journal records mini-batches);
        raises JournalError, so the job fails as when the journal cannot be written."""
        try:
            self._writer.sync()
        except BatchmlError as exc:
            raise JournalError(exc.message) from exc

    def listed(self) -> None:
        """Wait for the listing to end; raises what listing raised if it failed."""
        self._thread.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop listing (the job ended before the listing did: the list stays cut short)."""
        self._stopping = True
        if self._thread.is_alive():
            self._thread.join()

    def wait_for(self, count: int, timeout: float | None) -> bool:
        """Whether there are `count` mini-batches, waiting up to `timeout` seconds for them
        (not at all once the listing is over)."""
        with self._grown:
            self._grown.wait_for(
                lambda: len(self) >= count or not self.listing or self.error is not None,
                timeout,
            )
        return len(self) >= count


def listing(batches: Sequence[tuple[str, ...]]) -> bool:
    """Whether `batches` are still being planned as their input is listed."""
    return isinstance(batches, StreamedBatches) and batches.listing and batches.error is None


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
