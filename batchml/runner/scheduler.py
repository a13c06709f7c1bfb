"""The job engine: decides what runs where, retries, timeouts and when a job ends.

Policy only: where a mini-batch runs is a backend's business (batchml.backends). The engine
never prints; progress goes to the on_event callback and to the job's log files. Time comes
from an injectable clock, so that the policy can be tested against a fake backend whose
mini-batches take no real time, timeouts included.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from batchml.backends.base import FilesFetched, TakenBack, TaskDone, WorkerLost, WorkerStarted
from batchml.core import failures as records
from batchml.core.errors import BatchmlError
from batchml.runner.assembly import publish
from batchml.runner.events import JobEvent, JobResult, JobStatus
from batchml.runner.journal import JournalError
from batchml.runner.plan import StreamedBatches
from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask, Status

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Container, Iterator, Sequence
    from pathlib import Path
    from typing import Any

    from batchml.backends.base import Backend, BackendEvent
    from batchml.core.run_settings import RunSettings
    from batchml.runner.events import EventKind
    from batchml.runner.logs import JobLogs
    from batchml.runner.tally import Succeeded, Tally

# The longest the engine waits before looking at the cancel event again.
_TICK_SECONDS = 0.2
# Mini-batches are sent ahead to a busy worker only while their paths are this short in all.
_SEND_AHEAD_MAX_CHARS = 16 * 1024
# How much of a worker's work is sent ahead to it at most, as the time its last mini-batch
# took: a worker whose mini-batches take no time gets several at once (one message, with a
# backend that sends them so), and then no wait for this process between them.
_AHEAD_SECONDS = 0.02
NO_SUCCEEDED_ITEM = "There is no succeeded mini batch item returned from run()"


@dataclass
class _WorkerState:
    slot: int
    label: str
    ready: bool = False
    # The mini-batch the worker runs, since when (None while its files are fetched), and those
    # sent ahead, which it takes next in order, with those of them whose files are local.
    task: MiniBatchTask | None = None
    started_at: float | None = 0.0
    queued: deque[MiniBatchTask] = field(default_factory=deque)
    fetched: set[tuple[int, int]] = field(default_factory=set)
    # How long its last mini-batch's run() took (None: none ran yet).
    last_elapsed: float | None = None
    # Whether it was asked to give back those sent ahead (for an idle worker) and has not
    # answered yet.
    taking_back: bool = False


@dataclass(frozen=True)
class _Stop:
    status: JobStatus
    error: str | None = None
    detail: str | None = None
    internal: bool = False


class _Pending:
    """The (mini-batch index, attempt) pairs to hand out: retries and mini-batches sent back,
    at the front, then the first attempts in order, walked by a cursor past those done before
    (not listed: a job may have millions)."""

    def __init__(self, count: int, done: Callable[[int], bool]) -> None:
        self._front: deque[tuple[int, int]] = deque()
        self._next, self._done = 0, done
        self._count = self._left = 0
        self.grow(count)

    def __len__(self) -> int:
        return len(self._front) + self._left

    def grow(self, count: int) -> None:
        """There are `count` mini-batches now (more were planned while the input is listed)."""
        done = self._done
        self._left += sum(1 for index in range(self._count, count) if not done(index))
        self._count = max(count, self._count)

    def appendleft(self, pair: tuple[int, int]) -> None:
        self._front.appendleft(pair)

    def first(self) -> int:
        """The index of the mini-batch popleft would give."""
        if self._front:
            return self._front[0][0]
        while self._done(self._next):
            self._next += 1
        return self._next

    def peek(self) -> tuple[int, int]:
        """The pair popleft would give, left in place."""
        return self._front[0] if self._front else (self.first(), 1)

    def drop(self, pair: tuple[int, int]) -> None:
        """Take away `pair`, which peek gave (and which may be done since)."""
        if self._front:
            assert self._front[0] == pair
            self._front.popleft()
        else:
            assert pair == (self._next, 1)
            self._next, self._left = self._next + 1, self._left - 1

    def popleft(self) -> tuple[int, int]:
        if self._front:
            return self._front.popleft()
        if not self._left:
            raise IndexError("no mini-batch left to hand out")
        index = self.first()
        self._next, self._left = index + 1, self._left - 1
        return index, 1


class Scheduler:
    """Runs a planned job's mini-batches on a backend's workers until the job ends."""

    def __init__(
        self,
        batches: Sequence[tuple[str, ...]],
        settings: RunSettings,
        backend: Backend,
        logs: JobLogs,
        tally: Tally,
        on_event: Callable[[JobEvent], None] | None,
        cancel: threading.Event | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        fetches: bool = False,
        ahead: int = 1,
    ) -> None:
        """With `fetches`, the backend fetches each attempt's files before its worker gets
        it and says so (FilesFetched): the attempt's timeout starts then, not before. A busy
        worker is sent up to `ahead` mini-batches ahead, as many as it runs in _AHEAD_SECONDS
        (one until it reported on one)."""
        self._batches = batches
        self._fetches = fetches
        self._settings = settings
        self._backend = backend
        self._logs = logs
        self._tally = tally
        self._on_event = on_event
        self._cancel = cancel
        self._clock = clock
        self._ahead = ahead
        # Whether the backend's workers give back mini-batches sent ahead (until one said no).
        self._takes_back = True
        # (mini-batch index, attempt); retries go to the front so the output can move on.
        self._pending = _Pending(len(batches), tally.is_done)
        self._workers: dict[int, _WorkerState] = {}
        self._fatal: _Stop | None = None
        # Workers of each slot that died while starting (before init() returned).
        self._lost_starting: Counter[int] = Counter()
        self._looked_up: tuple[int, tuple[str, ...]] = (-1, ())
        tally.on_recorded = self._recorded

    def run(self, started: float, output_file: Path | None) -> JobResult:
        """Run the job to its end; `started` is when it started, on this scheduler's clock."""
        counts = self._tally.counts
        if self._tally.listing:
            self._logs.note(
                "Listing the input files: mini-batches are handed out as they are planned"
            )
        else:
            self._note_planned()
        if counts.mini_batches_resumed:
            self._logs.note(
                f"Resumed: {counts.mini_batches_resumed} mini-batches done before are kept "
                f"({counts.mini_batches_succeeded} succeeded, {counts.mini_batches_failed} "
                f"failed); {len(self._pending)} to run"
            )
        self._emit("job_started")
        with self._woken_by_listing():
            stop = self._loop()
        if not self._journaled(self._tally.journal_held) and self._fatal is not None:
            stop = self._fatal
        reused = self._tally.counts.mini_batches_reused
        if reused:
            self._logs.note(
                f"Reused: {reused} mini-batches scored by earlier jobs (same files, code, "
                "model and environment)"
            )
        # Idle workers exit cleanly, busy ones are terminated, while the output is published.
        for worker in list(self._workers):
            self._backend.stop_worker(worker)
        self._workers.clear()
        self._emit("job_finalizing")
        stop, published = self._finalize(stop, output_file)
        result = JobResult(
            status=stop.status,
            counts=self._tally.counts,
            elapsed_seconds=self._clock() - started,
            error=stop.error,
            error_detail=stop.detail,
            internal_error=stop.internal,
            output_file=published,
        )
        self._logs.finish(result)
        self._backend.shutdown()
        self._emit("job_finished")
        return result

    @contextmanager
    def _woken_by_listing(self) -> Iterator[None]:
        """While in this block, the listing thread ends the wait for workers' events when it
        planned more mini-batches, ended or failed, so that they are handed out at once."""
        batches = self._batches
        if not isinstance(batches, StreamedBatches):
            yield
            return
        batches.call_on_grown(self._backend.wake)
        try:
            yield
        finally:
            batches.call_on_grown(None)

    def _note_planned(self) -> None:
        settings = self._settings
        self._logs.note(
            f"{len(self._batches)} mini-batches created from {self._tally.counts.files_total} "
            f"files (mini_batch_size {settings.mini_batch_size}, {settings.workers} workers)"
        )

    def _list_more(self) -> None:
        """Take the mini-batches planned since, of an input still listed; when the listing
        ends, the totals are known (and the journal's plan). Failing to list fails the job."""
        batches = self._batches
        if not self._tally.listing or not isinstance(batches, StreamedBatches):
            return
        if isinstance(batches.error, BatchmlError):
            self._fatal = _Stop(JobStatus.FAILED, batches.error.message)
            return
        if batches.error is not None:
            raise batches.error
        ended = not batches.listing  # before the count: the last mini-batch closes with it
        self._pending.grow(len(batches))
        if ended and self._journaled(self._tally.listed):
            self._note_planned()

    def _finalize(self, stop: _Stop, output_file: Path | None) -> tuple[_Stop, Path | None]:
        """Put the journal on disk and, unless canceled, publish what succeeded."""
        journal = self._tally.journal
        if journal.broken:
            return stop, None
        try:
            if (
                output_file is None
                or stop.status == JobStatus.CANCELED
                or not self._tally.counts.mini_batches_succeeded
            ):
                journal.commit()
                return stop, None
            return stop, publish(journal, output_file)
        except BatchmlError as exc:
            error = exc.message
        except OSError as exc:
            error = f"could not write the output file {output_file}: {exc.strerror or exc}"
        return _Stop(
            JobStatus.FAILED, f"{stop.error}; {error}" if stop.error else error, stop.detail
        ), None

    def _loop(self) -> _Stop:
        tally = self._tally
        while True:
            if self._cancel is not None and self._cancel.is_set():
                return _Stop(JobStatus.CANCELED)
            if self._fatal is not None:
                return self._fatal
            if self._over_threshold():
                error = (
                    f"error_threshold exceeded: {tally.counts.files_failed} failed files "
                    f"> {self._settings.error_threshold}"
                )
                return _Stop(JobStatus.FAILED, error, self._logs.errors_text() or None)
            self._list_more()
            self._take_reused()
            busy = sum(1 for state in self._workers.values() if state.task is not None)
            more = self._tally.listing
            if not self._pending and not busy and not more:
                break
            self._fit_workers(busy)
            self._dispatch()
            for event in self._backend.poll(self._wait_time()):
                self._handle(event)
                # A poll gives every outcome a worker sent: none counts once the job ends
                # (it runs again on resume), as when each came in a poll of its own.
                if self._fatal is not None or self._over_threshold():
                    break
            self._journaled(tally.journal.commit_due)
            self._expire()
        if tally.counts.items_succeeded == 0:
            cause = f" (first error: {tally.first_failure})" if tally.first_failure else ""
            return _Stop(
                JobStatus.FAILED, NO_SUCCEEDED_ITEM + cause, self._logs.errors_text() or None
            )
        return _Stop(JobStatus.COMPLETED)

    def _over_threshold(self) -> bool:
        threshold = self._settings.error_threshold
        return threshold >= 0 and self._tally.counts.files_failed > threshold

    def _journaled(self, write: Callable[..., None], *args: Any, **kwargs: Any) -> bool:
        """Call a method that writes the journal; if it fails, the job fails with its error."""
        try:
            write(*args, **kwargs)
        except JournalError as exc:
            self._fatal = _Stop(JobStatus.FAILED, exc.message)
            return False
        return True

    def _fit_workers(self, busy: int) -> None:
        # As many workers as there is work for: none are started, or replaced, only to idle
        # (while the input is listed, there will be work for all).
        more = self._tally.listing
        wanted = (
            self._settings.workers
            if more
            else min(self._settings.workers, len(self._pending) + busy)
        )
        used = {state.slot for state in self._workers.values()}
        free = (slot for slot in range(self._settings.workers) if slot not in used)
        while len(self._workers) < wanted:
            slot = next(free)
            worker = self._backend.start_worker(slot)
            self._workers[worker] = _WorkerState(slot, self._backend.describe(worker))
        # With nothing left to hand out, an idle worker may exit now rather than at the end:
        # a busy worker retries its own failures, and a lost one is replaced anyway; but not
        # while it may be given mini-batches that a busy worker was sent ahead.
        if not self._pending and not more and not self._sent_ahead_to_take():
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
                # The timeout clock starts now: an idle worker takes the mini-batch at once
                # (once its files are local, when the backend fetches them).
                state.started_at = None if self._fetches else self._clock()
                self._emit("mini_batch_started", state.task.index, state.task.attempt, state.slot)
        if not self._pending and any(self._workers[w].task is None for _, w in ready):
            self._take_back()
        # Mini-batches are sent ahead to each busy worker, so that it does not wait for this
        # process between mini-batches; only while workers still starting would not go short,
        # and only small ones, which never fill the channel to the worker.
        # Several are sent once half of those sent before were taken, so in one message.
        starting = sum(1 for state in self._workers.values() if not state.ready)
        for _, worker in ready:
            state = self._workers[worker]
            depth = self._depth(state)
            if state.task is None or state.taking_back or len(state.queued) > depth // 2:
                continue
            chars = sum(sum(map(len, task.files)) for task in state.queued)
            while len(state.queued) < depth:
                if len(self._pending) <= starting:
                    return
                chars += sum(map(len, self._files(self._pending.first())))
                if chars > _SEND_AHEAD_MAX_CHARS:
                    break
                state.queued.append(self._submit(worker))

    def _depth(self, state: _WorkerState) -> int:
        """How many mini-batches `state`'s worker is sent ahead at most: as many as it runs in
        _AHEAD_SECONDS, by its last one's time or, when longer, the one it runs now."""
        took = state.last_elapsed
        if took is None or self._ahead == 1:
            return 1
        if state.started_at is not None:
            took = max(took, self._clock() - state.started_at)
        return max(1, min(self._ahead, int(_AHEAD_SECONDS / max(took, 1e-6))))

    def _sent_ahead_to_take(self) -> bool:
        """Whether a busy worker holds mini-batches sent ahead that it could give back."""
        return self._takes_back and any(state.queued for state in self._workers.values())

    def _take_back(self) -> None:
        """A worker is idle with nothing to hand out: ask the busy worker sent the most ahead
        for the later half of them (all of one), which may otherwise wait behind a slow
        mini-batch while this one idles; TakenBack puts those it had not taken in front."""
        if not self._takes_back:
            return
        asked = [
            (len(state.queued), worker)
            for worker, state in self._workers.items()
            if state.queued and not state.taking_back
        ]
        if not asked:
            return
        worker = max(asked)[1]
        state = self._workers[worker]
        queued = list(state.queued)
        attempts = tuple((task.index, task.attempt) for task in queued[len(queued) // 2 :])
        if self._backend.take_back(worker, attempts):
            state.taking_back = True
        else:
            self._takes_back = False

    def _submit(self, worker: int) -> MiniBatchTask:
        index, attempt = self._pending.popleft()
        task = MiniBatchTask(index, attempt, self._files(index))
        self._backend.submit(worker, task)
        self._take_reused()
        return task

    def _take_reused(self) -> None:
        """Done without running: the mini-batches next in line that an earlier job left an
        outcome for (batchml.runner.reuse), looked up as they come, not all before the first
        runs; a retry is never one."""
        if not self._tally.reuses:
            return
        while self._pending and self._fatal is None:
            head = self._pending.peek()
            if head[1] != 1:
                return
            try:
                if not self._tally.take_reused(head[0]):
                    return
            except JournalError as exc:
                self._fatal = _Stop(JobStatus.FAILED, exc.message)
                return
            self._pending.drop(head)

    def _files(self, index: int) -> tuple[str, ...]:
        # The mini-batch looked at to be sent ahead is the one submitted next: its paths are
        # read from the plan (a file, for a listed plan) once, not twice.
        if self._looked_up[0] != index:
            self._looked_up = (index, self._batches[index])
        return self._looked_up[1]

    def _requeue_sent_ahead(
        self, state: _WorkerState, given: Container[tuple[int, int]] | None = None
    ) -> None:
        """Put back in front of the pending the mini-batches sent ahead to `state`'s worker
        that are in `given` (default: all, as when the worker is gone before it took them):
        no attempt at them was made."""
        kept: deque[MiniBatchTask] = deque()
        while state.queued:
            task = state.queued.pop()
            attempt = (task.index, task.attempt)
            if given is None or attempt in given:
                self._pending.appendleft(attempt)
                state.fetched.discard(attempt)
            else:
                kept.appendleft(task)
        state.queued = kept

    def _wait_time(self) -> float:
        deadlines = [
            state.started_at + self._settings.timeout
            for state in self._workers.values()
            if state.task is not None and state.started_at is not None
        ]
        until_deadline = min(deadlines, default=math.inf) - self._clock()
        return max(0.0, min(until_deadline, _TICK_SECONDS))

    def _handle(self, event: BackendEvent) -> None:
        state = self._workers.get(event.worker)
        if state is None:
            return  # a worker this engine already stopped
        if isinstance(event, WorkerStarted):
            start = event.outcome
            if start.succeeded:
                state.ready = True
            else:
                del self._workers[event.worker]
                internal = start.status is Status.INTERNAL_ERROR
                if not internal:
                    self._tally.init_failed(state.slot, start.error or "", start.detail)
                self._fatal = _Stop(JobStatus.FAILED, start.error, start.detail, internal)
        elif isinstance(event, TaskDone):
            received = self._clock()
            task, outcome = state.task, event.outcome
            if task is None or (outcome.index, outcome.attempt) != (task.index, task.attempt):
                raise RuntimeError(f"worker {state.slot} reported a mini-batch it was not given")
            if outcome.status is Status.INTERNAL_ERROR:
                # Set first, so that the attempt is final: a batchml fault is never retried.
                self._fatal = _Stop(JobStatus.FAILED, outcome.error, outcome.detail, internal=True)
            if outcome.succeeded:
                self._succeeded(task, state, outcome)
            else:
                self._failed(task, state, outcome.elapsed, outcome.error or "", outcome.detail)
            state.last_elapsed = outcome.elapsed
            # The worker took its next queued mini-batch as soon as it sent this outcome (if
            # its files are local).
            state.task = state.queued.popleft() if state.queued else None
            state.started_at = received
            if state.task is not None:
                attempt = (state.task.index, state.task.attempt)
                if self._fetches and attempt not in state.fetched:
                    state.started_at = None
                state.fetched.discard(attempt)
                self._emit("mini_batch_started", state.task.index, state.task.attempt, state.slot)
        elif isinstance(event, FilesFetched):
            self._fetched(state, (event.index, event.attempt))
        elif isinstance(event, TakenBack):
            state.taking_back = False
            self._requeue_sent_ahead(state, set(event.attempts))
        elif isinstance(event, WorkerLost):
            del self._workers[event.worker]
            self._requeue_sent_ahead(state)
            if not state.ready:
                self._lost_while_starting(state.slot, event.reason)
            elif state.task is not None:
                began = state.started_at
                elapsed = 0.0 if began is None else self._clock() - began
                error = f"worker {state.slot} died ({event.reason}) while running run()"
                self._failed(state.task, state, elapsed, error, None, records.DEAD_WORKER)

    def _fetched(self, state: _WorkerState, attempt: tuple[int, int]) -> None:
        """The files of `attempt` are local and its worker has it: its timeout starts now if
        the worker runs it, when the worker takes it if it is the one sent ahead."""
        task = state.task
        if task is not None and (task.index, task.attempt) == attempt:
            if state.started_at is None:
                state.started_at = self._clock()
        elif any((queued.index, queued.attempt) == attempt for queued in state.queued):
            state.fetched.add(attempt)

    def _lost_while_starting(self, slot: int, reason: str) -> None:
        """A worker that died before init() returned (killed, out of memory) is replaced, as
        one that dies in run() is, up to max_retries times per slot; a failed init() is not
        retried (WorkerStarted), since it would fail again."""
        self._lost_starting[slot] += 1
        lost = self._lost_starting[slot]
        error = f"worker {slot} died while starting ({reason})"
        if lost > self._settings.max_retries:
            self._fatal = _Stop(JobStatus.FAILED, error + (f", {lost} times" if lost > 1 else ""))
        else:
            self._logs.note(f"{error}; starting another")

    def _expire(self) -> None:
        now = self._clock()
        for worker, state in list(self._workers.items()):
            task, began = state.task, state.started_at
            if task is not None and began is not None and now - began >= self._settings.timeout:
                self._backend.stop_worker(worker)
                del self._workers[worker]
                self._requeue_sent_ahead(state)
                error = f"run() exceeded the timeout of {self._settings.timeout:g} s"
                self._failed(task, state, now - began, error, None, records.TIMEOUT)

    def _succeeded(
        self, task: MiniBatchTask, state: _WorkerState, outcome: MiniBatchOutcome
    ) -> None:
        self._journaled(self._tally.succeeded, task, state.slot, state.label, outcome)

    def _recorded(self, done: Succeeded) -> None:
        # A mini-batch is reported succeeded once journaled (in mini-batch order, mostly), each
        # before the next is: a runner killed after the nth report has journaled n.
        if done.slot is not None:
            self._emit("mini_batch_succeeded", done.index, done.attempt, done.slot)

    def _failed(
        self,
        task: MiniBatchTask,
        state: _WorkerState,
        elapsed: float,
        error: str,
        detail: str | None,
        kind: str = records.ERROR,
    ) -> None:
        will_retry = task.attempt <= self._settings.max_retries and self._fatal is None
        slot, label = state.slot, state.label
        final = not will_retry
        if not self._journaled(
            self._tally.failed, task, slot, label, elapsed, error, detail, final=final, kind=kind
        ):
            return
        if will_retry:
            self._pending.appendleft((task.index, task.attempt + 1))
        self._emit(
            "mini_batch_failed", task.index, task.attempt, state.slot, error, will_retry=will_retry
        )
        if final:
            self._journaled(self._tally.journal_due)

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
            counts = self._tally.counts
            event = JobEvent(kind, counts, mini_batch, attempt, worker, error, will_retry)
            self._on_event(event)
