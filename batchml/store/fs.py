"""Atomic file operations: every state file and snapshot appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Persist a rename inside `path` (a directory entry is data too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _umask() -> int:
    """The process umask (read by setting it, then restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically, keys in the document's order (a pipeline's steps keep theirs)."""
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def stage_copy(source: Path, dest_dir: Path) -> Path:
    """Copy `source` (a file or folder) into a new temp folder beside `dest_dir`.

    The caller renames the returned folder to `dest_dir`, so that a reader never sees half a
    snapshot; on error the temp folder is removed.
    """
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=dest_dir.parent, prefix=f".{dest_dir.name}.", suffix=".tmp")
    )
    try:
        target = staging / source.name
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False)
        else:
            shutil.copy2(source, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging
