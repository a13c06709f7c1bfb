"""A job's list of input files, `<job>/inputs.list`: written by the job's first run, read by
every run after it (a resume plans the very same mini-batches, so its journal fits).

Compact, not JSON: a header line (`{"format": 1, "root": ...}`), then each file as its path
relative to the root and its cache key ("" for local files), each ended by a NUL byte (the
one byte no path holds). Files are in the order of their relative posix paths.
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
FORMAT = 1


def walk(root: str, prefix: str = "") -> Iterator[str]:
    """The files under local folder `root`, as relative posix paths, in no order. Symbolic
    links to files count; links to folders are not followed (as pathlib's rglob)."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                yield prefix + entry.name


def write(folder: Path, root: str, files: Sequence[tuple[str, str]]) -> None:
    """Write the list: `files` as (relative path, cache key), sorted here by path."""
    header = json.dumps({"format": FORMAT, "root": root}).encode() + b"\n"
    ordered = sorted(files)
    body = b"".join(f"{path}\0{key}\0".encode() for path, key in ordered)
    write_atomic(folder / LIST_FILE, header + body)


def read(folder: Path) -> tuple[str, list[tuple[str, str]]]:
    """The root and the files (relative path, cache key) of the list in `folder`."""
    path = folder / LIST_FILE
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')} is not {FORMAT}")
        fields = body.decode().split("\0")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptStateError(path, f"it is not a list of input files ({exc})") from None
    pairs = list(zip(fields[0:-1:2], fields[1::2], strict=False))
    return str(header["root"]), pairs
