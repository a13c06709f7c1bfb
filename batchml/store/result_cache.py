"""The per-user cache of mini-batch results, shared by every job and runner (see README "Reuse").

An entry is the outcome of one succeeded mini-batch, kept as `<root>/<key[:2]>/<key>` under a
key that names everything that decides it (batchml.runner.reuse): magic, SHA-256 of the rest,
the items run() returned, then its append_row lines. It is written to a temporary name and
renamed into place, so two runners writing the same entry leave one whole file; one that does
not check out (torn, truncated, altered) is removed and never used. No fsync: a lost entry is
only a mini-batch run again. The cache is bounded (BATCHML_RESULT_CACHE_SIZE, e.g. `500mb`;
default 2 GB): past it, the entries used least recently go first (a hit refreshes the time).
Pipeline steps keep their records here too, in the same form (batchml.runner.step_reuse: the
items are 0, the lines a JSON record of the step's outputs).

Input files are hashed once: `<root>/hashes/` keeps, one JSON file per folder of inputs (and
one for snapshot files, by inode), each file's SHA-256 with the size and mtime_ns it had; a file whose size or mtime changed is hashed
again. Two jobs on one folder may each write it: the last one wins, whole (a hash lost is only
computed again).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.store.fs import user_cache_dir
from batchml.store.input_cache import size_setting

if TYPE_CHECKING:
    from collections.abc import Iterator

SIZE_VARIABLE = "BATCHML_RESULT_CACHE_SIZE"
DEFAULT_SIZE = 2 * 1000**3
HASHES_DIR = "hashes"
_INODES = "\0inodes"  # the records of files by inode, not by folder
_MAGIC = b"BMLRES01"
_HEAD = struct.Struct("<8s32s")  # magic, SHA-256 of the body: items (u64), then the lines
_ITEMS = struct.Struct("<Q")
_CHUNK = 1024 * 1024
# Trimmed to this share of the bound, so that not every store trims.
_TRIM_TO = 0.9


class ResultCache:
    """Mini-batch results by key, and the hashes of input files."""

    def __init__(self, root: Path | None = None, limit: int | None = None) -> None:
        self.root = root or user_cache_dir("results")
        self.limit = size_setting(SIZE_VARIABLE, DEFAULT_SIZE) if limit is None else limit
        self._stored = 0  # bytes stored since the last trim
        # folder -> {name: [size, mtime_ns, hash]}, and the folders whose records changed
        self._hashes: dict[str, dict[str, list[Any]]] = {}
        self._changed: set[str] = set()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def lookup(self, key: str, *, touch: bool = True) -> tuple[int, bytes] | None:
        """(items, lines) of the entry `key`, or None; an entry that does not check out is
        removed (the mini-batch runs again and writes it anew). With `touch` false (a plan),
        nothing changes: no time refreshed, no entry removed."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if len(raw) >= _HEAD.size + _ITEMS.size:
            magic, digest = _HEAD.unpack_from(raw)
            body = memoryview(raw)[_HEAD.size :]
            if magic == _MAGIC and hashlib.sha256(body).digest() == digest:
                if touch:
                    with contextlib.suppress(FileNotFoundError):
                        os.utime(path)
                return _ITEMS.unpack_from(body)[0], bytes(body[_ITEMS.size :])
        if touch:
            path.unlink(missing_ok=True)
        return None

    def store(self, key: str, items: int, rows: bytes) -> None:
        """Put an entry in place atomically, then trim the cache if it went over its bound."""
        body = _ITEMS.pack(items) + rows
        _write(self.path(key), _HEAD.pack(_MAGIC, hashlib.sha256(body).digest()) + body)
        self._stored += _HEAD.size + len(body)
        if self._stored > self.limit * (1 - _TRIM_TO):
            self.trim()

    def trim(self, limit: int | None = None, *, dry_run: bool = False) -> list[tuple[Path, int]]:
        """Remove the least recently used entries until the cache is within `limit` (default:
        its bound, trimmed to 90% of it); returns what went (or would go), with sizes."""
        self._stored = 0
        bound = self.limit if limit is None else limit
        target = bound * _TRIM_TO if limit is None else bound
        removed: list[tuple[Path, int]] = []
        with self._locked():
            entries = sorted(self._entries())
            size = sum(entry[1] for entry in entries)
            if size <= bound:
                return removed
            for _, entry_size, path in entries:
                if size <= target:
                    break
                if not dry_run:
                    path.unlink(missing_ok=True)
                removed.append((path, entry_size))
                size -= entry_size
        return removed

    def file_hash(self, path: str | Path, *, by_inode: bool = False) -> str:
        """The SHA-256 of the file at `path`, from the hash records while its size and mtime_ns
        are unchanged (save_hashes() keeps new ones). `by_inode` records it under its device
        and inode instead of its path: the hard links of a file (the snapshots of a
        deployment's code and model in each job) share one record. Raises OSError if it
        cannot be read."""
        stat = os.stat(path)
        if by_inode:
            folder, name = _INODES, f"{stat.st_dev}:{stat.st_ino}"
        else:
            folder, name = os.path.split(path)
        records = self._hashes.get(folder)
        if records is None:
            records = self._hashes[folder] = self._read_hashes(folder)
        known = records.get(name)
        if known is not None and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            return str(known[2])
        digest = hash_file(path)
        records[name] = [stat.st_size, stat.st_mtime_ns, digest]
        self._changed.add(folder)
        return digest

    def save_hashes(self) -> None:
        """Write the hash records of the folders whose files were hashed anew."""
        for folder in sorted(self._changed):
            _write(self._hashes_file(folder), json.dumps(self._hashes[folder]).encode())
        self._changed.clear()
        self._hashes.clear()  # read again if needed: a job's inputs are hashed once

    def _hashes_file(self, folder: str) -> Path:
        name = hashlib.sha256(os.fsencode(folder)).hexdigest()
        return self.root / HASHES_DIR / name[:2] / name

    def _read_hashes(self, folder: str) -> dict[str, list[Any]]:
        try:
            records = json.loads(self._hashes_file(folder).read_bytes())
        except (OSError, ValueError):
            return {}
        return records if isinstance(records, dict) else {}

    def _entries(self) -> Iterator[tuple[float, int, Path]]:
        for path in self.root.glob("??/*"):
            if path.parent.name == HASHES_DIR or path.name.startswith("."):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                yield stat.st_mtime, stat.st_size, path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def hash_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write(path: Path, data: bytes) -> None:
    """Write under a temporary name beside `path` and rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
