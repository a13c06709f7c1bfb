"""What a job reports: progress events while it runs and one result at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

JobStatus = Literal["Completed", "Failed", "Canceled"]
EventKind = Literal[
    "job_started",
    "mini_batch_started",
    "mini_batch_succeeded",
    "mini_batch_failed",
    "job_finalizing",
    "job_finished",
]


@dataclass(frozen=True)
class JobCounts:
    """Counts so far.

    A mini-batch succeeds when run() returns a list, tuple, array or DataFrame; each element or
    row is one succeeded item. Files of a mini-batch that failed its last attempt are failed
    files, and so are the inputs a succeeded mini-batch returned no item for ("inputs minus
    returned items"). error_threshold applies to files_failed. mini_batches_resumed counts the
    mini-batches a resumed run kept from the runs before it (they are among those done).
    """

    mini_batches_total: int
    files_total: int
    mini_batches_succeeded: int = 0
    mini_batches_failed: int = 0
    files_succeeded: int = 0
    files_failed: int = 0
    items_succeeded: int = 0
    mini_batches_resumed: int = 0

    @property
    def mini_batches_done(self) -> int:
        """Mini-batches that reached a final result (succeeded, or failed their last attempt)."""
        return self.mini_batches_succeeded + self.mini_batches_failed


@dataclass(frozen=True)
class JobEvent:
    """One step of a job, for progress bars and the job's state file.

    mini_batch is the 0-based index in input order and attempt is 1-based. worker is the
    worker slot (0 .. workers-1). For mini_batch_failed, error is one line and will_retry says
    whether another attempt follows; the files count as failed only when it does not.
    job_finalizing comes once no more mini-batches run, before the output is assembled.
    """

    kind: EventKind
    counts: JobCounts
    mini_batch: int | None = None
    attempt: int | None = None
    worker: int | None = None
    error: str | None = None
    will_retry: bool = False


@dataclass(frozen=True)
class JobResult:
    """How a job ended.

    error is one line naming the cause; error_detail holds the tracebacks behind it.
    internal_error is True when the cause is a batchml fault rather than the user's code.
    output_file is the append_row output, written only when the job was not canceled and at
    least one mini-batch succeeded.
    """

    status: JobStatus
    counts: JobCounts
    elapsed_seconds: float
    error: str | None = None
    error_detail: str | None = None
    internal_error: bool = False
    output_file: Path | None = None
