"""What a job reports: progress events while it runs and one result at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from batchml.core.batch_job import JobCounts as JobCounts
from batchml.core.job_record import JobStatus as JobStatus

EventKind = Literal[
    "job_started",
    "mini_batch_started",
    "mini_batch_succeeded",
    "mini_batch_failed",
    "job_finalizing",
    "job_finished",
]


@dataclass(frozen=True)
class JobEvent:
    """One step of a job, for progress bars and the job's state file.

    mini_batch is the 0-based index in input order and attempt is 1-based. worker is the
    worker slot (0 .. workers-1). For mini_batch_failed, error is one line and will_retry says
    whether another attempt follows; the files count as failed only when it does not.
    job_finalizing comes once no more mini-batches run, before the output is assembled.
    mini_batch_succeeded comes once the mini-batch is journaled: in an append_row job, when
    every earlier one has an outcome (batchml.runner.order), so maybe after its worker started
    another; counts include every attempt ended so far.
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
    """How a job ended: status is Completed, Failed or Canceled.

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
