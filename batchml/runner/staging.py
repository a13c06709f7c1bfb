"""Inputs in storage, fetched per mini-batch: local workers get local files (the `mini_batch` list is
local paths, as in Azure), from the input cache (batchml.store.input_cache), filled by a thread
that fetches a few mini-batches ahead of the ones handed out, so that workers do not wait for
the whole input, nor, mostly, for any download; of an input still listed, as far as its
mini-batches are planned.

StagedBackend wraps the job's backend: a mini-batch goes to its worker once its files are
local, in the order the scheduler gave them. A storage error fails that attempt (retried like
any other failure); a retried or resumed mini-batch finds its files in the cache. What the
worker says of an attempt names its files as the user named them in storage, not by their
paths in the cache.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from batchml.backends.base import FilesFetched, TaskDone, WorkerLost
from batchml.core.errors import BatchmlError
from batchml.core.failures import map_paths
from batchml.core.row_ranges import is_row_range, parse
from batchml.store import input_cache, remote
from batchml.worker.messages import MiniBatchOutcome, Status

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fsspec import AbstractFileSystem

    from batchml.backends.base import Backend, BackendEvent
    from batchml.core.storage_urls import StorageAccess
    from batchml.store.input_cache import InputCache
    from batchml.worker.messages import MiniBatchTask

# How often the backend looks again while a mini-batch waits for its files.
_FETCH_POLL = 0.02
# Mini-batches fetched at once: a request's round trip, not the bytes, is what small files cost.
_FETCH_THREADS = 4


class Fetcher:
    """Fetches the files of mini-batches into the cache, a few mini-batches at a time, on
    threads of its own (the storage client downloads a mini-batch's files concurrently too)."""

    def __init__(
        self,
        access: StorageAccess,
        keys: Mapping[str, str],
        cache: InputCache,
        log: Callable[[str], None],
        fs: AbstractFileSystem | None = None,
        shown: Mapping[str, str] | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        """`fs` is a filesystem on `access` already open (by default one is opened on first
        use); `shown` maps folders in storage to how the user named them, for errors. When
        the mini-batches are row ranges of blobs that workers read themselves, `keys` and
        `sizes` are those blobs', by path (see KeyedBackend)."""
        self.access, self.keys = access, keys
        self.sizes = sizes or {}
        self._shown = shown or {}
        self.cache, self._log = cache, log
        self._fs = fs
        self._used = False
        self._pool = ThreadPoolExecutor(_FETCH_THREADS, thread_name_prefix="fetch")
        self._opening = threading.Lock()
        self._closed = False

    def request(self, files: tuple[str, ...]) -> Future[tuple[str, ...]]:
        return self._pool.submit(self.fetch, files)

    def fetch(self, files: Sequence[str]) -> tuple[str, ...]:
        """The local items of a mini-batch's `files`, downloading what is not in the cache."""
        self._used = True
        return self.local(files)

    def local(self, files: Sequence[str]) -> tuple[str, ...]:
        """The local paths of `files` (what a fetcher of other items overrides): each file
        from the cache, else downloaded into it."""
        with self._opening:
            if self._fs is None:
                self._fs = remote.filesystem(self.access)
        pairs = [(path, self.keys[path]) for path in files]
        return input_cache.fetch(self.cache, self._fs, pairs, self.access.name, self._shown)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        if not self._used:
            return  # it fetched nothing (the workers fetch their own files)
        cache = self.cache
        self._log(
            f"input files from storage: {cache.stored} downloaded ({cache.bytes_stored} bytes), "
            f"{cache.hits} found in the cache {cache.root}"
        )


class _Wrapped:
    """A backend that hands its work to `inner`, changing what it says so."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    def start_worker(self, slot: int) -> int:
        return self._inner.start_worker(slot)

    def describe(self, worker: int) -> str:
        return self._inner.describe(worker)

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        self._inner.submit(worker, task)

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        return self._inner.take_back(worker, attempts)

    def poll(self, timeout: float) -> list[BackendEvent]:
        return self._inner.poll(timeout)

    def wake(self) -> None:
        self._inner.wake()

    def stop_worker(self, worker: int) -> None:
        self._inner.stop_worker(worker)

    def shutdown(self) -> None:
        self._inner.shutdown()


class KeyedBackend(_Wrapped):
    """A backend whose workers fetch their mini-batches' files themselves (Ray actors, each
    into the cache of its own machine): an attempt goes with its files' cache keys; a row
    range, with the key of the blob it is rows of."""

    def __init__(self, inner: Backend, keys: Mapping[str, str]) -> None:
        super().__init__(inner)
        self._keys = keys

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        keys = tuple(
            self._keys[parse(item).path if is_row_range(item) else item] for item in task.files
        )
        self._inner.submit(worker, dataclasses.replace(task, keys=keys))


class StagedBackend(_Wrapped):
    """A backend whose workers get their mini-batches once the files are local."""

    def __init__(
        self, inner: Backend, fetcher: Fetcher, batches: Sequence[tuple[str, ...]],
        skip: Callable[[int], bool], ahead: int, shown: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """`batches` may be a plan still growing (batchml.runner.plan.StreamedBatches): the
        fetching follows it, `ahead` mini-batches past the last handed out, skipping those
        `skip` says need no run (done, or in the result cache). `shown` maps folders in
        storage to how the user named them (see map_paths)."""
        super().__init__(inner)
        self._fetcher, self._batches, self._skip = fetcher, batches, skip
        self._shown = shown or {}
        # Per attempt given to a worker: its files' local paths, and how to show each.
        self._names: dict[tuple[int, int], dict[str, str]] = {}
        # The mini-batches to fetch, in the order the scheduler hands them out (retries
        # aside), as far as they are planned and looked at (`_looked`).
        self._order: list[int] = []
        self._position: dict[int, int] = {}
        self._looked = 0
        self._requested = 0  # positions in _order requested so far
        self._ahead = self._until = ahead  # fetched up to position _until of the order
        self._fetches: dict[int, Future[tuple[str, ...]]] = {}
        # Per worker: the attempts it was given that wait for their files, in order, and how
        # many it was handed that it has not reported on.
        self._waiting: defaultdict[int, deque[MiniBatchTask]] = defaultdict(deque)
        self._running: defaultdict[int, int] = defaultdict(int)
        self._prefetch()  # while the workers start

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        self._request(task.index)
        self._until = max(self._until, self._position.get(task.index, -1) + 1 + self._ahead)
        self._prefetch()
        self._waiting[worker].append(task)

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        """Gives none back (False): one sent ahead may be waiting here for its files, or be
        with the worker already."""
        return False

    def _request(self, index: int) -> None:
        fetch = self._fetches.get(index)
        # A fetch that failed for an attempt no worker took is tried again for the next one.
        if fetch is None or (fetch.done() and fetch.exception() is not None):
            self._fetches[index] = self._fetcher.request(self._batches[index])

    def _prefetch(self) -> None:
        """Request the mini-batches up to position `_until` of the order, as far as planned."""
        while self._requested < self._until and self._next_in_order():
            self._request(self._order[self._requested])
            self._requested += 1

    def _next_in_order(self) -> bool:
        """Whether the order holds a mini-batch at position `_requested`: planned mini-batches
        not skipped are added to it, as they are planned."""
        while self._requested >= len(self._order) and self._looked < len(self._batches):
            index, self._looked = self._looked, self._looked + 1
            if not self._skip(index):
                self._position[index] = len(self._order)
                self._order.append(index)
        return self._requested < len(self._order)

    def _hand_out(self) -> list[BackendEvent]:
        """Give workers the attempts whose files are local (FilesFetched: the timeout starts);
        a failed fetch fails its attempt once the worker reported on those before it."""
        events: list[BackendEvent] = []
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
                    events.append(TaskDone(worker, outcome))
                    continue
                waiting.popleft()
                del self._fetches[task.index]
                self._inner.submit(worker, dataclasses.replace(task, files=files))
                self._names[(task.index, task.attempt)] = {
                    local: map_paths(path, self._shown)
                    for local, path in zip(files, task.files, strict=True)
                }
                self._running[worker] += 1
                events.append(FilesFetched(worker, task.index, task.attempt))
        return events

    def poll(self, timeout: float) -> list[BackendEvent]:
        self._prefetch()  # the plan may have grown
        events = self._hand_out()
        if any(self._waiting.values()):
            timeout = min(timeout, _FETCH_POLL)
        for event in [] if events else self._inner.poll(timeout):
            if isinstance(event, TaskDone):
                self._running[event.worker] -= 1
                event = self._renamed(event)
            elif isinstance(event, WorkerLost):
                self._forget(event.worker)
            events.append(event)
        return events

    def _renamed(self, event: TaskDone) -> TaskDone:
        """`event` with the attempt's files named as in storage, not by their local paths."""
        outcome = event.outcome
        names = self._names.pop((outcome.index, outcome.attempt), {})
        return TaskDone(event.worker, outcome.with_files_named(names))

    def _forget(self, worker: int) -> None:
        self._waiting.pop(worker, None)
        self._running.pop(worker, None)

    def stop_worker(self, worker: int) -> None:
        self._forget(worker)
        self._inner.stop_worker(worker)

    def shutdown(self) -> None:
        self._inner.shutdown()
        self._fetcher.close()
