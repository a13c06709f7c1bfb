"""A job's list of input files, `<job>/inputs.list`: written by the job's first run, read by
every run after it (a resume plans the very same mini-batches, so its journal fits).

Compact, not JSON: a header line (`{"format": 2, "root": ...}`), then each file as its path
relative to the root, its cache key ("" for local files) and its size in bytes (for
mini-batches by size), each ended by a NUL byte (the one byte no path holds). Files are in the
order of their relative posix paths. A format 1 list (batchml 0.3: no sizes) reads with sizes
None; its job planned its mini-batches by count, which needs none.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from batchml.core.errors import CorruptStateError
from batchml.store.fs import write_atomic

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

LIST_FILE = "inputs.list"
FORMAT = 2
_FIELDS = {1: 2, 2: 3}  # fields per file, by format

# A listed file: its path relative to the root, its cache key, its size (None: not recorded).
Entry = tuple[str, str, "int | None"]


def walk(root: str, prefix: str = "") -> Iterator[tuple[str, int]]:
    """The files under local folder `root`, as relative posix paths with their sizes, in no
    order. Symbolic links to files count; links to folders are not followed (as pathlib's
    rglob)."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                yield prefix + entry.name, entry.stat().st_size


def write(folder: Path, root: str, files: Sequence[tuple[str, str, int]]) -> None:
    """Write the list: `files` as (relative path, cache key, size), sorted here by path."""
    header = json.dumps({"format": FORMAT, "root": root}).encode() + b"\n"
    ordered = sorted(files)
    body = b"".join(f"{path}\0{key}\0{size}\0".encode() for path, key, size in ordered)
    write_atomic(folder / LIST_FILE, header + body)


def read(folder: Path) -> tuple[str, list[Entry]]:
    """The root and the files (relative path, cache key, size) of the list in `folder`."""
    path = folder / LIST_FILE
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        width = _FIELDS.get(header.get("format"))
        if width is None:
            raise ValueError(
                f"format {header.get('format')} is not one of {', '.join(map(str, _FIELDS))}"
            )
        fields = body.decode().split("\0")[:-1]
        sizes = [int(size) for size in fields[2::3]] if width == 3 else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptStateError(path, f"it is not a list of input files ({exc})") from None
    paths, keys = fields[0::width], fields[1::width]
    entries: list[Entry] = [
        (file, key, sizes[index] if sizes is not None else None)
        for index, (file, key) in enumerate(zip(paths, keys, strict=False))
    ]
    return str(header["root"]), entries
