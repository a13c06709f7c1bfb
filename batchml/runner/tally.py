"""The score of a job's mini-batches: counts, a failure record per failed item (failures.jsonl),
a report row per attempt and a journal record per final outcome, succeeded ones in mini-batch
order (batchml.runner.order). The scheduler decides what runs; this keeps score.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from batchml.core import failures as records
from batchml.runner.events import JobCounts
from batchml.runner.order import InOrder
from batchml.runner.plan import StreamedBatches, files_in, files_total

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from batchml.runner.journal import Journal
    from batchml.runner.logs import JobLogs
    from batchml.runner.reuse import Reuse
    from batchml.worker.messages import MiniBatchOutcome, MiniBatchTask


# The counts a Tally keeps (JobCounts' fields).
_COUNTED = tuple(field.name for field in fields(JobCounts))


@dataclass(frozen=True)
class Succeeded:
    """A succeeded mini-batch on its way to the journal; `slot` is None for a reused one."""

    index: int
    attempt: int
    slot: int | None
    files_failed: int
    items: int
    rows: bytes
    part: str | None
    keep: bool


class Tally:
    """Counts start from what the journal recovered (mini-batches done in earlier runs).

    `folders` maps the job's snapshot of the code to the folder it was copied from, for the
    paths of the failure records. Counts, reports and failure records follow each attempt as
    it ends; a succeeded mini-batch is journaled once every earlier one has an outcome, or
    sooner past `window` of them waiting (0: at once); `on_recorded` hears of each as it is.
    `shown` maps the folder in storage of
    inputs there to the path the user gave, for the files they name (which the backend names
    so already in what run() said: batchml.runner.staging).
    """

    def __init__(
        self,
        batches: Sequence[tuple[str, ...]],
        logs: JobLogs,
        journal: Journal,
        folders: dict[str, str] | None = None,
        reuse: Reuse | None = None,
        window: int = 0,
        shown: dict[str, str] | None = None,
    ) -> None:
        self._batches = batches
        self._shown = shown or {}
        self._reuse = reuse
        self._logs = logs
        self._folders = folders or {}
        self.journal = journal
        self._order: InOrder[Succeeded] = InOrder(self._has_outcome, window)
        # Called with each succeeded mini-batch as soon as it is journaled.
        self.on_recorded: Callable[[Succeeded], None] | None = None
        self.first_failure: str | None = None
        # Totals of 0 while the input is listed: not known yet (see `listed`).
        self.listing = isinstance(batches, StreamedBatches) and journal.plan_pending
        # The counts as numbers, added to in place (JobCounts is frozen); `counts` builds
        # a JobCounts of them when asked after a change.
        self._numbers = dict.fromkeys(_COUNTED, 0)
        self._numbers.update(
            mini_batches_total=0 if self.listing else len(batches),
            files_total=0 if self.listing else files_total(batches),
            mini_batches_resumed=len(journal.outcomes),
        )
        self._counts: JobCounts | None = None
        for outcome in journal.outcomes.values():
            files = files_in(batches, outcome.index)
            if outcome.succeeded:
                self._count_success(files, outcome.files_failed, outcome.items)
            else:
                self._count_failure(files)

    @property
    def counts(self) -> JobCounts:
        """The counts so far."""
        if self._counts is None:
            self._counts = JobCounts(**self._numbers)
        return self._counts

    def _counts_now(self) -> JobCounts:
        return self.counts

    @property
    def reuses(self) -> bool:
        """Whether mini-batches may be done with an earlier job's outcome (take_reused)."""
        return self._reuse is not None

    def listed(self) -> None:
        """The input's listing ended: the totals are known, and the journal's plan digest.
        Raises JournalError."""
        batches = self._batches
        assert isinstance(batches, StreamedBatches) and batches.digest is not None
        self._add(mini_batches_total=len(batches) - self._numbers["mini_batches_total"])
        self._add(files_total=batches.files_total - self._numbers["files_total"])
        self.listing = False
        self.journal.plan_known(batches.digest)

    def is_done(self, index: int) -> bool:
        """Whether mini-batch `index` already has a final outcome."""
        return index in self.journal.outcomes or index in self._order

    def succeeded(
        self, task: MiniBatchTask, slot: int, label: str, outcome: MiniBatchOutcome
    ) -> None:
        """Report, count and journal (or hold) a successful attempt. Raises JournalError."""
        files, items = len(task.files), outcome.items
        if outcome.failed_files is None:
            # Azure: inputs minus returned items count as failures; extra items are allowed.
            shortfall = max(0, files - items)
            error = f"run() returned {items} items for {files} files" if shortfall else None
            if error is not None:
                # Which files have no item is not known: the record names the mini-batch's,
                # and how many of them count as failed.
                named = list(task.files)
                self._record(records.SHORT, task, slot, error, None, named, failed=shortfall)
        else:
            # run() said which files failed (FileResults): a file may give many rows.
            shortfall = len(outcome.failed_files)
            error = "; ".join(outcome.failed_files) or None
            for failure in outcome.failed_files:
                path = next((f for f in task.files if failure.startswith(self._named(f))), None)
                message = failure[len(self._named(path)) :] if path is not None else failure
                self._record(records.FILE, task, slot, message, None, [path] if path else [])
        if error is not None and self.first_failure is None:
            self.first_failure = f"mini-batch {task.index}, attempt {task.attempt}: {error}"
        self._logs.attempt(
            task.index, task.attempt, slot, label, outcome.elapsed,
            succeeded=True, items_succeeded=items, items_failed=shortfall, error=error,
        )  # fmt: skip
        self._count_success(files, shortfall, items)
        self._logs.progress(self._counts_now)
        rows, part, keep = outcome.rows, outcome.part, error is None
        done = Succeeded(task.index, task.attempt, slot, shortfall, items, rows, part, keep)
        self._journal(self._order.add(task.index, done, len(rows)))

    def take_reused(self, index: int) -> bool:
        """Whether mini-batch `index` is done with the outcome an earlier job left in the
        result cache (then journaled and counted as reused); waits for its files' hashes.
        Raises JournalError."""
        found = self._reuse.take(index) if self._reuse is not None else None
        if found is None:
            return False
        self.reused(index, *found)
        return True

    def reused(self, index: int, items: int, rows: bytes) -> None:
        """Journal and count mini-batch `index` as succeeded with the outcome of an earlier
        job (batchml.runner.reuse): no attempt is made, so no report row."""
        self._count_success(files_in(self._batches, index), 0, items)
        done = Succeeded(index, 1, None, 0, items, rows, None, keep=False)
        self._journal(self._order.add(index, done, len(rows)))
        self._add(mini_batches_reused=1)

    def failed(
        self,
        task: MiniBatchTask,
        slot: int,
        label: str,
        elapsed: float,
        error: str,
        detail: str | None,
        *,
        final: bool,
        kind: str = records.ERROR,
    ) -> None:
        """Report a failed attempt of `kind` (one of batchml.core.failures); journal and count
        it if no retry follows (`final`)."""
        files = len(task.files)
        where = f"mini-batch {task.index}, attempt {task.attempt}"
        if self.first_failure is None:
            self.first_failure = f"{where}: {error}"
        self._record(kind, task, slot, error, detail, list(task.files), final=final)
        self._logs.attempt(
            task.index, task.attempt, slot, label, elapsed,
            succeeded=False, items_succeeded=0, items_failed=files, error=error,
        )  # fmt: skip
        if final:
            self.journal.failed(task.index, task.attempt)
            self._count_failure(files)
            self._logs.progress(self._counts_now)

    def journal_due(self) -> None:
        """Journal the succeeded mini-batches that waited only for those that failed since.
        Raises JournalError."""
        self._journal(self._order.due())

    def journal_held(self) -> None:
        """Journal the succeeded mini-batches still waiting for earlier ones (the job ends)."""
        self._journal(self._order.drain())

    def init_failed(self, slot: int, error: str, detail: str | None) -> None:
        """Record a worker whose script could not be imported or whose init() raised."""
        failure = records.record(
            records.INIT, mini_batch=None, files=[], attempt=1, worker=slot, error=error,
            traceback=detail, final=True, folders=self._folders,
        )  # fmt: skip
        self._logs.failure(failure)

    def _has_outcome(self, index: int) -> bool:
        return index in self.journal.outcomes

    def _journal(self, due: list[Succeeded]) -> None:
        journal = self.journal
        for done in due:
            index = done.index
            journal.succeeded(
                index, done.attempt, done.files_failed, done.items, done.rows, done.part
            )
            if self._reuse is not None and done.keep:
                self._reuse.keep(index, done.items, journal.rows_of(index))
            if self.on_recorded is not None:
                self.on_recorded(done)

    def _record(
        self,
        kind: str,
        task: MiniBatchTask,
        slot: int,
        error: str,
        detail: str | None,
        files: list[str],
        *,
        final: bool = True,
        failed: int | None = None,
    ) -> None:
        files = [records.map_paths(path, self._shown) for path in files]
        failure = records.record(
            kind, mini_batch=task.index, files=files, attempt=task.attempt, worker=slot,
            error=error, traceback=detail, final=final, folders=self._folders,
            files_failed=failed,
        )  # fmt: skip
        self._logs.failure(failure)

    def _named(self, path: str) -> str:
        """How a failure line of run()'s (FileResults) begins for file `path`."""
        return records.map_paths(path, self._shown) + ": "

    def _count_success(self, files: int, shortfall: int, items: int) -> None:
        # Added in place, not through _add's keywords: this comes once per mini-batch.
        numbers = self._numbers
        numbers["mini_batches_succeeded"] += 1
        numbers["files_succeeded"] += files - shortfall
        numbers["files_failed"] += shortfall
        numbers["items_succeeded"] += items
        self._counts = None

    def _count_failure(self, files: int) -> None:
        self._add(mini_batches_failed=1, files_failed=files)

    def _add(self, **more: int) -> None:
        numbers = self._numbers
        for name, number in more.items():
            numbers[name] += number
        self._counts = None
