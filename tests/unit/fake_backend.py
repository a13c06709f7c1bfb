"""A scripted Backend on a fake clock, to test the scheduler's policy in milliseconds.

The script says what each attempt of each mini-batch does (succeeds, fails, hangs, kills its
worker) and what each worker start does. Time is the FakeClock's: poll(timeout) moves it on
to the next scripted event, or by `timeout` when none is due by then, so a mini-batch that
hangs past its timeout takes no wall time. The backend records what the scheduler asked of it
(starts, submits, stops), for tests to assert on.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from batchml.backends.base import TakenBack, TaskDone, WorkerLost, WorkerStarted
from batchml.worker.messages import MiniBatchOutcome, StartOutcome, Status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from batchml.backends.base import BackendEvent
    from batchml.worker.messages import MiniBatchTask

# A poll that finds nothing takes at least this long, as a real one does: so a deadline that
# rounding put a hair past the clock is still reached, and the scheduler never spins.
_MIN_POLL_SECONDS = 1e-6
# Polls in a row with nothing to report after which the job counts as hung: over an hour of
# fake time at the scheduler's longest wait, and a second or so of real time.
_HUNG_AFTER_POLLS = 20_000


class FakeClock:
    """A monotonic clock that only moves when the fake backend polls (or a test says so)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Succeeds:
    """run() returns `items` rows (default: one per file) after `seconds`."""

    items: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Fails:
    """run() fails after `seconds`: the user's error, or batchml's with INTERNAL_ERROR."""

    error: str
    status: Status = Status.FAILED
    detail: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Hangs:
    """run() never returns: only a stop ends it."""


@dataclass(frozen=True)
class Dies:
    """The worker ends in the middle of run(), after `seconds`."""

    reason: str = "exit code 1"
    seconds: float = 0.0


@dataclass(frozen=True)
class StartFails:
    """The worker's start (import, init()) fails: the user's error, or an internal one."""

    error: str
    status: Status = Status.FAILED
    detail: str | None = None


@dataclass(frozen=True)
class DiesStarting:
    """The worker ends before it reports on its start."""

    reason: str = "exit code 1"


Attempt: TypeAlias = Succeeds | Fails | Hangs | Dies
Start: TypeAlias = StartFails | DiesStarting | None


@dataclass
class _Worker:
    slot: int
    start: Start
    started: bool = False
    # What it was sent and has not reported on, and when it began the first of them.
    tasks: deque[MiniBatchTask] = field(default_factory=deque)
    began: float = 0.0


class FakeBackend:
    """A Backend that plays `attempts` (by (mini-batch index, attempt); default Succeeds())
    and `starts` (by the 0-based order of start_worker calls; default: starts fine)."""

    def __init__(
        self,
        clock: FakeClock,
        attempts: Mapping[tuple[int, int], Attempt] | None = None,
        starts: Mapping[int, Start] | None = None,
    ) -> None:
        self.clock = clock
        self.attempts = dict(attempts or {})
        self.starts = dict(starts or {})
        # What the scheduler asked for: the slot of each start, each (index, attempt) sent,
        # each worker stopped.
        self.started_slots: list[int] = []
        self.submitted: list[tuple[int, int]] = []
        self.stopped: list[int] = []
        # The most mini-batches a worker was sent beyond the one it ran.
        self.most_sent_ahead = 0
        # Each take_back() asked: (worker, attempts), and what was given back.
        self.asked_back: list[tuple[int, tuple[tuple[int, int], ...]]] = []
        self.given_back: list[tuple[int, int]] = []
        # With takes_back False, take_back() says no, as a Ray backend's does.
        self.takes_back = True
        self._answers: list[TakenBack] = []
        self.shut_down = False
        self._workers: dict[int, _Worker] = {}
        self._idle_polls = 0

    def start_worker(self, slot: int) -> int:
        worker = len(self.started_slots)
        self._workers[worker] = _Worker(slot, self.starts.get(worker))
        self.started_slots.append(slot)
        return worker

    def describe(self, worker: int) -> str:
        return f"fake {worker}"

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        state = self._workers[worker]
        assert state.started, f"worker {worker} was sent a mini-batch before it started"
        if not state.tasks:
            state.began = self.clock()
        state.tasks.append(task)
        self.submitted.append((task.index, task.attempt))
        self.most_sent_ahead = max(self.most_sent_ahead, len(state.tasks) - 1)

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        """Those not begun are given back at the next poll, in no time; the first of a
        worker's tasks is the one it runs."""
        if not self.takes_back:
            return False
        self.asked_back.append((worker, attempts))
        state = self._workers[worker]
        begun, rest = list(state.tasks)[:1], list(state.tasks)[1:]
        given = [task for task in rest if (task.index, task.attempt) in attempts]
        state.tasks = deque(begun + [task for task in rest if task not in given])
        self.given_back += [(task.index, task.attempt) for task in given]
        self._answers.append(TakenBack(worker, tuple((task.index, task.attempt) for task in given)))
        return True

    def poll(self, timeout: float) -> list[BackendEvent]:
        """Move the clock to the next scripted event if one is due within `timeout`, and
        report it (at most one per worker, as a real backend reads one message a pipe);
        the answers to take_back() come first, at once."""
        if self._answers:
            answers, self._answers = self._answers, []
            return [answer for answer in answers if answer.worker in self._workers]
        due = {worker: self._due(state) for worker, state in self._workers.items()}
        next_due = min(due.values(), default=math.inf)
        if next_due > self.clock.now + timeout:
            self.clock.now += max(timeout, _MIN_POLL_SECONDS)
            # Fail the test rather than let it spin on: the job waits for what never comes.
            self._idle_polls += 1
            assert self._idle_polls < _HUNG_AFTER_POLLS, "the job waits for what never comes"
            return []
        self._idle_polls = 0
        self.clock.now = max(self.clock.now, next_due)
        return [self._event(worker) for worker, at in due.items() if at <= self.clock.now]

    def wake(self) -> None:
        pass  # its plans are complete: nothing is listed on another thread

    def stop_worker(self, worker: int) -> None:
        if self._workers.pop(worker, None) is not None:
            self.stopped.append(worker)

    def shutdown(self) -> None:
        for worker in list(self._workers):
            self.stop_worker(worker)
        self.shut_down = True

    def _attempt(self, task: MiniBatchTask) -> Attempt:
        return self.attempts.get((task.index, task.attempt), Succeeds())

    def _due(self, state: _Worker) -> float:
        if not state.started:
            return self.clock.now  # starting takes no time
        if not state.tasks:
            return math.inf
        attempt = self._attempt(state.tasks[0])
        return math.inf if isinstance(attempt, Hangs) else state.began + attempt.seconds

    def _event(self, worker: int) -> BackendEvent:
        state = self._workers[worker]
        if not state.started:
            return self._start_event(worker, state)
        task = state.tasks.popleft()
        attempt = self._attempt(task)
        elapsed = self.clock.now - state.began
        state.began = self.clock.now  # it takes the next one at once
        if isinstance(attempt, Dies):
            del self._workers[worker]
            return WorkerLost(worker, attempt.reason)
        if isinstance(attempt, Fails):
            outcome = MiniBatchOutcome(
                task.index, task.attempt, attempt.status, elapsed, error=attempt.error,
                detail=attempt.detail,
            )  # fmt: skip
            return TaskDone(worker, outcome)
        assert isinstance(attempt, Succeeds)
        items = len(task.files) if attempt.items is None else attempt.items
        rows = "".join(f"{os.path.basename(path)} ok\n" for path in task.files[:items])
        outcome = MiniBatchOutcome(
            task.index, task.attempt, Status.SUCCEEDED, elapsed, items=items, rows=rows.encode()
        )
        return TaskDone(worker, outcome)

    def _start_event(self, worker: int, state: _Worker) -> BackendEvent:
        start = state.start
        if isinstance(start, DiesStarting):
            del self._workers[worker]
            return WorkerLost(worker, start.reason)
        if isinstance(start, StartFails):
            # As the real backends do: a worker whose start failed is stopped, and says no more.
            del self._workers[worker]
            return WorkerStarted(worker, StartOutcome(start.status, start.error, start.detail))
        state.started = True
        return WorkerStarted(worker, StartOutcome(Status.SUCCEEDED))
