"""The worker side of the Ray backend: a ScoringWorker inside a Ray actor.

The actor gets the deployment's code and model folders as zip bytes from the object store and
unpacks them into a folder of its own, so a node needs no shared folder for them; inputs in
storage it fetches itself, mini-batch by mini-batch, into its machine's input cache
(batchml.store.input_cache; the node's Python needs the `azure` extra for that): whole files,
or the row ranges of a table's blobs (batchml.store.blob_ranges), as the runner stages them
for local workers. Each worker
then runs as the local backend's do: fd 1 and 2 go to the job's log files, init() once, run()
per mini-batch. This module is imported by Ray inside the actor's process; it never imports
ray at the top, so that batchml can import it without the extra.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import sys
import tempfile
import traceback
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from batchml.core.errors import BatchmlError
from batchml.core.failures import map_paths
from batchml.core.row_ranges import is_row_range, parse
from batchml.store import input_cache, remote
from batchml.store.blob_ranges import AzureBlob, Blob, HttpFile, local_item
from batchml.store.input_cache import InputCache
from batchml.worker.lifetime import alive
from batchml.worker.messages import MiniBatchOutcome, StartOutcome, Status, WorkerLogPaths
from batchml.worker.scoring import ScoringWorker, redirect_std_streams, release_script

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from azure.storage.blob import ContainerClient
    from fsspec import AbstractFileSystem

    from batchml.core.storage_urls import StorageAccess
    from batchml.worker.messages import MiniBatchTask, WorkerConfig

_P = ParamSpec("_P")
_T = TypeVar("_T")
Outcome = TypeVar("Outcome", StartOutcome, MiniBatchOutcome)
# An actor's folder is <temp>/batchml-ray-<pid>-<random>; the pid tells whether it is in use.
_PREFIX = "batchml-ray-"


def pack(folder: Path) -> bytes:
    """The files of `folder` as zip bytes, paths relative to it. Stored, not compressed:
    a model is mostly incompressible, and compressing costs more than sending."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root, name)
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    """Unpack what pack() made into `folder`, keeping the files' permission bits."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, folder))
            mode = info.external_attr >> 16
            if mode:
                path.chmod(mode & 0o7777)


def sweep(parent: Path) -> None:
    """Remove the folders of this node's actors that are gone: ray.kill gives them no time to."""
    for folder in parent.glob(f"{_PREFIX}*"):
        pid = folder.name[len(_PREFIX) :].partition("-")[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class _ScriptExitHandlers:
    """The atexit handlers the scoring script registers, run when the actor is closed.

    Ray reports an actor ended before its process has run its atexit handlers, so handlers
    that finish outputs would race with the end of the job. Only those registered while the
    script runs (import, init(), run()) are taken: Ray's own end the actor, and run at exit.
    """

    def __init__(self) -> None:
        self._handlers: list[tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]] = []

    @contextlib.contextmanager
    def capturing(self) -> Iterator[None]:
        original = atexit.register

        def register(
            func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
        ) -> Callable[_P, _T]:
            self._handlers.append((func, args, kwargs))
            return original(func, *args, **kwargs)

        atexit.register = register
        try:
            yield
        finally:
            atexit.register = original

    def run(self) -> None:
        """Run them newest first, as Python does at exit, and never again."""
        while self._handlers:
            func, args, kwargs = self._handlers.pop()
            atexit.unregister(func)
            try:
                func(*args, **kwargs)
            except Exception:  # user code, as at exit: reported, and the next one runs
                print(f"Exception ignored in atexit callback: {func!r}", file=sys.stderr)
                traceback.print_exc()


@dataclass(frozen=True)
class Fetched:
    """What ScoringActor.fetch() says: whether the files of attempt `attempt` of mini-batch
    `index` are local now."""

    index: int
    attempt: int
    local: bool


class ScoringActor:
    """One worker of a job, as a Ray actor: start() once, then score() per mini-batch."""

    def __init__(self, config: WorkerConfig, slot: int) -> None:
        self._config = config
        self._slot = slot
        self._worker: ScoringWorker | None = None
        self._folder: Path | None = None
        self._exit_handlers = _ScriptExitHandlers()
        # Opened on first use: the input cache, the filesystem that downloads whole files and
        # the clients that read row ranges, by container.
        self._cache: InputCache | None = None
        self._fs: AbstractFileSystem | None = None
        self._containers: dict[str, ContainerClient] = {}
        # By (index, attempt): the local paths fetch() gave, or why it could not.
        self._fetched: dict[tuple[int, int], tuple[str, ...] | str] = {}

    def start(self, code: bytes, model: bytes | None) -> StartOutcome:
        """Open the logs, unpack the code and model, import the script and call its init()."""
        import ray

        node = ray.util.get_node_ip_address()
        paths = WorkerLogPaths.for_worker(self._config.logs_dir, node, self._slot)
        try:
            redirect_std_streams(paths)
        except OSError as exc:
            error = (
                f"worker {self._slot} on node {node} could not open the job's logs: {exc} "
                "(on a Ray cluster, the workspace must be on a path every node sees)"
            )
            return StartOutcome(Status.FAILED, error=error)
        try:
            config = self._unpack(code, model)
        except OSError as exc:
            error = f"worker {self._slot} on node {node} could not unpack the code and model: {exc}"
            return StartOutcome(Status.INTERNAL_ERROR, error=error)
        self._worker = ScoringWorker(config, self._slot, paths.error)
        with self._exit_handlers.capturing():
            return self._as_job_paths(self._worker.start())

    def _unpack(self, code: bytes, model: bytes | None) -> WorkerConfig:
        parent = Path(tempfile.gettempdir())
        sweep(parent)
        folder = self._folder = Path(
            tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=parent)
        )
        unpack(code, folder / "code")
        model_dir = None
        if model is not None:
            model_dir = folder / "model"
            unpack(model, model_dir)
        parts_dir = None
        if self._config.parts_dir is not None:
            parts_dir = folder / "parts"
            parts_dir.mkdir()
        scoring = replace(self._config.scoring, code_dir=folder / "code", model_dir=model_dir)
        return replace(self._config, scoring=scoring, parts_dir=parts_dir)

    def fetch(self, task: MiniBatchTask) -> Fetched:
        """Fetch the files of `task` from storage for the score() call that follows it, and
        say whether they are local (the driver starts the attempt's timeout then); if not,
        that score() reports why."""
        try:
            files: tuple[str, ...] | str = self._fetch(task)
        except (BatchmlError, OSError) as exc:
            files = getattr(exc, "message", None) or f"fetching input files: {exc}"
        self._fetched[(task.index, task.attempt)] = files
        return Fetched(task.index, task.attempt, local=not isinstance(files, str))

    def score(self, task: MiniBatchTask) -> MiniBatchOutcome:
        """Run one mini-batch. Rows always come back with the outcome, through the object
        store: a part file on this node would not be reachable from the job's process. What
        run() says of the files that fetch() fetched names them by their paths in storage."""
        if self._worker is None:
            raise RuntimeError("score() called before a successful start()")
        names: dict[str, str] = {}
        if task.keys:
            if (task.index, task.attempt) not in self._fetched:
                self.fetch(task)
            files = self._fetched.pop((task.index, task.attempt))
            if isinstance(files, str):
                return MiniBatchOutcome(task.index, task.attempt, Status.FAILED, 0.0, error=files)
            shown = self._config.storage_names
            names = {
                local: map_paths(path, shown) for local, path in zip(files, task.files, strict=True)
            }
            task = replace(task, files=files, keys=())
        with self._exit_handlers.capturing():
            outcome = self._as_job_paths(self._worker.score(task)).with_files_named(names)
        if outcome.part is None:
            return outcome
        part = Path(outcome.part)
        try:
            rows = part.read_bytes()
            part.unlink()
        except OSError as exc:
            return replace(
                outcome,
                status=Status.INTERNAL_ERROR,
                part=None,
                error=f"internal error in worker {self._slot}: could not read its rows: {exc}",
            )
        return replace(outcome, rows=rows, part=None)

    def _as_job_paths(self, outcome: Outcome) -> Outcome:
        """The outcome's traceback naming the job's code folder, not this node's unpacked copy,
        as a local worker's does (the job's failure records map that to the user's folder)."""
        if outcome.detail is None or self._folder is None:
            return outcome
        folders = {str(self._folder / "code"): str(self._config.scoring.code_dir)}
        return replace(outcome, detail=map_paths(outcome.detail, folders))

    def _fetch(self, task: MiniBatchTask) -> tuple[str, ...]:
        """The files of `task`, fetched from storage into this machine's input cache."""
        access = self._config.storage
        if access is None:
            raise RuntimeError("a mini-batch in storage, but no storage to fetch it from")
        cache = self._cache = self._cache or InputCache()
        stored, hits = cache.stored, cache.hits
        if is_row_range(task.files[0]):
            files = tuple(
                local_item(cache, self._blob(access, parse(item).path, key), item)
                for item, key in zip(task.files, task.keys, strict=True)
            )
        else:
            self._fs = self._fs or remote.filesystem(access)
            pairs = list(zip(task.files, task.keys, strict=True))
            names = self._config.storage_names
            files = input_cache.fetch(cache, self._fs, pairs, access.name, names)
        print(
            f"mini-batch {task.index}: {cache.stored - stored} input files downloaded, "
            f"{cache.hits - hits} found in the cache {cache.root}",
            file=sys.stderr,
            flush=True,
        )
        return files

    def _blob(self, access: StorageAccess, path: str, key: str) -> Blob:
        """The blob at `path` (`<container>/<name>`), whose row ranges this actor reads itself
        by ranged downloads, as the runner does for local workers (a file at an http URL by
        Range requests)."""
        size = self._config.blob_sizes[path]
        shown = map_paths(path, self._config.storage_names)
        if access.protocol == remote.HTTP:
            return HttpFile(path, key, size, shown)
        name = path.partition("/")[0]
        if name not in self._containers:
            self._containers[name] = remote.container_client(access, name)
        return AzureBlob(self._containers[name], path, key, size, shown)

    def close(self) -> None:
        """Exit as a worker process does, and finish before this call returns: the script's
        atexit handlers run, then its modules are emptied (which closes the files it kept
        open), then the actor's folder goes. So the job's outputs are complete once the driver
        has seen this call end."""
        import ray

        self._exit_handlers.run()
        if self._folder is not None:
            release_script(str(self._folder / "code"))
            shutil.rmtree(self._folder, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        ray.actor.exit_actor()
