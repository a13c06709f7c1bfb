"""A job's list of input files, `<job>/inputs.list`: written by the job's first run, read by
every run after it (a resume plans the very same mini-batches, so its journal fits).

Compact, not JSON: a header line (`{"format": 3, "root": ...}`), then each file as its path
relative to the root, its cache key ("" for local files) and its size in bytes (for
mini-batches by size), each ended by a NUL byte (the one byte no path holds), then a trailer,
`end <count>\n`, once the listing is over. The list is written in place as the files are
listed (the runner hands out mini-batches meanwhile), so a list without its trailer is one
whose runner stopped while listing: `ListFile.complete` says so, and a resume lists again.
Files are in the order of their relative posix paths (UTF-8 byte order, which is code point
order). The size is empty (None) where the job plans by count, which needs none: a stat per
file is most of the cost of listing a local folder. A format 1 list (batchml 0.3: no sizes)
reads with sizes None; its job planned its mini-batches by count. Lists of formats 1 and 2
were written whole (a temp file renamed), so they are complete without a trailer.

Nothing here holds the whole list: a local folder is walked in order, one folder's names at
a time (a huge one sorted in runs on disk), written as it is walked, and read back by pieces
(`ListFile`), so that a job of ten million files plans in the memory of one of ten.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import tempfile
import threading
from itertools import chain, islice
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from batchml.core.errors import BatchmlError, CorruptStateError
from batchml.store.fs import fsync_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

LIST_FILE = "inputs.list"
FORMAT = 3
_FIELDS = {1: 2, 2: 3, 3: 3}  # fields per file, by format
_TRAILER = re.compile(rb"end (\d+)\n")
_TAIL = 64  # bytes read from the end to find the trailer
# A folder with more names than this is sorted in runs of this many, merged from disk.
_RUN = 200_000
_CHUNK = 1 << 20  # bytes read at a time
# Bytes read at a time of the runs being merged, in all, and of each at least.
_MERGED_READ, _RUN_READ = 1 << 20, 1 << 14
_PATHS_READ = 1 << 16  # bytes `ListFile.paths` reads at a time
# How paths are encoded in the list: UTF-8, and a file name that is not valid UTF-8 (a local
# file's, as os.scandir gives it) as its very bytes, as os.fsencode has it.
NAMES = "surrogateescape"

# A listed file: its path relative to the root, its cache key, its size (None: not recorded).
Entry = tuple[str, str, "int | None"]
_T = TypeVar("_T", str, Entry)  # what a run holds


def walk(root: str) -> Iterator[str]:
    """The files under local folder `root`, as relative posix paths, in their order. Symbolic
    links to files count; links to folders are not followed (as pathlib's rglob). A folder
    sorts as its name and a "/", so that walking each folder's names in order gives the order
    of the whole paths. Nothing is stat'ed (see `sized`): a plan by count needs no sizes."""
    try:
        yield from _walk(root, "")
    except OSError as exc:
        raise _unlisted(root, exc) from exc


def sized(root: str, paths: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Each of `paths`, relative to local folder `root`, with its size in bytes."""
    for path in paths:
        try:
            yield path, os.stat(os.path.join(root, path)).st_size
        except OSError as exc:
            raise _unlisted(root, exc) from exc


def _unlisted(root: str, exc: OSError) -> BatchmlError:
    return BatchmlError(
        f"could not list the input folder {root}: {exc.strerror or exc}"
        + (f" ({exc.filename})" if exc.filename else "")
    )


def _walk(folder: str, prefix: str) -> Iterator[str]:
    for name in _sorted_names(folder):
        if name.endswith("/"):
            yield from _walk(os.path.join(folder, name[:-1]), prefix + name)
        else:
            yield prefix + name


def _names(folder: str) -> Iterator[str]:
    """The names of the files in `folder`, and of its folders with a "/", in no order."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield entry.name + "/"
            elif entry.is_file():
                yield entry.name


def _sorted_names(folder: str) -> Iterator[str]:
    names = _names(folder)
    run = list(islice(names, _RUN))
    if len(run) < _RUN:
        yield from sorted(run)
        return
    with tempfile.TemporaryDirectory(prefix="batchml-sort-") as spill:
        runs: list[str] = []
        while run:
            run.sort()
            runs.append(os.path.join(spill, str(len(runs))))
            with open(runs[-1], "wb") as out:
                out.write("\0".join(run).encode(errors=NAMES) + b"\0")
            run = list(islice(names, _RUN))
        yield from _merged(runs, _names_in)


def _merged(runs: list[str], read: Callable[[BinaryIO, int], Iterator[list[_T]]]) -> Iterator[_T]:
    """The items of the sorted run files `runs`, merged; `read` gives a run's items a block
    at a time, of a slice of _MERGED_READ bytes: what the merge holds is bounded whatever the
    number of runs (a chunk of each run held at once grew with the number of files)."""
    size = max(_RUN_READ, _MERGED_READ // max(1, len(runs)))
    # Unbuffered: a buffer per run would be what grows with them.
    handles = [open(path, "rb", buffering=0) for path in runs]  # noqa: SIM115 (closed below)
    try:
        for block in _merged_blocks([read(handle, size) for handle in handles]):
            yield from block
    finally:
        for handle in handles:
            handle.close()


def _merged_blocks(runs: list[Iterator[list[_T]]]) -> Iterator[list[_T]]:
    """Sorted runs, each given a sorted block at a time, merged a block at a time: what is
    not above the least of the blocks' last items comes next, in the runs' blocks' order, and
    is sorted at once (a merge in C: heapq.merge, item by item, took most of a listing's time
    at a million files)."""
    blocks = [(block, 0, run) for run in runs if (block := next(run, []))]
    while blocks:
        bound = min(block[-1] for block, _, _ in blocks)
        merged: list[_T] = []
        left = []
        for block, start, run in blocks:
            cut = bisect.bisect_right(block, bound, start)
            merged += block[start:cut]
            if cut < len(block):
                left.append((block, cut, run))
            elif more := next(run, []):
                left.append((more, 0, run))
        blocks = left
        merged.sort()
        yield merged


def _names_in(handle: BinaryIO, at_once: int) -> Iterator[list[str]]:
    """The NUL-ended names of an open file, a block at a time, read `at_once` bytes at a
    time."""
    rest = b""
    while chunk := handle.read(at_once):
        data = rest + chunk
        end = data.rfind(b"\0")
        if end >= 0:
            whole, rest = data[:end], data[end + 1 :]
            del data
            yield whole.decode(errors=NAMES).split("\0")
        else:
            rest = data


def holds_file(root: str) -> bool:
    """Whether there is a file anywhere under local folder `root` (looked for in no order,
    so as soon as one is found)."""
    with os.scandir(root) as entries:
        folders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.is_file():
                return True
    return any(holds_file(folder) for folder in folders)


def write(folder: Path, root: str, files: Iterable[tuple[str, str, int | None]]) -> int:
    """Write the whole list: `files` as (relative path, cache key, size: None if not needed),
    in the order of their paths already (walk's order; see `in_order` for a listing from
    storage); how many."""
    writer, entries = ListWriter(folder, root), iter(files)
    try:
        for piece in iter(lambda: list(islice(entries, 4096)), []):
            writer.add(piece)
        writer.finish()
    finally:
        writer.close()
    return writer.count


def in_order(files: Iterable[Entry], where: str) -> Iterator[Entry]:
    """A listing from storage in the order of its paths (UTF-8 byte order), each as it comes:
    Azure lists blobs in that order, so a job plans them as they are listed. Azurite lists in
    UTF-16 order, which differs from it only between a character above U+FFFF and one from
    U+E000 to U+FFFF at the same place: so from the first path with a character above U+FFFF
    on, the rest is sorted in runs on disk and merged (never held whole in memory). No path
    listed after those that came before it can sort before them, in either order. In a
    listing in neither order one may: that is a BatchmlError naming `where`, since
    mini-batches of the paths before it may have run already."""
    entries, last = iter(files), ""
    for entry in entries:
        if max(entry[0], default="") > "\uffff":
            rest = _sorted(chain([entry], entries))
            entry = next(rest)
            _after(last, entry[0], where)
            yield entry
            yield from rest
            return
        _after(last, entry[0], where)
        last = entry[0]
        yield entry


def _after(last: str, path: str, where: str) -> None:
    if path < last:
        raise BatchmlError(
            f"the storage of {where} listed {path} after {last}, out of the order of their "
            "names (UTF-8 or UTF-16), when mini-batches of what it listed before may have run"
        )


def _sorted(files: Iterator[Entry]) -> Iterator[Entry]:
    """`files` in the order of their paths, sorted in runs of _RUN spilled to a temp folder."""
    with tempfile.TemporaryDirectory(prefix="batchml-sort-") as spill:
        runs: list[str] = []
        while run := sorted(islice(files, _RUN)):
            runs.append(os.path.join(spill, str(len(runs))))
            with open(runs[-1], "wb") as out:
                out.write(_encoded(run))
        yield from _merged(runs, _entries_in)


def _encoded(files: Iterable[Entry]) -> bytes:
    return "".join(
        f"{path}\0{key}\0{'' if size is None else size}\0" for path, key, size in files
    ).encode(errors=NAMES)


def _entries_in(handle: BinaryIO, at_once: int) -> Iterator[list[Entry]]:
    """The entries of an open file (as _encoded wrote them), a block at a time."""
    rest: list[str] = []
    for names in _names_in(handle, at_once):
        fields = rest + names
        whole = len(fields) // 3 * 3
        rest = fields[whole:]
        paths, keys, sizes = fields[0:whole:3], fields[1:whole:3], fields[2:whole:3]
        if paths:
            yield [
                (path, key, int(size) if size else None)
                for path, key, size in zip(paths, keys, sizes, strict=True)
            ]


class ListWriter:
    """The list of a job folder, written in place a piece at a time as the files are listed,
    each piece flushed to the kernel (so that a reader, or a runner killed, sees it whole);
    `finish` writes the trailer and puts the list on disk."""

    def __init__(self, folder: Path, root: str) -> None:
        self.path = folder / LIST_FILE
        self.count = 0
        self._closing = threading.Lock()
        try:
            self._out: BinaryIO | None = self.path.open("wb")
            self._out.write(json.dumps({"format": FORMAT, "root": root}).encode() + b"\n")
            self._out.flush()
            self.size = self._out.tell()
        except OSError as exc:
            raise self._unwritten(exc) from exc

    def add(self, files: list[Entry]) -> bytes:
        """Append `files`; their bytes as written (offsets in the list follow from them)."""
        data = _encoded(files)
        assert self._out is not None, "the list is closed"
        try:
            self._out.write(data)
            self._out.flush()
        except OSError as exc:
            raise self._unwritten(exc) from exc
        self.count += len(files)
        self.size += len(data)
        return data

    def sync(self) -> None:
        """Put what was written so far on disk (from any thread; nothing once closed)."""
        with self._closing:
            if self._out is not None:
                try:
                    os.fsync(self._out.fileno())
                except OSError as exc:
                    raise self._unwritten(exc) from exc

    def finish(self) -> None:
        """Write the trailer and fsync: the list is complete."""
        assert self._out is not None, "the list is closed"
        try:
            self._out.write(f"end {self.count}\n".encode())
            self._out.flush()
            os.fsync(self._out.fileno())
        except OSError as exc:
            raise self._unwritten(exc) from exc
        self.close()
        fsync_dir(self.path.parent)

    def close(self) -> None:
        with self._closing:
            if self._out is not None:
                self._out.close()
                self._out = None

    def _unwritten(self, exc: OSError) -> BatchmlError:
        return BatchmlError(f"could not write {self.path}: {exc.strerror or exc}")


class ListFile:
    """The list in a job folder, read by pieces: `root`, then the files in order (`entries`),
    each with where it starts in the file, which `paths` reads a stretch of again. Of a list
    not `complete` (no trailer: its listing was cut short), the whole entries written."""

    def __init__(self, folder: Path, name: str = LIST_FILE) -> None:
        self.path = folder / name
        with self.path.open("rb") as handle:
            head = handle.readline()
        try:
            header = json.loads(head)
            width = _FIELDS.get(header.get("format"))
            if width is None:
                raise ValueError(
                    f"format {header.get('format')} is not one of {', '.join(map(str, _FIELDS))}"
                )
        except ValueError as exc:
            raise self._corrupt(exc) from None
        self.root = str(header["root"])
        self.has_sizes = width == 3
        self.width = width
        self.start = len(head)
        # Where the entries end, and whether the trailer follows them.
        self.end, self.complete = self._ending(header["format"])
        # The last stretch `paths` read: where it starts, and its bytes.
        self._read: tuple[int, bytes] = (0, b"")

    def _ending(self, version: int) -> tuple[int, bool]:
        size = self.path.stat().st_size
        if version < 3:
            return size, True
        with self.path.open("rb") as handle:
            handle.seek(max(self.start, size - _TAIL))
            tail = handle.read()
        last = tail.rsplit(b"\0", 1)[-1] if b"\0" in tail else tail[self.start - size :]
        if _TRAILER.fullmatch(last) is None:
            return size, False
        return size - len(last), True

    def chunks(self) -> Iterator[tuple[int, list[bytes]]]:
        """The fields of the files in order, a piece of whole entries at a time (`width`
        fields each), with the offset in the file of the piece's first."""
        width, offset, rest = self.width, self.start, b""
        left = self.end - offset
        with self.path.open("rb") as handle:
            handle.seek(offset)
            while left > 0 and (chunk := handle.read(min(_CHUNK, left))):
                left -= len(chunk)
                fields = (rest + chunk).split(b"\0")
                whole = (len(fields) - 1) // width * width
                rest = b"\0".join(fields[whole:])
                del fields[whole:]
                yield offset, fields
                offset += sum(map(len, fields)) + len(fields)
        if rest and self.complete:
            raise self._corrupt(ValueError("it ends inside an entry"))

    def entries(self) -> Iterator[tuple[int, Entry]]:
        """(offset in the file, entry) of every file, in order."""
        width = self.width
        for offset, fields in self.chunks():
            at = offset
            for index in range(0, len(fields), width):
                path, key = fields[index], fields[index + 1]
                size = fields[index + 2] if width == 3 else b""
                yield at, self._entry(path, key, size)
                at += len(path) + len(key) + len(size) + width

    def paths(self, start: int, end: int) -> list[bytes]:
        """The relative paths of the files from offset `start` to `end` (offsets `chunks`
        and `entries` gave). Read _PATHS_READ bytes at a time: mini-batches are asked for
        in order, mostly, so the list is opened once for many, not once for each."""
        at, data = self._read  # one read of it: another thread may ask too
        if not at <= start <= end <= at + len(data):
            with self.path.open("rb") as handle:
                handle.seek(start)
                at, data = start, handle.read(max(end - start, _PATHS_READ))
            # Bytes written to the list never change (it is written once, in place).
            self._read = at, data
        return data[start - at : end - at].split(b"\0")[:-1][0 :: self.width]

    def _entry(self, path: bytes, key: bytes, size: bytes) -> Entry:
        try:
            return path.decode(errors=NAMES), key.decode(), int(size) if size else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: Exception) -> CorruptStateError:
        return CorruptStateError(self.path, f"it is not a list of input files ({exc})")
