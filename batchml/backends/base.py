"""The seam between the scheduler (policy) and where mini-batches execute (a backend).

The scheduler decides what runs, when, and what a failure means; a backend only starts
workers, hands one a mini-batch, reports what happened, and stops workers. Workers are named
by opaque integer ids, never by PIDs, so a backend may run them anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask, StartOutcome, WorkerConfig


@dataclass(frozen=True)
class WorkerStarted:
    """A worker finished starting: outcome.status says whether the script imported and init()
    ran, and if not, whose fault it was."""

    worker: int
    outcome: StartOutcome


@dataclass(frozen=True)
class TaskDone:
    """A worker finished a mini-batch attempt; it takes the next one it was sent, if any."""

    worker: int
    outcome: MiniBatchOutcome


@dataclass(frozen=True)
class WorkerLost:
    """A worker ended without being asked to; reason is short, e.g. "exit code 1"."""

    worker: int
    reason: str


@dataclass(frozen=True)
class FilesFetched:
    """A backend that fetches a mini-batch's files before its worker gets them (inputs in
    storage, batchml.runner.staging) has them local and gave the attempt to the worker: its
    timeout starts now, or when the worker takes it if it is busy with the one before."""

    worker: int
    index: int
    attempt: int


@dataclass(frozen=True)
class TakenBack:
    """Of the attempts take_back() asked a worker for, those it had not taken: it never runs
    them (perhaps none: it took them all by then)."""

    worker: int
    attempts: tuple[tuple[int, int], ...]


BackendEvent = WorkerStarted | TaskDone | WorkerLost | FilesFetched | TakenBack


class Backend(Protocol):
    """Runs workers. Every method is called from the scheduler's thread."""

    def start_worker(self, slot: int) -> int:
        """Start a worker for `slot` (0 .. workers-1) and return its id; WorkerStarted follows.

        A replacement worker gets the same slot (and log files) as the worker it replaces.
        """
        ...

    def describe(self, worker: int) -> str:
        """A short label for logs, e.g. a process id or an actor id."""
        ...

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        """Give a started worker a mini-batch attempt; TaskDone or WorkerLost follows.

        A worker runs its mini-batches one at a time, in the order given, and takes the next
        one as soon as it reports on the previous one: the scheduler may send one ahead. A
        backend that fetches the attempt's files first says FilesFetched when they are local.
        """
        ...

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        """Ask a busy worker for these attempts, (index, attempt), which it was sent ahead and
        may not have taken yet; TakenBack follows, unless the worker is lost first. False if
        this backend's workers cannot give any back: nothing follows then."""
        ...

    def poll(self, timeout: float) -> list[BackendEvent]:
        """Wait up to `timeout` seconds for events; return as soon as there is at least one,
        or once wake() was called (since the last poll), with none."""
        ...

    def wake(self) -> None:
        """End the poll() under way, or the next one, at once. The one method called from
        another thread than the scheduler's (the one that lists the input); never after
        shutdown()."""
        ...

    def stop_worker(self, worker: int) -> None:
        """Stop a worker without waiting; it reports nothing more.

        An idle worker exits cleanly; a busy one is killed mid-mini-batch (after a grace period
        for a clean exit), which is how the scheduler enforces timeouts.
        """
        ...

    def shutdown(self) -> None:
        """Stop every worker and wait until they are gone. Safe to call more than once."""
        ...


if TYPE_CHECKING:
    BackendFactory: TypeAlias = Callable[[WorkerConfig], Backend]
