"""Inputs in storage, fetched per mini-batch: workers get local files (the `mini_batch` list is
local paths, as in Azure), from the input cache (batchml.store.input_cache), filled by a thread
that fetches a few mini-batches ahead of the ones handed out, so that workers do not wait for
the whole input, nor, mostly, for any download.

StagedBackend wraps the job's backend: a mini-batch goes to its worker once its files are
local, in the order the scheduler gave them. A storage error fails that attempt (retried like
any other failure); a retried or resumed mini-batch finds its files in the cache.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from batchml.backends.base import TaskDone, WorkerLost
from batchml.core.errors import BatchmlError
from batchml.store import remote
from batchml.worker.messages import MiniBatchOutcome, Status

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from fsspec import AbstractFileSystem

    from batchml.backends.base import Backend, BackendEvent
    from batchml.store.input_cache import InputCache
    from batchml.worker.messages import MiniBatchTask

# How often the backend looks again while a mini-batch waits for its files.
_FETCH_POLL = 0.02


class Fetcher:
    """Fetches the files of mini-batches into the cache, one mini-batch at a time, on a thread
    of its own (the storage client downloads a mini-batch's files concurrently)."""

    def __init__(
        self,
        fs: AbstractFileSystem,
        keys: dict[str, str],
        cache: InputCache,
        url: str,
        log: Callable[[str], None],
    ) -> None:
        self._fs, self._keys, self._cache, self._url, self._log = fs, keys, cache, url, log
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch")
        self._closed = False

    def request(self, files: tuple[str, ...]) -> Future[tuple[str, ...]]:
        return self._pool.submit(self.fetch, files)

    def fetch(self, files: Sequence[str]) -> tuple[str, ...]:
        """The local paths of `files`, downloading those not in the cache."""
        cache, local = self._cache, []
        missing: list[tuple[int, str, str, str]] = []
        for index, path in enumerate(files):
            key, name = self._keys[path], path.rsplit("/", 1)[-1]
            found = cache.lookup(key, name)
            local.append(found)
            if found is None:
                missing.append((index, path, key, name))
        if missing:
            temporaries = [cache.temporary() for _ in missing]
            try:
                with remote.storage_errors(self._url):
                    remote.download(
                        self._fs, [path for _, path, _, _ in missing], [str(t) for t in temporaries]
                    )
                for (index, _, key, name), temporary in zip(missing, temporaries, strict=True):
                    local[index] = cache.store(temporary, key, name)
            finally:
                for temporary in temporaries:
                    temporary.unlink(missing_ok=True)
        kept: list[Path] = [path for path in local if path is not None]
        cache.trim(keep=set(kept))
        return tuple(str(path) for path in kept)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        cache = self._cache
        self._log(
            f"input files from storage: {cache.stored} downloaded ({cache.bytes_stored} bytes), "
            f"{cache.hits} found in the cache {cache.root}"
        )


class StagedBackend:
    """A backend whose workers get their mini-batches once the files are local."""

    def __init__(
        self, inner: Backend, fetcher: Fetcher, batches: Sequence[tuple[str, ...]],
        order: Sequence[int], ahead: int,
    ) -> None:  # fmt: skip
        self._inner, self._fetcher, self._batches = inner, fetcher, batches
        # The mini-batches to fetch, in the order the scheduler hands them out (retries aside).
        self._order, self._ahead = list(order), ahead
        self._position = {index: position for position, index in enumerate(self._order)}
        self._requested = 0  # positions in _order requested so far
        self._fetches: dict[int, Future[tuple[str, ...]]] = {}
        # Per worker: the attempts it was given that wait for their files, in order, and how
        # many it was handed that it has not reported on.
        self._waiting: defaultdict[int, deque[MiniBatchTask]] = defaultdict(deque)
        self._running: defaultdict[int, int] = defaultdict(int)
        self._prefetch(ahead)  # while the workers start

    def start_worker(self, slot: int) -> int:
        return self._inner.start_worker(slot)

    def describe(self, worker: int) -> str:
        return self._inner.describe(worker)

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        self._request(task.index)
        self._prefetch(self._position.get(task.index, -1) + 1 + self._ahead)
        self._waiting[worker].append(task)

    def _request(self, index: int) -> None:
        fetch = self._fetches.get(index)
        # A fetch that failed for an attempt no worker took is tried again for the next one.
        if fetch is None or (fetch.done() and fetch.exception() is not None):
            self._fetches[index] = self._fetcher.request(self._batches[index])

    def _prefetch(self, until: int) -> None:
        """Request the mini-batches up to position `until` of the order."""
        while self._requested < min(until, len(self._order)):
            self._request(self._order[self._requested])
            self._requested += 1

    def _hand_out(self) -> list[BackendEvent]:
        """Give workers the attempts whose files are local; a failed fetch fails its attempt
        once the worker reported on those before it."""
        failed: list[BackendEvent] = []
        for worker, waiting in self._waiting.items():
            while waiting and self._fetches[waiting[0].index].done():
                task = waiting[0]
                fetch = self._fetches[task.index]
                try:
                    files = fetch.result()
                except (BatchmlError, OSError) as exc:
                    if self._running[worker]:
                        break  # reported in turn, after the attempts before it
                    waiting.popleft()
                    del self._fetches[task.index]
                    error = getattr(exc, "message", None) or f"fetching input files: {exc}"
                    outcome = MiniBatchOutcome(
                        task.index, task.attempt, Status.FAILED, 0.0, error=error
                    )
                    failed.append(TaskDone(worker, outcome))
                    continue
                waiting.popleft()
                del self._fetches[task.index]
                self._inner.submit(worker, dataclasses.replace(task, files=files))
                self._running[worker] += 1
        return failed

    def poll(self, timeout: float) -> list[BackendEvent]:
        events = self._hand_out()
        if any(self._waiting.values()):
            timeout = min(timeout, _FETCH_POLL)
        for event in [] if events else self._inner.poll(timeout):
            if isinstance(event, TaskDone):
                self._running[event.worker] -= 1
            elif isinstance(event, WorkerLost):
                self._forget(event.worker)
            events.append(event)
        return events

    def _forget(self, worker: int) -> None:
        self._waiting.pop(worker, None)
        self._running.pop(worker, None)

    def stop_worker(self, worker: int) -> None:
        self._forget(worker)
        self._inner.stop_worker(worker)

    def shutdown(self) -> None:
        self._inner.shutdown()
        self._fetcher.close()
