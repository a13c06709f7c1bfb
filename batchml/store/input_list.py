"""A job's list of input files, `<job>/inputs.list`: written by the job's first run, read by
every run after it (a resume plans the very same mini-batches, so its journal fits).

Compact, not JSON: a header line (`{"format": 2, "root": ...}`), then each file as its path
relative to the root, its cache key ("" for local files) and its size in bytes (for
mini-batches by size), each ended by a NUL byte (the one byte no path holds). Files are in the
order of their relative posix paths. The size is empty (None) where the job plans by count,
which needs none: a stat per file is most of the cost of listing a local folder. A format 1
list (batchml 0.3: no sizes) reads with sizes None; its job planned its mini-batches by count.

Nothing here holds the whole list: a local folder is walked in order, one folder's names at
a time (a huge one sorted in runs on disk), written as it is walked, and read back by pieces
(`ListFile`), so that a job of ten million files plans in the memory of one of ten.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from itertools import islice
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
_RUN = 200_000
_CHUNK = 1 << 20  # bytes read at a time

# A listed file: its path relative to the root, its cache key, its size (None: not recorded).
Entry = tuple[str, str, "int | None"]


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
                out.write("\0".join(run).encode() + b"\0")
            run = list(islice(names, _RUN))
        handles = [open(path, "rb") for path in runs]  # noqa: SIM115 (closed below)
        try:
            yield from heapq.merge(*(_names_in(handle) for handle in handles))
        finally:
            for handle in handles:
                handle.close()


def _names_in(handle: BinaryIO) -> Iterator[str]:
    """The NUL-ended names of an open file, read a chunk at a time."""
    rest = b""
    while chunk := handle.read(_CHUNK):
        *names, rest = (rest + chunk).split(b"\0")
        yield from b"\0".join(names).decode().split("\0") if names else ()


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
    """Write the list: `files` as (relative path, cache key, size: None if not needed), in the
    order of their paths already (walk's order; sort a listing from storage); how many."""
    count = 0
    with atomic_writer(folder / LIST_FILE) as out:
        out.write(json.dumps({"format": FORMAT, "root": root}).encode() + b"\n")
        piece: list[str] = []
        for path, key, size in files:
            piece.append(f"{path}\0{key}\0{'' if size is None else size}\0")
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
        self.width = width
        self.start = len(head)

    def chunks(self) -> Iterator[tuple[int, list[bytes]]]:
        """The fields of the files in order, a piece of whole entries at a time (`width`
        fields each), with the offset in the file of the piece's first."""
        width, offset, rest = self.width, self.start, b""
        with self.path.open("rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(_CHUNK):
                fields = (rest + chunk).split(b"\0")
                whole = (len(fields) - 1) // width * width
                rest = b"\0".join(fields[whole:])
                del fields[whole:]
                yield offset, fields
                offset += sum(map(len, fields)) + len(fields)
        if rest:
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
        and `entries` gave)."""
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start).split(b"\0")[:-1][0 :: self.width]

    def _entry(self, path: bytes, key: bytes, size: bytes) -> Entry:
        try:
            return path.decode(), key.decode(), int(size) if size else None
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: Exception) -> CorruptStateError:
        return CorruptStateError(self.path, f"it is not a list of input files ({exc})")
