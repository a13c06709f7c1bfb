"""A job's own log files, laid out like Azure's (the workers write the user/ folder).

logs/job_progress_overview.txt           timestamped: mini-batches created, progress, result
logs/job_result.txt                      the final result and where to look next
logs/job_error.txt                       the error, and one traceback per distinct error with
                                         its count of attempts (only when something failed)
logs/failures.jsonl                      one JSON line per failed item (batchml.core.failures)
logs/sys/job_report/processed_mini-batches.csv   one row per mini-batch attempt
"""

from __future__ import annotations

import csv
import json
import os
import time
import traceback
from datetime import datetime
from typing import TYPE_CHECKING

from batchml.core import failures as failure_records

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from pathlib import Path
    from typing import Any

    from batchml.runner.events import JobCounts, JobResult

REPORT_HEADER = (
    "mini_batch",
    "attempt",
    "worker",
    "process",
    "elapsed_seconds",
    "result",
    "items_succeeded",
    "items_failed",
    "error",
)
# At most one progress line per this many seconds, so the overview stays short.
PROGRESS_INTERVAL_SECONDS = 10.0
REPORT_FLUSH_SECONDS = 1.0
_HINT = (
    "Hint: tracebacks are in job_error.txt and user/error/<node>/process<NNN>.txt; "
    "print() and logging output is in user/stdout/<node>/ and user/stderr/<node>/; "
    "every attempt is listed in sys/job_report/processed_mini-batches.csv."
)


def _stamp() -> str:
    return datetime.now().isoformat(sep=" ", timespec="seconds")


def describe_counts(counts: JobCounts) -> str:
    """One line of counts, as the overview and job_result.txt show them."""
    resumed = f", {counts.mini_batches_resumed} resumed" if counts.mini_batches_resumed else ""
    resumed += f", {counts.mini_batches_reused} reused" if counts.mini_batches_reused else ""
    # A total of 0 with mini-batches done: the input is still listed.
    total = counts.mini_batches_total or ("?" if counts.mini_batches_done else 0)
    return (
        f"{counts.mini_batches_done} of {total} mini-batches processed "
        f"({counts.mini_batches_succeeded} succeeded, {counts.mini_batches_failed} failed"
        f"{resumed}); files: {counts.files_succeeded} succeeded, {counts.files_failed} failed "
        f"of {counts.files_total or total}; items succeeded: {counts.items_succeeded}"
    )


class JobLogs:
    """Writes a job's log files as it runs. Close it in a `finally`.

    A resumed job's logs go on from where the earlier run left them; job_error.txt, which
    described that run, is removed until this one has something to say, and failures.jsonl
    keeps the records of the mini-batches `kept` (done before, not run again) only.
    """

    def __init__(self, logs_dir: Path, *, resume: bool = False, kept: Collection[int] = ()) -> None:
        self._dir = logs_dir
        report_dir = logs_dir / "sys" / "job_report"
        report_dir.mkdir(parents=True, exist_ok=True)
        report = report_dir / "processed_mini-batches.csv"
        resumed = resume and _cut_to_whole_lines(report)
        if resume:
            (logs_dir / "job_error.txt").unlink(missing_ok=True)
        failures = logs_dir / failure_records.FAILURES_FILE
        earlier = failure_records.read(failures) if resume else []
        # The distinct errors, for job_error.txt: not every record, which may be many.
        self.errors: dict[tuple[str, str | None, str], failure_records.Group] = {}
        self._failures = open(failures, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        for failure in earlier:
            if failure.get("mini_batch") in kept:
                self.failure(failure)
        # Line-buffered: someone may be reading (or streaming) the overview while the job runs.
        self._overview = open(  # noqa: SIM115
            logs_dir / "job_progress_overview.txt",
            "a",
            encoding="utf-8",
            errors="backslashreplace",
            buffering=1,
        )
        # The report gets a row per attempt, so it is flushed at most once a second instead.
        self._report_file = open(  # noqa: SIM115
            report, "a" if resumed else "w", encoding="utf-8", errors="backslashreplace", newline=""
        )
        self._report = csv.writer(self._report_file, lineterminator="\n")
        if not resumed:
            self._report.writerow(REPORT_HEADER)
        self._last_progress = self._last_flush = time.monotonic()

    def note(self, message: str) -> None:
        """Add a timestamped line to the progress overview."""
        self._overview.write(f"{_stamp()} {message}\n")

    def progress(self, counts: Callable[[], JobCounts]) -> None:
        """Note the counts (asked for only then), unless a progress line was written less
        than a moment ago."""
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL_SECONDS:
            self._last_progress = now
            self.note(describe_counts(counts()))

    def attempt(
        self,
        mini_batch: int,
        attempt: int,
        worker: int,
        process: str,
        elapsed: float,
        *,
        succeeded: bool,
        items_succeeded: int,
        items_failed: int,
        error: str | None,
    ) -> None:
        """Add one mini-batch attempt to processed_mini-batches.csv."""
        self._report.writerow(
            (
                mini_batch,
                attempt,
                worker,
                process,
                f"{elapsed:.3f}",
                "succeeded" if succeeded else "failed",
                items_succeeded,
                items_failed,
                error or "",
            )
        )
        now = time.monotonic()
        if now - self._last_flush >= REPORT_FLUSH_SECONDS:
            self._last_flush = now
            self._report_file.flush()

    def failure(self, failure: dict[str, Any]) -> None:
        """Add a failure record to failures.jsonl (and its error to those of job_error.txt)."""
        key = failure_records.key(failure)
        self.errors.setdefault(key, failure_records.Group(failure)).add(failure)
        self._failures.write(json.dumps(failure) + "\n")

    def errors_text(self) -> str:
        """Each distinct error so far, with its counts, where it first happened and its
        traceback (user paths); "" when nothing failed."""
        text = []
        for group in self.errors.values():
            first = group.first
            where = f"mini-batch {first['mini_batch']}, " if first["mini_batch"] is not None else ""
            text.append(failure_records.describe(group))
            text.append(f"  first: {where}attempt {first['attempt']}, worker {first['worker']}")
            text += [first["traceback"].rstrip("\n"), ""] if first["traceback"] else [""]
        return "\n".join(text)

    def finish(self, result: JobResult) -> None:
        """Write the final result, and job_error.txt if the job or any attempt failed."""
        failed_attempts = sum(group.attempts for group in self.errors.values())
        self._report_file.flush()
        counts = describe_counts(result.counts)
        self.note(counts)
        self.note(f"Job {result.status}" + (f": {result.error}" if result.error else ""))
        lines = [f"Status: {result.status}"]
        if result.error:
            lines.append(f"Error: {result.error}")
        lines += [counts, f"Elapsed: {result.elapsed_seconds:.2f} s"]
        if result.output_file is not None:
            lines.append(f"Output: {result.output_file}")
        if result.error or failed_attempts:
            lines.append(_HINT)
        (self._dir / "job_result.txt").write_text(
            "\n".join(lines) + "\n", encoding="utf-8", errors="backslashreplace"
        )
        if result.error or failed_attempts:
            summary = result.error or f"{result.status}, with failed attempts"
            text = [summary, f"Failed attempts: {failed_attempts}", ""]
            text.append((self.errors_text() or result.error_detail or "").rstrip("\n"))
            (self._dir / "job_error.txt").write_text(
                "\n".join(text) + "\n", encoding="utf-8", errors="backslashreplace"
            )

    def crashed(self, exc: BaseException) -> None:
        """Record that the job was ended by an exception in batchml or in the caller."""
        error = f"Job ended by an unexpected {type(exc).__name__}: {exc}"
        self.note(error)
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        (self._dir / "job_error.txt").write_text(
            f"{error}\n\n{detail}", encoding="utf-8", errors="backslashreplace"
        )

    def close(self) -> None:
        """Close the open log files."""
        self._overview.close()
        self._report_file.close()
        self._failures.close()


def _cut_to_whole_lines(path: Path) -> bool:
    """Drop a line a killed run left half-written; whether any whole line is left."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False
    end = data.rfind(b"\n") + 1
    if end != len(data):
        os.truncate(path, end)
    return end > 0
