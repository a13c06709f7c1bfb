"""A runner's hold on its job's record: read once when the runner starts, kept current in
job.json (each write under the job's lock), and ended however the run ends. Both runners, of
batch scoring jobs (batchml.runner.process) and of pipeline jobs (batchml.runner.pipeline),
keep their job this way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from batchml.core.errors import BatchmlError
from batchml.core.job_record import JobRecord, JobStatus
from batchml.mlflow import tracking
from batchml.store import job_files as job_store
from batchml.store.workspace import Workspace, now_iso
from batchml.worker.lifetime import end_descendants

# Throttled writes of the record are at most this often (see JobLifecycle.update).
SAVE_INTERVAL = 0.5

_Job = TypeVar("_Job", bound=JobRecord)


class Canceled(Exception):
    """A cancel that arrived while the runner was in an interruptible step (see
    JobLifecycle.interruptible)."""


def save(workspace: Workspace, job: JobRecord) -> None:
    """Write a job's record under its lock."""
    with job_store.job_lock(workspace, job.name):
        job_store.save(workspace, job)


class JobLifecycle(Generic[_Job]):
    """The record of the job a runner runs, and the event that cancels it (set by SIGTERM, or
    by a cancel requested before the runner started)."""

    def __init__(
        self,
        folder: Path,
        kind: type[_Job],
        what: str,
        child_runs: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """`child_runs()`: the run ids of the job's child runs (a pipeline's steps), whose
        registered models are the job's too."""
        self.folder = folder
        self.child_runs = child_runs
        self.workspace = Workspace(folder.parent.parent)
        job = job_store.get(self.workspace, folder.name)
        if not isinstance(job, kind):
            raise BatchmlError(f"job '{folder.name}' is not a {what}")
        self._job: _Job = job
        # What makes the record from the latest progress, held back by update_later().
        self._build: Callable[[], _Job] | None = None
        self.cancel = threading.Event()
        self._saved_at = 0.0
        # Reentrant: a save reads `job`, which may build the record first.
        self._saving = threading.RLock()
        self._flush: threading.Timer | None = None
        self._interruptible = False
        self._run: tracking.TrackedRun | None = None
        self._opening: Future[tracking.TrackedRun | None] | None = None
        self._say: Callable[[str], None] = print

    def open_run(self, say: Callable[[str], None]) -> None:
        """Open the job's MLflow run (batchml.mlflow.tracking) in the workspace's store, the run
        it had for a resumed job, in a thread: importing MLflow takes seconds, which pass while
        the job prepares. `run` waits for it; tracking off or failing is said to `say`."""
        self._say = say
        pool = ThreadPoolExecutor(1, thread_name_prefix="tracking")
        self._opening = pool.submit(self._opened, say, self.job)
        pool.shutdown(wait=False)

    def run_variables(self) -> Future[dict[str, str]]:
        """The environment variables of the job's run once it is open (none if untracked),
        for workers that start before it is: they need not wait for MLflow."""
        variables: Future[dict[str, str]] = Future()

        def known(run: tracking.TrackedRun | None) -> None:
            variables.set_result(run.variables() if run is not None else {})

        def opened(opening: Future[tracking.TrackedRun | None]) -> None:
            # Even if opening failed outside `guarded` (its error comes out of `run`): the
            # workers wait for this, and a callback's error would be dropped, not raised.
            known(None if opening.exception() is not None else opening.result())

        if self._opening is None:
            known(self._run)
        else:
            self._opening.add_done_callback(opened)
        return variables

    def settle_run(self) -> None:
        """Record the job's run in the job if it has opened by now (see `run`); never waits."""
        if self._opening is not None and self._opening.done():
            _ = self.run

    @property
    def run(self) -> tracking.TrackedRun | None:
        """The job's run once open_run() has opened it (waiting for that), recorded in the
        job; None when it is untracked. Its end comes with the job's (finish())."""
        if self._opening is not None:
            opening, self._opening = self._opening, None
            self._run = opening.result()
            if self._run is not None:
                run = self._run
                self.update(dataclasses.replace(self.job, mlflow_run_id=run.run_id))
                self._say(
                    f"MLflow run {run.run_id} in experiment {run.experiment_name}; tracking "
                    f"URI {run.store.uri}"
                )
        return self._run

    def _opened(self, say: Callable[[str], None], job: _Job) -> tracking.TrackedRun | None:
        reason = tracking.unavailable()
        if reason is not None:
            say(reason)
            return None

        def opened() -> tracking.TrackedRun:
            store = tracking.TrackingStore(self.workspace.root)
            return store.start(job.experiment_name, job.name, run_id=job.mlflow_run_id)

        run: tracking.TrackedRun | None = tracking.guarded(say, opened, "opening the job's run")
        return run

    def request_cancel(self) -> None:
        """Cancel the job (a signal handler calls this, in the main thread): set `cancel`, and
        inside interruptible() raise Canceled there, which stops what it waits for."""
        self.cancel.set()
        if self._interruptible:
            self._interruptible = False
            raise Canceled

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A blocking step (an environment build) that a cancel stops at once with Canceled,
        its subprocesses killed on the way out, rather than when it is done."""
        if self.cancel.is_set():
            raise Canceled
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    @property
    def job(self) -> _Job:
        """The record, as last updated."""
        with self._saving:
            build, self._build = self._build, None
            if build is not None:
                self._job = build()
            return self._job

    def update(self, job: _Job, *, throttled: bool = False) -> None:
        """Make `job` the record and write it; `throttled`, at most every SAVE_INTERVAL
        seconds: one held back is written by a timer when the interval is up, so that what
        `job stream` shows never lags by more than that."""
        with self._saving:
            self._job, self._build = job, None
        self._write(throttled=throttled)

    def update_later(self, build: Callable[[], _Job]) -> None:
        """As update(build(), throttled=True), but build() (which may read `job`) is called
        only when the record is read or written: progress comes far more often than the
        record is written (twice per mini-batch), and most records built would never be."""
        # Held back already, by this same build: the save that is due calls it then, with
        # the latest progress (before it builds, a save clears _flush, which is read first).
        if self._flush is not None and self._build == build:
            return
        with self._saving:
            self._build = build
        self._write(throttled=True)

    def _write(self, *, throttled: bool) -> None:
        wait = self._saved_at + SAVE_INTERVAL - time.monotonic()
        if not throttled or wait <= 0:
            self._save()
        elif self._flush is None:
            self._flush = threading.Timer(wait, self._save, kwargs={"by_timer": True})
            self._flush.daemon = True
            self._flush.start()

    def _save(self, *, by_timer: bool = False) -> None:
        with self._saving:
            if self._flush is not None and not by_timer:
                self._flush.cancel()  # this save writes what it held back
            elif by_timer and self._flush is None:
                return  # saved meanwhile: nothing is written after the job's last record
            self._flush = None
            save(self.workspace, self.job)
            self._saved_at = time.monotonic()

    def begin(self, job: _Job, status: JobStatus = JobStatus.RUNNING) -> None:
        """Record `job` held by this process (Running, or Preparing while its environment is
        made ready), and take a cancel requested before."""
        self.update(
            dataclasses.replace(
                job,
                runner_pid=os.getpid(),
                status=status,
                start_time=job.start_time or now_iso(),
                end_time=None,
                error=None,
            )
        )
        if (self.folder / job_store.CANCEL_FILE).exists():
            self.cancel.set()

    def finish(self, job: _Job, status: JobStatus, error: str | None) -> int:
        """End every process the job left behind, then record how the job ended (on `job`,
        the record with the run's last changes); the runner's exit code: 0 if it Completed."""
        # What a scoring script or a step started and left running (daemons, setsid children,
        # forks) came to this runner, its subreaper: it ends with the job.
        end_descendants()
        run = self.run  # opened by now, whatever stopped the job
        if run is not None:
            job = dataclasses.replace(job, mlflow_run_id=run.run_id)
            tracking.guarded(
                self._say, lambda: self._import_models(run), "importing the models it registered"
            )
            tracking.guarded(self._say, lambda: run.end(status, job.metrics()), "ending the run")
        self.update(dataclasses.replace(job, status=status, error=error, end_time=now_iso()))
        return 0 if status == JobStatus.COMPLETED else 1

    def _import_models(self, run: tracking.TrackedRun) -> None:
        """The models the job's runs registered with MLflow become batchml's (however the job
        ended: a registered model is registered), each said in the job's log."""
        from batchml.mlflow import registry

        runs = [run.run_id, *self.child_runs()]
        for done in registry.import_registered(
            run.store, self.workspace, runs, run.start_time, self._say
        ):
            self._say(
                f"MLflow model {done.name} version {done.mlflow_version} registered by the job: "
                f"batchml model azureml:{done.name}:{done.version}"
            )

    def crashed(self, exc: BaseException) -> int:
        """Record the job Failed by an error of the runner's own (its traceback goes to the
        runner's output); the runner's exit code."""
        traceback.print_exc()
        if isinstance(exc, BatchmlError):
            message = exc.message
        else:
            message = f"the runner failed: {type(exc).__name__}: {exc}"
        return self.finish(self.job, JobStatus.FAILED, message)
