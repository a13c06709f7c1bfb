"""Reuse across jobs: a mini-batch whose outcome is already known is not scored again.

A mini-batch's key names what decides its outcome: the job's key (the contents of its code and
model snapshots, its environment, and the settings that change rows: output_action,
environment_variables, scoring_script) and, in order, each input file's absolute path and
SHA-256 (for a file in storage: its path there and its cache key, the MD5 or the ETag the
listing gave, with no byte read). The path is part of it because run() sees paths and may write them into its rows;
so a moved or renamed folder reuses nothing, which is never wrong. Only mini-batches that
succeeded with every file are kept: a failure may be transient (a timeout, a killed worker), so
it runs again, and failures.jsonl only ever describes attempts this job made. Only append_row
jobs reuse (the runner decides): a summary_only job's output is the files its script writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.runner.plan import StreamedBatches
from batchml.store.result_cache import ResultCache

# How long the hashing thread waits for more mini-batches before it looks at `_stopping`.
_WAIT_SECONDS = 0.2

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from batchml.core.job_environment import JobEnvironment
    from batchml.core.run_settings import RunSettings
    from batchml.runner.tally import Tally

# How far the hashing runs ahead of the mini-batch looked up last.
_AHEAD = 1024


def folder_digest(folder: Path | None, cache: ResultCache, *, by_inode: bool = True) -> str | None:
    """SHA-256 over the relative names and contents of every file under `folder` (a job's
    snapshot, hard links to the deployment's: hashed once for all its jobs, by inode; data
    folders by path). Raises OSError if a file cannot be read."""
    if folder is None:
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        content = cache.file_hash(path, by_inode=by_inode)
        digest.update(f"{path.relative_to(folder).as_posix()}\0{content}\n".encode())
    return digest.hexdigest()


def job_key(
    code_dir: Path,
    model_dir: Path | None,
    scoring_script: str,
    environment: JobEnvironment,
    settings: RunSettings,
    cache: ResultCache,
) -> str:
    """What, besides its input files, decides each mini-batch's outcome in a job."""
    parts = {
        "code": folder_digest(code_dir, cache),
        "model": folder_digest(model_dir, cache),
        "script": scoring_script,
        "environment": environment_parts(environment),
        "output_action": settings.output_action,
        "environment_variables": settings.environment_variables,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def environment_parts(environment: JobEnvironment) -> list[object]:
    """What of an environment, as built, decides results: what it was asked for and got."""
    return [
        environment.manager,
        environment.key,
        environment.source,
        environment.python,
        environment.packages,
        environment.python_executable,
        environment.python_version,
    ]


class Reuse:
    """Looks a job's mini-batches up in the result cache, and keeps those that succeed.

    Files in storage are known by their cache keys (`keys`: an MD5, or the path and ETag, as
    the listing gave them, known as the plan grows), so their mini-batches are looked up with
    no wait. Local files are hashed on a thread of this object's, in the order the mini-batches
    run, and each mini-batch is looked up as it is about to run (`take`): the first runs once
    its own files are hashed, not every file of the job.
    """

    def __init__(self, key: str, cache: ResultCache, keys: Mapping[str, str] | None = None) -> None:
        self.job_key = key
        self.cache = cache
        self._file_keys = keys
        self._batches: Sequence[Sequence[str]] = ()
        # Mini-batch -> its key (None: unreadable), from when it is hashed until it is kept or
        # taken: the hashing runs at most _AHEAD mini-batches past the one wanted last.
        self._keys: dict[int, str | None] = {}
        self._looked: set[int] = set()  # the mini-batches `take` looked up, not kept yet
        self._wanted = -1
        self._hashed = threading.Condition()
        self._hashing: threading.Thread | None = None
        self._hashed_all = False  # the thread is done (or was never needed)
        self._stopping = False

    def start(self, tally: Tally, batches: Sequence[Sequence[str]]) -> None:
        """Begin with a job's mini-batches that are not done yet: local files start being
        hashed; those of files in storage are looked up as they come (`take`), their keys
        known at once, even while the plan grows."""
        self._batches = batches
        if self._file_keys is not None:
            self._hashed_all = True
            return
        self._hashing = threading.Thread(
            target=self._hash,
            args=(batches, self._todo(tally, batches)),
            name="reuse-hashes",
            daemon=True,
        )
        self._hashing.start()

    def take(self, index: int) -> tuple[int, bytes] | None:
        """(items, rows) an earlier job left for mini-batch `index`, or None (it runs); waits
        until its files are hashed."""
        if index in self._looked:
            return None  # looked up before, and not found: a mini-batch requeued
        with self._hashed:
            if self._file_keys is not None:
                self._keys[index] = self._key(self._batches[index])
            if index > self._wanted:
                self._wanted = index
                self._hashed.notify_all()
            while index not in self._keys and not self._hashed_all:
                self._hashed.wait()
        self._looked.add(index)
        key = self._keys.get(index)
        found = self.cache.lookup(key) if key is not None else None
        if found is not None:  # done: never looked up or kept again
            self._forget(index)
        return found

    def skips(self, tally: Tally) -> Callable[[int], bool]:
        """What says whether a mini-batch of files in storage needs no fetching: it is done,
        or the cache has an outcome for it (looked up changing nothing; `take` takes it)."""
        assert self._file_keys is not None, "only files in storage are fetched"

        def skip(index: int) -> bool:
            if tally.is_done(index):
                return True
            key = self._key(self._batches[index])
            return key is not None and self.cache.lookup(key, touch=False) is not None

        return skip

    def probe(self, batches: Sequence[Sequence[str]]) -> list[int]:
        """The mini-batches the cache has an outcome for, changing nothing (for a plan)."""
        found = []
        for index, files in enumerate(batches):
            key = self._key(files)
            if key is not None and self.cache.lookup(key, touch=False) is not None:
                found.append(index)
        return found

    def keep(self, index: int, items: int, rows: bytes) -> None:
        """Store the outcome of mini-batch `index`, which succeeded with every file."""
        key = self._keys.get(index)
        self._forget(index)
        if key is None:
            return
        # A full or read-only cache costs reuse, never the job.
        with contextlib.suppress(OSError):
            self.cache.store(key, items, rows)

    def close(self) -> None:
        """Stop hashing (the job ended) and keep the hashes made."""
        if self._hashing is not None:
            with self._hashed:
                self._stopping = True
                self._hashed.notify_all()
            self._hashing.join()

    def _todo(self, tally: Tally, batches: Sequence[Sequence[str]]) -> Iterator[int]:
        """The mini-batches not done, in order; of an input still listed, each as it is
        planned (until the job ends)."""
        index = 0
        while not self._stopping:
            # Before the count: the last mini-batch closes with the listing.
            more = isinstance(batches, StreamedBatches) and batches.listing
            if index < len(batches):
                if not tally.is_done(index):
                    yield index
                index += 1
            elif not more:
                return
            elif isinstance(batches, StreamedBatches):
                batches.wait_for(index + 1, timeout=_WAIT_SECONDS)

    def _hash(self, batches: Sequence[Sequence[str]], todo: Iterable[int]) -> None:
        try:
            for index in todo:
                if self._stopping:
                    break
                with self._hashed:
                    while index > self._wanted + _AHEAD and not self._stopping:
                        self._hashed.wait()
                key = self._key(batches[index])
                with self._hashed:
                    self._keys[index] = key
                    self._hashed.notify_all()
        finally:
            with contextlib.suppress(OSError):
                self.cache.save_hashes()
            with self._hashed:
                self._hashed_all = True
                self._hashed.notify_all()

    def _forget(self, index: int) -> None:
        with self._hashed:
            self._keys.pop(index, None)
        self._looked.discard(index)

    def _key(self, files: Sequence[str]) -> str | None:
        """A mini-batch's key; None if a file cannot be read (run() will say why)."""
        known = self._file_keys
        try:
            contents = [
                [os.fspath(f), known[f] if known is not None else self.cache.file_hash(f)]
                for f in files
            ]
        except OSError:
            return None
        return hashlib.sha256(json.dumps([self.job_key, contents]).encode()).hexdigest()
