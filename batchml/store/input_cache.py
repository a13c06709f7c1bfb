"""The per-user cache of input files fetched from storage, shared by every job and runner.

Content-addressed: a file is kept as `<root>/<key[:2]>/<key>/<name>` under the key the
storage's listing gave it (batchml.store.remote.content_key) and its own name, so a retried
or resumed mini-batch, or another job on the same data, reads it again without a download.
A file is written to a temporary name and renamed into place: a reader (another runner too)
sees a whole file or none. The cache is bounded (BATCHML_INPUT_CACHE_SIZE, e.g. `500mb`;
default 5 GB): past it, the files used least recently go first (a hit refreshes a file's time),
under the cache's lock, never the files of the mini-batch being fetched.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core import sizes
from batchml.core.errors import UsageError
from batchml.store import remote
from batchml.store.fs import user_cache_dir

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from fsspec import AbstractFileSystem

SIZE_VARIABLE = "BATCHML_INPUT_CACHE_SIZE"
DEFAULT_SIZE = 5 * 1000**3
# Trimmed to this share of the bound, so that not every fetch trims.
_TRIM_TO = 0.9


def parse_size(text: str) -> int:
    """`500mb`, `2GB`, `1000000` -> bytes (batchml.core.sizes)."""
    size = sizes.parse_size(text)
    if size is None:
        raise UsageError(f"{text!r} is not a size", hint="write it as e.g. 500mb or 2gb")
    return size


def size_setting(variable: str, default: int) -> int:
    """The size in environment variable `variable`, else `default` (bytes)."""
    raw = os.environ.get(variable)
    return parse_size(raw) if raw else default


def max_size() -> int:
    return size_setting(SIZE_VARIABLE, DEFAULT_SIZE)


class InputCache:
    """Files by key; counts its hits and downloads for the job's log. Threads may share one."""

    def __init__(self, root: Path | None = None, limit: int | None = None) -> None:
        self.root = root or user_cache_dir("inputs")
        self.limit = max_size() if limit is None else limit
        self.hits = self.stored = self.bytes_stored = 0
        self._size: int | None = None  # what is in the cache, as of the last trim, plus since
        self._lock = threading.Lock()

    def path(self, key: str, name: str) -> Path:
        return self.root / key[:2] / key / name

    def lookup(self, key: str, name: str) -> Path | None:
        """The cached file, its time refreshed (it was just used), or None."""
        path = self.path(key, name)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        with self._lock:
            self.hits += 1
        return path

    def temporary(self) -> Path:
        """A fresh name in the cache's folder to download to (then `store` it)."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="fetch-")
        os.close(fd)
        return Path(name)

    def store(self, temporary: Path, key: str, name: str) -> Path:
        """Move a downloaded file into place (atomically) and return where it is."""
        path = self.path(key, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        size = temporary.stat().st_size
        os.replace(temporary, path)
        with self._lock:
            self.stored += 1
            self.bytes_stored += size
            if self._size is not None:
                self._size += size
        return path

    def trim(self, keep: Collection[Path]) -> None:
        """Remove the least recently used files while the cache is over its bound."""
        with self._lock:
            if self._size is None or self._size > self.limit:
                self._trim(keep)

    def _trim(self, keep: Collection[Path]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            files = []
            for path in self.root.glob("??/*/*"):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # trimmed meanwhile by another runner
                files.append((stat.st_mtime, stat.st_size, path))
            self._size = sum(size for _, size, _ in files)
            if self._size <= self.limit:
                return
            for _, size, path in sorted(files):
                if self._size <= self.limit * _TRIM_TO:
                    break
                if path in keep:
                    continue
                path.unlink(missing_ok=True)
                self._size -= size
                for folder in (path.parent, path.parent.parent):
                    try:
                        folder.rmdir()
                    except OSError:
                        break  # not empty


def fetch(
    cache: InputCache,
    fs: AbstractFileSystem,
    files: Sequence[tuple[str, str]],
    url: str,
    shown: Mapping[str, str],
) -> tuple[str, ...]:
    """The local paths of `files` (path in storage, cache key), downloading those not in the
    cache, concurrently; a storage error is a BatchmlError naming `url`, and a file changed
    since it was listed one naming that file as `shown` maps its folder (remote.download)."""
    local: list[Path | None] = []
    missing: list[tuple[int, str, str, str]] = []
    for index, (path, key) in enumerate(files):
        name = path.rsplit("/", 1)[-1]
        found = cache.lookup(key, name)
        local.append(found)
        if found is None:
            missing.append((index, path, key, name))
    if missing:
        temporaries = [cache.temporary() for _ in missing]
        try:
            with remote.storage_errors(url):
                remote.download(
                    fs,
                    [(path, key) for _, path, key, _ in missing],
                    [str(t) for t in temporaries],
                    shown,
                )
            for (index, _, key, name), temporary in zip(missing, temporaries, strict=True):
                local[index] = cache.store(temporary, key, name)
        finally:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)
    kept = [path for path in local if path is not None]
    cache.trim(keep=set(kept))
    return tuple(str(path) for path in kept)
