"""The job engine: plans mini-batches and decides retries, timeouts and when a job ends.

Policy only: where a mini-batch runs is a backend's business (batchml.backends). The engine
never prints; progress goes to the on_event callback and to the job's log files.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from batchml.backends.base import TaskDone, WorkerLost, WorkerStarted
from batchml.core.errors import UsageError
from batchml.runner.assembly import OutputAssembler
from batchml.runner.events import JobCounts, JobEvent, JobResult, JobStatus
from batchml.runner.logs import JobLogs
from batchml.runner.worker import MiniBatchOutcome, MiniBatchTask, WorkerConfig

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from batchml.backends.base import Backend, BackendEvent, BackendFactory
    from batchml.runner.events import EventKind
    from batchml.runner.spec import RunSettings, ScoringSpec

# The longest the engine waits before looking at the cancel event again.
_TICK_SECONDS = 0.2
# A mini-batch is sent ahead to a busy worker only if its paths are this short in all.
_SEND_AHEAD_MAX_CHARS = 16 * 1024
# Failed attempts kept, with their tracebacks, for error_detail and job_error.txt.
_KEPT_FAILURES = 5
NO_SUCCEEDED_ITEM = "There is no succeeded mini batch item returned from run()"


def plan_mini_batches(files: Sequence[Path | str], size: int) -> list[tuple[str, ...]]:
    """Split files, in the given order, into mini-batches of `size` absolute paths."""
    paths = [os.path.abspath(path) for path in files]
    return [tuple(paths[start : start + size]) for start in range(0, len(paths), size)]


def run_job(
    files: Sequence[Path | str],
    scoring: ScoringSpec,
    settings: RunSettings,
    *,
    output_dir: Path,
    logs_dir: Path,
    on_event: Callable[[JobEvent], None] | None = None,
    cancel: threading.Event | None = None,
    backend: BackendFactory | None = None,
) -> JobResult:
    """Score `files` with the scoring script, as an Azure ML batch deployment would.

    Blocks until the job ends and returns how it ended; a failing script gives a Failed result,
    not an exception. Setting `cancel` stops the workers and gives a Canceled result. `backend`
    builds the workers (default: local processes). Raises UsageError when there are no files
    and ConflictError when the append_row output file already exists, before anything runs.
    """
    started = time.monotonic()
    batches = plan_mini_batches(files, settings.mini_batch_size)
    if not batches:
        raise UsageError("the job has no input files")
    output_dir = output_dir.absolute()
    logs_dir = logs_dir.absolute()
    # Absolute before they reach workers, which change directory (and may run elsewhere).
    model_dir = scoring.model_dir.absolute() if scoring.model_dir is not None else None
    scoring = replace(scoring, code_dir=scoring.code_dir.absolute(), model_dir=model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if backend is None:
        # Imported here, not at the top: batchml.backends.local imports batchml.runner.
        from batchml.backends.local import LocalBackend

        backend = LocalBackend
    # Undone in reverse order: workers stopped, logs closed, temporary output removed.
    with ExitStack() as cleanup:
        assembler = None
        if settings.output_action == "append_row":
            assembler = OutputAssembler(output_dir / settings.output_file_name)
            cleanup.callback(assembler.close)
        logs = JobLogs(logs_dir)
        cleanup.callback(logs.close)
        parts_dir = assembler.parts_dir if assembler is not None else None
        workers = backend(WorkerConfig(scoring, output_dir, logs_dir, parts_dir))
        cleanup.callback(workers.shutdown)
        try:
            return _Scheduler(batches, settings, workers, logs, on_event, cancel).run(
                started, assembler
            )
        except BaseException as exc:
            logs.crashed(exc)
            raise


@dataclass
class _WorkerState:
    slot: int
    label: str
    ready: bool = False
    # The mini-batch the worker runs, since when, and the one sent ahead, which it takes next.
    task: MiniBatchTask | None = None
    started_at: float = 0.0
    queued: MiniBatchTask | None = None


@dataclass(frozen=True)
class _Stop:
    status: JobStatus
    error: str | None = None
    detail: str | None = None
    internal: bool = False


class _Scheduler:
    def __init__(
        self,
        batches: list[tuple[str, ...]],
        settings: RunSettings,
        backend: Backend,
        logs: JobLogs,
        on_event: Callable[[JobEvent], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self._batches = batches
        self._settings = settings
        self._backend = backend
        self._logs = logs
        self._on_event = on_event
        self._cancel = cancel
        self._assembler: OutputAssembler | None = None
        # (mini-batch index, attempt); retries go to the front so the output can move on.
        self._pending: deque[tuple[int, int]] = deque((index, 1) for index in range(len(batches)))
        self._workers: dict[int, _WorkerState] = {}
        self._counts = JobCounts(len(batches), sum(len(batch) for batch in batches))
        self._fatal: _Stop | None = None
        self._failures: list[str] = []
        self._first_failure: str | None = None
        self._failed_attempts = 0

    def run(self, started: float, assembler: OutputAssembler | None) -> JobResult:
        self._assembler = assembler
        settings = self._settings
        self._logs.note(
            f"{len(self._batches)} mini-batches created from {self._counts.files_total} files "
            f"(mini_batch_size {settings.mini_batch_size}, {settings.workers} workers)"
        )
        self._emit("job_started")
        stop = self._loop()
        # Idle workers exit cleanly, busy ones are terminated, while the output is published.
        for worker in list(self._workers):
            self._backend.stop_worker(worker)
        self._workers.clear()
        succeeded = self._counts.mini_batches_succeeded
        output_file = None
        if assembler is not None and stop.status != "Canceled" and succeeded:
            output_file = assembler.finish()
        result = JobResult(
            status=stop.status,
            counts=self._counts,
            elapsed_seconds=time.monotonic() - started,
            error=stop.error,
            error_detail=stop.detail,
            internal_error=stop.internal,
            output_file=output_file,
        )
        self._logs.finish(result, self._failures, self._failed_attempts)
        self._backend.shutdown()
        self._emit("job_finished")
        return result

    def _loop(self) -> _Stop:
        threshold = self._settings.error_threshold
        while True:
            if self._cancel is not None and self._cancel.is_set():
                return _Stop("Canceled")
            if self._fatal is not None:
                return self._fatal
            if threshold >= 0 and self._counts.files_failed > threshold:
                error = (
                    f"error_threshold exceeded: {self._counts.files_failed} failed files "
                    f"> {threshold}"
                )
                return _Stop("Failed", error, "\n".join(self._failures) or None)
            busy = sum(1 for state in self._workers.values() if state.task is not None)
            if not self._pending and not busy:
                break
            self._fit_workers(busy)
            self._dispatch()
            for event in self._backend.poll(self._wait_time()):
                self._handle(event)
            self._expire()
        if self._counts.items_succeeded == 0:
            cause = f" (first error: {self._first_failure})" if self._first_failure else ""
            detail = "\n".join(self._failures) or None
            return _Stop("Failed", NO_SUCCEEDED_ITEM + cause, detail)
        return _Stop("Completed")

    def _fit_workers(self, busy: int) -> None:
        # As many workers as there is work for: none are started, or replaced, only to idle.
        wanted = min(self._settings.workers, len(self._pending) + busy)
        used = {state.slot for state in self._workers.values()}
        free = (slot for slot in range(self._settings.workers) if slot not in used)
        while len(self._workers) < wanted:
            slot = next(free)
            worker = self._backend.start_worker(slot)
            self._workers[worker] = _WorkerState(slot, self._backend.describe(worker))
        # With nothing left to hand out, an idle worker may exit now rather than at the end:
        # a busy worker retries its own failures, and a lost one is replaced anyway.
        if not self._pending:
            for worker, state in list(self._workers.items()):
                if state.ready and state.task is None:
                    self._backend.stop_worker(worker)
                    del self._workers[worker]

    def _dispatch(self) -> None:
        ready = sorted((state.slot, w) for w, state in self._workers.items() if state.ready)
        for _, worker in ready:
            state = self._workers[worker]
            if state.task is None and self._pending:
                state.task = self._submit(worker)
                # The timeout clock starts now: an idle worker takes the mini-batch at once.
                state.started_at = time.monotonic()
                self._emit("mini_batch_started", state.task.index, state.task.attempt, state.slot)
        # One more mini-batch is sent ahead to each busy worker, so that it does not wait for
        # this process between mini-batches; only while workers still starting would not go
        # short, and only a small one, which never fills the channel to the worker.
        starting = sum(1 for state in self._workers.values() if not state.ready)
        for _, worker in ready:
            state = self._workers[worker]
            if state.task is None or state.queued is not None:
                continue
            if len(self._pending) <= starting or not self._small(self._pending[0][0]):
                return
            state.queued = self._submit(worker)

    def _submit(self, worker: int) -> MiniBatchTask:
        index, attempt = self._pending.popleft()
        task = MiniBatchTask(index, attempt, self._batches[index])
        self._backend.submit(worker, task)
        return task

    def _small(self, index: int) -> bool:
        return sum(map(len, self._batches[index])) <= _SEND_AHEAD_MAX_CHARS

    def _requeue_sent_ahead(self, state: _WorkerState) -> None:
        # The worker is gone before it took its queued mini-batch: no attempt was made.
        if state.queued is not None:
            self._pending.appendleft((state.queued.index, state.queued.attempt))
            state.queued = None

    def _wait_time(self) -> float:
        deadlines = [
            state.started_at + self._settings.timeout
            for state in self._workers.values()
            if state.task is not None
        ]
        until_deadline = min(deadlines, default=math.inf) - time.monotonic()
        return max(0.0, min(until_deadline, _TICK_SECONDS))

    def _handle(self, event: BackendEvent) -> None:
        state = self._workers.get(event.worker)
        if state is None:
            return  # a worker this engine already stopped
        if isinstance(event, WorkerStarted):
            if event.outcome.ok:
                state.ready = True
            else:
                del self._workers[event.worker]
                start = event.outcome
                self._fatal = _Stop("Failed", start.error, start.detail, start.internal)
        elif isinstance(event, TaskDone):
            received = time.monotonic()
            task, outcome = state.task, event.outcome
            if task is None or (outcome.index, outcome.attempt) != (task.index, task.attempt):
                raise RuntimeError(f"worker {state.slot} reported a mini-batch it was not given")
            if outcome.internal:
                self._fatal = _Stop("Failed", outcome.error, outcome.detail, internal=True)
            if outcome.ok:
                self._succeeded(task, state, outcome)
            else:
                self._failed(task, state, outcome.elapsed, outcome.error or "", outcome.detail)
            # The worker took its queued mini-batch as soon as it sent this outcome.
            state.task, state.queued, state.started_at = state.queued, None, received
            if state.task is not None:
                self._emit("mini_batch_started", state.task.index, state.task.attempt, state.slot)
        elif isinstance(event, WorkerLost):
            del self._workers[event.worker]
            self._requeue_sent_ahead(state)
            if not state.ready:
                error = f"worker {state.slot} died while starting ({event.reason})"
                self._fatal = _Stop("Failed", error)
            elif state.task is not None:
                elapsed = time.monotonic() - state.started_at
                error = f"worker {state.slot} died ({event.reason}) while running run()"
                self._failed(state.task, state, elapsed, error, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for worker, state in list(self._workers.items()):
            task = state.task
            if task is not None and now - state.started_at >= self._settings.timeout:
                self._backend.stop_worker(worker)
                del self._workers[worker]
                self._requeue_sent_ahead(state)
                error = f"run() exceeded the timeout of {self._settings.timeout:g} s"
                self._failed(task, state, now - state.started_at, error, None)

    def _succeeded(
        self, task: MiniBatchTask, state: _WorkerState, outcome: MiniBatchOutcome
    ) -> None:
        files, items = len(task.files), outcome.items
        # Azure: inputs minus returned items count as failures; extra items are allowed.
        shortfall = max(0, files - items)
        error = f"run() returned {items} items for {files} files" if shortfall else None
        if error is not None and self._first_failure is None:
            self._first_failure = f"mini-batch {task.index}, attempt {task.attempt}: {error}"
        self._logs.attempt(
            task.index, task.attempt, state.slot, state.label, outcome.elapsed,
            succeeded=True, items_succeeded=items, items_failed=shortfall, error=error,
        )  # fmt: skip
        self._counts = replace(
            self._counts,
            mini_batches_succeeded=self._counts.mini_batches_succeeded + 1,
            files_succeeded=self._counts.files_succeeded + files - shortfall,
            files_failed=self._counts.files_failed + shortfall,
            items_succeeded=self._counts.items_succeeded + items,
        )
        if self._assembler is not None:
            self._assembler.add(task.index, outcome.rows, outcome.part)
        self._logs.progress(self._counts)
        self._emit("mini_batch_succeeded", task.index, task.attempt, state.slot)

    def _failed(
        self,
        task: MiniBatchTask,
        state: _WorkerState,
        elapsed: float,
        error: str,
        detail: str | None,
    ) -> None:
        files = len(task.files)
        will_retry = task.attempt <= self._settings.max_retries and self._fatal is None
        self._failed_attempts += 1
        where = f"mini-batch {task.index}, attempt {task.attempt}"
        if self._first_failure is None:
            self._first_failure = f"{where}: {error}"
        if len(self._failures) < _KEPT_FAILURES:
            self._failures.append(f"{where} (worker {state.slot}): {error}\n{detail or ''}")
        self._logs.attempt(
            task.index, task.attempt, state.slot, state.label, elapsed,
            succeeded=False, items_succeeded=0, items_failed=files, error=error,
        )  # fmt: skip
        if will_retry:
            self._pending.appendleft((task.index, task.attempt + 1))
        else:
            self._counts = replace(
                self._counts,
                mini_batches_failed=self._counts.mini_batches_failed + 1,
                files_failed=self._counts.files_failed + files,
            )
            if self._assembler is not None:
                self._assembler.add(task.index)
            self._logs.progress(self._counts)
        self._emit(
            "mini_batch_failed", task.index, task.attempt, state.slot, error, will_retry=will_retry
        )

    def _emit(
        self,
        kind: EventKind,
        mini_batch: int | None = None,
        attempt: int | None = None,
        worker: int | None = None,
        error: str | None = None,
        *,
        will_retry: bool = False,
    ) -> None:
        if self._on_event is not None:
            event = JobEvent(kind, self._counts, mini_batch, attempt, worker, error, will_retry)
            self._on_event(event)
