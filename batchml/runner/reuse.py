"""Reuse across jobs: a mini-batch whose outcome is already known is not scored again.

A mini-batch's key names what decides its outcome: the job's key (the contents of its code and
model snapshots, its environment, and the settings that change rows: output_action,
environment_variables, scoring_script) and, in order, each input file's absolute path and
SHA-256. The path is part of it because run() sees paths and may write them into its rows;
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
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.store.result_cache import ResultCache

if TYPE_CHECKING:
    from collections.abc import Sequence

    from batchml.core.job_environment import JobEnvironment
    from batchml.core.run_settings import RunSettings
    from batchml.runner.tally import Tally


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
    """Looks a job's mini-batches up in the result cache, and keeps those that succeed."""

    def __init__(self, key: str, cache: ResultCache) -> None:
        self.job_key = key
        self.cache = cache
        self._keys: dict[int, str] = {}

    def fill(self, tally: Tally, batches: Sequence[Sequence[str]]) -> int:
        """Record as done every mini-batch not done yet that the cache has; how many."""
        reused = 0
        for index, files in enumerate(batches):
            if tally.is_done(index):
                continue
            key = self._key(files)
            if key is None:
                continue  # a file that cannot be read: run() will say why
            self._keys[index] = key
            found = self.cache.lookup(key)
            if found is not None:
                tally.reused(index, *found)
                reused += 1
        with contextlib.suppress(OSError):
            self.cache.save_hashes()
        return reused

    def keep(self, index: int, items: int, rows: bytes) -> None:
        """Store the outcome of mini-batch `index`, which succeeded with every file."""
        key = self._keys.get(index)
        if key is None:
            return
        # A full or read-only cache costs reuse, never the job.
        with contextlib.suppress(OSError):
            self.cache.store(key, items, rows)

    def _key(self, files: Sequence[str]) -> str | None:
        try:
            hashes = [[os.fspath(f), self.cache.file_hash(f)] for f in files]
        except OSError:
            return None
        return hashlib.sha256(json.dumps([self.job_key, hashes]).encode()).hexdigest()
