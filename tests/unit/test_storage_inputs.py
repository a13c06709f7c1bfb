"""Inputs in storage, through their seams: the URL forms parsed, the input list's format, the
cache's bound, and the staging of mini-batches (fsspec's in-memory filesystem as the storage,
a recording backend as the workers)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, wait
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from batchml.backends.base import TaskDone
from batchml.core import storage_urls
from batchml.core.errors import BatchmlError
from batchml.core.storage_urls import StorageAccess, StorageUrl
from batchml.runner.staging import Fetcher, StagedBackend
from batchml.store import input_list
from batchml.store.input_cache import InputCache, parse_size
from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask, Status

if TYPE_CHECKING:
    from batchml.backends.base import BackendEvent

ACCOUNT = "https://acct.blob.core.windows.net"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("azureml://datastores/ds/paths/a/b", StorageUrl("datastore", "", "a/b", datastore="ds")),
        (
            "azureml://subscriptions/s/resourcegroups/g/workspaces/w/datastores/ds/paths/a/",
            StorageUrl("datastore", "", "a/", datastore="ds"),
        ),
        (
            f"{ACCOUNT}/data/in/x.csv",
            StorageUrl("azure", "", "in/x.csv", None, "acct", "core.windows.net", "data"),
        ),
        (
            "wasbs://data@acct.blob.core.windows.net/in/",
            StorageUrl("azure", "", "in", None, "acct", "core.windows.net", "data"),
        ),
        (
            "abfss://fs@acct.dfs.core.chinacloudapi.cn/in",
            StorageUrl("azure", "", "in", None, "acct", "core.chinacloudapi.cn", "fs"),
        ),
        ("https://example.org/files/", StorageUrl("http", "")),
        ("./data", None),
        ("azureml:heart@latest", None),
    ],
)
def test_the_storage_url_forms(value: str, parsed: StorageUrl | None) -> None:
    found = storage_urls.parse(value)
    if parsed is None:
        assert found is None
    else:
        assert found == StorageUrl(**{**parsed.__dict__, "url": value})


def read(folder: Path) -> tuple[str, list[input_list.Entry]]:
    listing = input_list.ListFile(folder)
    return listing.root, [entry for _, entry in listing.entries()]


def test_the_input_list_reads_back_what_was_written_in_order(tmp_path: Path) -> None:
    (tmp_path / "data" / "b").mkdir(parents=True)
    for name in ("b/z.txt", "a.txt", "b/a b.txt", "é.txt"):
        (tmp_path / "data" / name).write_text("x")
    (tmp_path / "data" / "b" / "link").symlink_to(tmp_path / "data" / "b")  # not followed
    (tmp_path / "data" / "a.txt").write_text("xyz")
    root = str(tmp_path / "data")
    files = [(path, "", size) for path, size in input_list.sized(root, input_list.walk(root))]
    input_list.write(tmp_path, str(tmp_path / "data"), files)

    assert read(tmp_path) == (
        str(tmp_path / "data"),
        [("a.txt", "", 3), ("b/a b.txt", "", 1), ("b/z.txt", "", 1), ("é.txt", "", 1)],
    )


def test_a_list_from_before_sizes_reads_without_them(tmp_path: Path) -> None:
    header = json.dumps({"format": 1, "root": "/data"}).encode()
    (tmp_path / input_list.LIST_FILE).write_bytes(header + b"\na.txt\0k1\0b.txt\0\0")

    assert read(tmp_path) == ("/data", [("a.txt", "k1", None), ("b.txt", "", None)])


def test_the_cache_keeps_the_files_used_last_within_its_bound(tmp_path: Path) -> None:
    cache = InputCache(tmp_path / "cache", limit=10)
    paths = []
    for index, key in enumerate(("k1", "k2", "k3")):
        temporary = cache.temporary()
        temporary.write_bytes(b"4444")
        paths.append(cache.store(temporary, key, "f.txt"))
        os.utime(paths[-1], (1000 + index, 1000 + index))
    assert cache.lookup("k1", "f.txt") == paths[0]  # used now: the most recent
    cache.trim(keep=set())

    assert [path.exists() for path in paths] == [True, False, True]
    assert not list((tmp_path / "cache" / "tmp").iterdir())
    assert parse_size("500mb") == 500_000_000 and parse_size("2 GB") == 2_000_000_000


class _Recording:
    """A backend whose workers take what they are given and report only when told."""

    def __init__(self) -> None:
        self.submitted: list[tuple[int, MiniBatchTask]] = []
        self.events: list[BackendEvent] = []

    def start_worker(self, slot: int) -> int:
        return slot

    def describe(self, worker: int) -> str:
        return str(worker)

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        self.submitted.append((worker, task))

    def poll(self, timeout: float) -> list[BackendEvent]:
        events, self.events = self.events, []
        return events

    def wake(self) -> None:
        pass

    def stop_worker(self, worker: int) -> None:
        pass

    def shutdown(self) -> None:
        pass


class _Flaky(MemoryFileSystem):
    broken = True

    def get(self, rpath, lpath, **kwargs):  # type: ignore[no-untyped-def]
        if self.broken and any("broken" in path for path in rpath):
            raise ConnectionError("connection reset by peer")
        return super().get(rpath, lpath, **kwargs)


class _Watched(Fetcher):
    """A Fetcher whose fetches a test can wait for."""

    requests: list[Future[tuple[str, ...]]]

    def request(self, files: tuple[str, ...]) -> Future[tuple[str, ...]]:
        future = super().request(files)
        self.requests.append(future)
        return future


def _poll_until(backend: StagedBackend, done: object) -> list[BackendEvent]:
    deadline, events = time.monotonic() + 30, []
    while not callable(done) or not done():
        events += backend.poll(0.05)
        if events or time.monotonic() > deadline:
            break
    return events


def test_a_failed_fetch_fails_its_attempt_in_turn_and_a_retry_fetches_only_what_is_missing(
    tmp_path: Path,
) -> None:
    storage = _Flaky(skip_instance_cache=True)
    storage.store = {}
    storage.pseudo_dirs = [""]
    storage.pipe({"/in/a": b"a", "/in/b": b"bb", "/in/broken": b"ccc"})
    keys = {path: f"key-{path[-1]}" for path in ("/in/a", "/in/b", "/in/broken")}
    lines: list[str] = []
    access = StorageAccess("memory", {}, "azureml://x")
    fetcher = _Watched(access, keys, InputCache(tmp_path / "cache"), lines.append, storage)
    fetcher.requests = []
    inner = _Recording()
    batches = [("/in/a", "/in/b"), ("/in/broken",)]
    staged = StagedBackend(inner, fetcher, batches, lambda _: False, ahead=1)
    staged.submit(0, MiniBatchTask(0, 1, batches[0]))
    staged.submit(0, MiniBatchTask(1, 1, batches[1]))  # sent ahead

    _poll_until(staged, lambda: len(inner.submitted) == 1)
    assert inner.submitted[0][0] == 0
    task = inner.submitted[0][1]
    assert [Path(path).read_text() for path in task.files] == ["a", "bb"]
    assert [os.path.basename(path) for path in task.files] == ["a", "b"]
    # The fetch of mini-batch 1 failed, but the worker has not reported on mini-batch 0 yet.
    wait([*fetcher.requests], timeout=30)
    assert isinstance(fetcher.requests[1].exception(), BatchmlError)
    assert staged.poll(0.01) == []
    inner.events.append(TaskDone(0, MiniBatchOutcome(0, 1, Status.SUCCEEDED, 0.1, items=2)))
    assert [event.outcome.index for event in staged.poll(0.01)] == [0]  # type: ignore[union-attr]
    failed = _poll_until(staged, None)

    assert len(failed) == 1 and isinstance(failed[0], TaskDone)
    assert (failed[0].outcome.index, failed[0].outcome.status) == (1, Status.FAILED)
    assert failed[0].outcome.error == ("azureml://x: storage error: connection reset by peer")
    storage.broken = False
    staged.submit(0, MiniBatchTask(1, 2, batches[1]))
    staged.submit(0, MiniBatchTask(0, 2, batches[0]))
    _poll_until(staged, lambda: len(inner.submitted) == 3)
    staged.shutdown()
    assert lines == [
        f"input files from storage: 3 downloaded (6 bytes), 2 found in the cache {tmp_path / 'cache'}"
    ]


def test_what_a_worker_says_of_its_files_names_them_as_in_storage(tmp_path: Path) -> None:
    storage = MemoryFileSystem(skip_instance_cache=True)
    storage.store, storage.pseudo_dirs = {}, [""]
    storage.pipe({"/c/in/a.csv": b"a", "/c/in/sub/b.csv": b"b"})
    keys = {"/c/in/a.csv": "key-a", "/c/in/sub/b.csv": "key-b"}
    access = StorageAccess("memory", {}, "azureml://datastores/ds/paths/in")
    fetcher = Fetcher(access, keys, InputCache(tmp_path / "cache"), lambda _: None, storage)
    inner = _Recording()
    batch = ("/c/in/a.csv", "/c/in/sub/b.csv")
    shown = {"/c/in/": "azureml://datastores/ds/paths/in/"}
    staged = StagedBackend(inner, fetcher, [batch], lambda _: False, ahead=1, shown=shown)
    staged.submit(0, MiniBatchTask(0, 1, batch))
    _poll_until(staged, lambda: len(inner.submitted) == 1)
    local_a, local_b = inner.submitted[0][1].files
    outcome = MiniBatchOutcome(
        0, 1, Status.SUCCEEDED, 0.1, items=1, error=f"could not read {local_a}",
        detail=f'Traceback ...\nValueError: {local_a}\n', failed_files=(f"{local_b}: bad",),
    )  # fmt: skip
    inner.events.append(TaskDone(0, outcome))
    (done,) = staged.poll(0.01)
    staged.shutdown()

    assert isinstance(done, TaskDone)
    assert done.outcome.error == "could not read azureml://datastores/ds/paths/in/a.csv"
    assert (
        done.outcome.detail == "Traceback ...\nValueError: azureml://datastores/ds/paths/in/a.csv\n"
    )
    assert done.outcome.failed_files == ("azureml://datastores/ds/paths/in/sub/b.csv: bad",)


def test_the_prefetch_follows_a_growing_plan_ahead_bounded_and_skips_what_needs_no_run(
    tmp_path: Path,
) -> None:
    storage = MemoryFileSystem(skip_instance_cache=True)
    storage.store, storage.pseudo_dirs = {}, [""]
    names = [f"/in/f{i}" for i in range(8)]
    storage.pipe({name: name.encode() for name in names})
    keys: dict[str, str] = {}
    access = StorageAccess("memory", {}, "azureml://x")
    fetcher = _Watched(access, keys, InputCache(tmp_path / "cache"), lambda _: None, storage)
    fetcher.requests = []
    batches: list[tuple[str, ...]] = []  # the plan, grown as a listing would

    def grow(count: int) -> None:
        for name in names[len(batches) : count]:
            keys[name] = f"key-{name}"
            batches.append((name,))

    grow(1)
    staged = StagedBackend(_Recording(), fetcher, batches, lambda index: index == 2, ahead=2)
    assert len(fetcher.requests) == 1  # all that is planned
    grow(8)
    staged.poll(0)
    assert len(fetcher.requests) == 2  # as many as `ahead`, before any is handed out
    staged.submit(0, MiniBatchTask(0, 1, batches[0]))
    wait(fetcher.requests, timeout=30)
    fetched = [os.path.basename(request.result()[0]) for request in fetcher.requests]
    # Two past mini-batch 0, the one handed out; 2 needs no run (done, or in the result cache).
    assert fetched == ["f0", "f1", "f3"]
    staged.shutdown()
