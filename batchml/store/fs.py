"""Atomic file operations: every state file and snapshot appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from batchml.core.errors import BatchmlError

if TYPE_CHECKING:
    from collections.abc import Iterator


def fsync_dir(path: Path) -> None:
    """Persist a rename inside `path` (a directory entry is data too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync, then rename.

    A `private` file is readable by its owner only (0600) from its first byte on."""
    with atomic_writer(path, private=private) as handle:
        handle.write(data)


@contextlib.contextmanager
def atomic_writer(path: Path, *, private: bool = False) -> Iterator[BinaryIO]:
    """A file to write `path` by pieces, as write_atomic does at once: what is written goes to
    a temp file in the same folder, fsynced and renamed to `path` when the block ends, removed
    if it raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600 if private else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            # A full disk or a read-only folder: say which file, as os.write does not.
            raise BatchmlError(f"could not write {path}: {exc.strerror or exc}") from exc
        raise
    fsync_dir(path.parent)


def _umask() -> int:
    """The process umask (read by setting it, then restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, document: Any, *, private: bool = False) -> None:
    """Write JSON atomically, keys in the document's order (a pipeline's steps keep theirs)."""
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode(), private=private)


def read_json(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def copy_into(source: Path, folder: Path, *, link: bool = False) -> None:
    """Copy `source` (a file or folder) into `folder` (batchml.store.snapshot's rules; hard
    links with `link`); a failed copy names the file."""
    from batchml.store.snapshot import copy_tree  # only commands that snapshot need it

    try:
        copy_tree(source, folder / source.name, link=link)
    except OSError as exc:
        raise BatchmlError(
            f"could not copy {source} into the workspace: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from exc


def user_cache_dir(kind: str) -> Path:
    """The per-user cache of `kind` (envs, inputs): BATCHML_CACHE_DIR/<kind>, else the user's
    cache folder ($XDG_CACHE_HOME, else ~/.cache)/batchml/<kind>."""
    configured = os.environ.get("BATCHML_CACHE_DIR")
    if configured:
        return Path(configured) / kind
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "batchml" / kind
