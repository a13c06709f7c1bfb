"""A job's list of input files, `<job>/inputs.list`: written by the job's first run, read by
every run after it (a resume plans the very same mini-batches, so its journal fits).

Compact, not JSON: a header line (`{"format": 2, "root": ...}`), then each file as its path
relative to the root, its cache key ("" for local files) and its size in bytes (for
mini-batches by size), each ended by a NUL byte (the one byte no path holds). Files are in the
order of their relative posix paths. A format 1 list (batchml 0.3: no sizes) reads with sizes
None; its job planned its mini-batches by count, which needs none.

Nothing here holds the whole list: a local folder is walked in order, one folder's names at
a time (a huge one sorted in runs on disk), written as it is walked, and read back by pieces
(`ListFile`), so that a job of ten million files plans in the memory of one of ten.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from typing import TYPE_CHECKING, BinaryIO

from batchml.core.errors import BatchmlError, CorruptStateError
from batchml.store.fs import atomic_writer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

LIST_FILE = "inputs.list"
FORMAT = 2
_FIELDS = {1: 2, 2: 3}  # fields per file, by format
# A folder with more names than this is sorted in runs of this many, merged from disk.
_RUN = 100_000
_CHUNK = 1 << 20  # bytes read at a time

# A listed file: its path relative to the root, its cache key, its size (None: not recorded).
Entry = tuple[str, str, "int | None"]


def walk(root: str) -> Iterator[tuple[str, int]]:
    """The files under local folder `root`, as relative posix paths with their sizes, in the
    order of those paths. Symbolic links to files count; links to folders are not followed
    (as pathlib's rglob). A folder sorts as its name and a "/", so that walking each folder's
    names in order gives the order of the whole paths."""
    try:
        yield from _walk(root, "")
    except OSError as exc:
        raise BatchmlError(
            f"could not list the input folder {root}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from exc


def _walk(folder: str, prefix: str) -> Iterator[tuple[str, int]]:
    for name, size in _sorted_names(folder):
        if size < 0:
            yield from _walk(os.path.join(folder, name[:-1]), prefix + name)
        else:
            yield prefix + name, size


def _names(folder: str) -> Iterator[tuple[str, int]]:
    """(name, size) of the files in `folder`, (name + "/", -1) of its folders, in no order."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield entry.name + "/", -1
            elif entry.is_file():
                yield entry.name, entry.stat().st_size


def _sorted_names(folder: str) -> Iterator[tuple[str, int]]:
    names = _names(folder)
    run = [pair for _, pair in zip(range(_RUN), names, strict=False)]
    if len(run) < _RUN:
        yield from sorted(run)
        return
    with tempfile.TemporaryDirectory(prefix="batchml-sort-") as spill:
        runs: list[str] = []
        while run:
            run.sort()
            path = os.path.join(spill, str(len(runs)))
            with open(path, "wb") as out:
                out.write(b"".join(f"{name}\0{size}\0".encode() for name, size in run))
            runs.append(path)
            run = [pair for _, pair in zip(range(_RUN), names, strict=False)]
        handles = [open(path, "rb") for path in runs]  # noqa: SIM115 (closed below)
        try:
            yield from heapq.merge(*(_pairs(_fields(handle)) for handle in handles))
        finally:
            for handle in handles:
                handle.close()


def _pairs(fields: Iterator[bytes]) -> Iterator[tuple[str, int]]:
    for name in fields:
        yield name.decode(), int(next(fields))


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


def write(folder: Path, root: str, files: Iterable[tuple[str, str, int]]) -> int:
    """Write the list: `files` as (relative path, cache key, size), in the order of their
    paths already (walk's order; sort a listing from storage); how many there were."""
    count = 0
    with atomic_writer(folder / LIST_FILE) as out:
        out.write(json.dumps({"format": FORMAT, "root": root}).encode() + b"\n")
        piece: list[str] = []
        for path, key, size in files:
            piece.append(f"{path}\0{key}\0{size}\0")
            if len(piece) == 4096:
                out.write("".join(piece).encode())
                count, piece = count + len(piece), []
        out.write("".join(piece).encode())
    return count + len(piece)


class ListFile:
    """The list in a job folder, read by pieces: `root`, then the files in order (`entries`),
    each with where it starts in the file, which `read` reads a stretch of again."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LIST_FILE
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
        self._width = width
        self.start = len(head)

    def entries(self) -> Iterator[tuple[int, Entry]]:
        """(offset in the file, entry) of every file, in order."""
        offset = self.start
        with self.path.open("rb") as handle:
            handle.seek(offset)
            fields = _fields(handle)
            try:
                for path in fields:
                    key = next(fields, None)
                    size = next(fields, None) if self._width == 3 else b""
                    if key is None or size is None:
                        raise ValueError("it ends inside an entry")
                    yield offset, self._entry(path, key, size)
                    offset += len(path) + len(key) + len(size) + self._width
            except ValueError as exc:
                raise self._corrupt(exc) from None

    def read(self, start: int, end: int) -> list[Entry]:
        """The entries from offset `start` to `end` (offsets that `entries` gave)."""
        with self.path.open("rb") as handle:
            handle.seek(start)
            fields = handle.read(end - start).split(b"\0")[:-1]
        width = self._width
        sizes = fields[2::3] if width == 3 else [b""] * (len(fields) // width)
        return [
            self._entry(path, key, size)
            for path, key, size in zip(fields[0::width], fields[1::width], sizes, strict=True)
        ]

    def _entry(self, path: bytes, key: bytes, size: bytes) -> Entry:
        try:
            return path.decode(), key.decode(), int(size) if size else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: Exception) -> CorruptStateError:
        return CorruptStateError(self.path, f"it is not a list of input files ({exc})")


def _fields(handle: BinaryIO) -> Iterator[bytes]:
    """The NUL-ended fields of an open file, from where it is, read a chunk at a time."""
    rest = b""
    while chunk := handle.read(_CHUNK):
        *fields, rest = (rest + chunk).split(b"\0")
        yield from fields
    if rest:
        raise ValueError("the file ends inside a field")
