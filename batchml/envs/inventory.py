"""What the cache of built environments (envs.cache) holds and the disk it takes, and removing
environments from it without breaking a build of one or a job that runs in one.

Sizes are disk use (allocated blocks), each inode counted once: uv hard-links a venv's files
from its own cache when it can, so the files of an environment may be on disk once for it,
for another environment and for uv's cache. Removing environments frees only the files that
no link outside them keeps (`Usage.freed_bytes`); uv's cache has its own command
(`uv cache prune`).

Removal takes the key's lock without waiting, so an environment being built, removed, or
used by a job (its runner holds the lock shared) is skipped; the folder is renamed to a temp
folder before it is deleted, so a half-deleted environment never has its key's name.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchml.core.errors import WorkspaceLockedError
from batchml.envs.cache import (
    MARKER,
    cache_root,
    installed,
    lock_path,
    read_marker,
    stale_folders,
)
from batchml.store.fs import fsync_dir
from batchml.store.lock import file_lock

_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Cached:
    """A complete environment in the cache, with what its marker says."""

    key: str
    path: Path
    marker: dict[str, Any]
    last_used: float  # the marker's mtime, touched at each reuse

    @property
    def python_version(self) -> str:
        return str(self.marker.get("python_version"))

    @property
    def requirements(self) -> list[str]:
        """What it was built from, as declared."""
        return [str(line) for line in self.marker.get("packages") or []]

    @property
    def built(self) -> float | None:
        value = self.marker.get("built")
        return float(value) if isinstance(value, (int, float)) else None

    def packages(self) -> list[str]:
        """What is installed in it, as `uv pip freeze` listed it when it was built."""
        try:
            return installed(self.path)
        except OSError:  # removed meanwhile
            return []


@dataclass(frozen=True)
class Usage:
    """The disk `size_bytes` some folders take, each inode once, and the part of it that
    removing them all would free (`freed_bytes`: files with no hard link elsewhere)."""

    size_bytes: int
    freed_bytes: int


@dataclass(frozen=True)
class Removal:
    """What a removal did, or would do (`dry_run`): the environments removed and those
    skipped because their lock was held, the leftovers of killed builds and removals
    removed with them, and the disk that freed."""

    removed: list[Cached]
    locked: list[Cached]
    leftovers: list[Path]
    freed_bytes: int


def find(key: str) -> Cached | None:
    """The complete environment of `key`, if the cache has it."""
    folder = cache_root() / key
    marker = read_marker(folder)
    if marker is None:
        return None
    try:
        last_used = (folder / MARKER).stat().st_mtime
    except FileNotFoundError:  # removed just now
        return None
    return Cached(key, folder, marker, last_used)


def environments() -> list[Cached]:
    """Every complete environment in the cache, by key."""
    found = (find(name) for name in _key_folders())
    return [environment for environment in found if environment is not None]


def usage(folders: Iterable[Path]) -> Usage:
    """The disk `folders` take (Usage); a folder that does not exist takes none."""
    inodes: dict[tuple[int, int], list[int]] = {}  # (dev, ino) -> [bytes, links, links seen]
    for folder in folders:
        _measure(folder, inodes)
    size = sum(entry[0] for entry in inodes.values())
    freed = sum(entry[0] for entry in inodes.values() if entry[2] >= entry[1])
    return Usage(size, freed)


def remove(chosen: Iterable[Cached], *, dry_run: bool = False) -> Removal:
    """Remove the `chosen` environments, each unless its lock is held, and what killed builds
    and removals left; with `dry_run`, only say what would be removed."""
    root = cache_root()
    removed: list[Cached] = []
    locked: list[Cached] = []
    taken: list[Path] = []  # the folders to delete: renamed already, unless in a dry run
    for environment in chosen:
        try:
            folder = _take(environment.key, dry_run)
        except WorkspaceLockedError:
            locked.append(environment)
            continue
        if folder is not None:  # else another removal was first
            removed.append(environment)
            taken.append(folder)
    stale = stale_folders(root)
    leftovers = list(stale)
    for name in _key_folders():  # a folder named as a key without a marker was not built
        if read_marker(root / name) is None:
            with contextlib.suppress(WorkspaceLockedError):  # being built again: its builder
                folder = _take(name, dry_run)  # removes it
                if folder is not None:
                    leftovers.append(root / name)
                    taken.append(folder)
    doomed = [*taken, *stale]
    freed = usage(doomed).freed_bytes
    if not dry_run:
        for folder in doomed:
            _delete(folder)
    return Removal(removed, locked, sorted(leftovers), freed)


def _take(key: str, dry_run: bool) -> Path | None:
    """The folder of `key`, renamed to a temp folder unless `dry_run`, under its lock; None
    if it is gone. WorkspaceLockedError if the lock is held: it is being built, removed or
    used."""
    root = cache_root()

    def locked(_waited: float) -> WorkspaceLockedError:
        return WorkspaceLockedError(f"environment {key[:12]} is being built, removed or used")

    with file_lock(lock_path(key), 0, locked):
        folder = root / key
        if not folder.exists():
            return None
        if dry_run:
            return folder
        temp = root / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        os.replace(folder, temp)
        fsync_dir(root)
        return temp


def _key_folders() -> list[str]:
    with contextlib.suppress(FileNotFoundError):
        return sorted(p.name for p in cache_root().iterdir() if _KEY.match(p.name) and p.is_dir())
    return []


def _measure(path: Path, inodes: dict[tuple[int, int], list[int]]) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    on_disk = getattr(info, "st_blocks", None)
    size = on_disk * 512 if on_disk is not None else info.st_size
    entry = inodes.setdefault((info.st_dev, info.st_ino), [size, info.st_nlink, 0])
    entry[2] += 1
    if stat.S_ISDIR(info.st_mode):
        entry[1] = 1  # a folder's link count counts its sub-folders; it has no other links
        with contextlib.suppress(FileNotFoundError):
            for child in os.scandir(path):
                _measure(Path(child.path), inodes)


def _delete(folder: Path) -> None:
    """Delete `folder`, which a build of its key may be deleting too (envs.cache._sweep)."""
    while True:
        try:
            shutil.rmtree(folder)
            return
        except FileNotFoundError:
            if not folder.exists():
                return
