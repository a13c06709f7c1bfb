"""`job stream` output: az's layout (RunId, Web View, one section per log, Execution Summary),
with the progress view of batchml.cli.progress on stderr."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from batchml.cli.progress import view_for
from batchml.core.batch_job import BatchJob
from batchml.services import failures, job_control

if TYPE_CHECKING:
    from batchml.cli.progress import View
    from batchml.core.jobs import AnyJob
    from batchml.store.workspace import Workspace


def _header(view: View, job: AnyJob, web: str) -> None:
    view.log(f"RunId: {job.name}")
    view.log(f"Web View: {web}")


def _summary(view: View, workspace: Workspace, job: AnyJob, web: str) -> None:
    """How the job ended, after its logs."""
    view.log("\nExecution Summary\n=================")
    _header(view, job, web)
    view.log(f"Status: {job.status}")
    if job.error:
        view.log(f"Error: {job.error}")
    if isinstance(job, BatchJob):
        _failure_summary(view, workspace, job)
    warnings = getattr(job, "warnings", [])
    if warnings:
        view.log("Warnings:")
        for warning in warnings:
            view.log(f"  {warning}")


def stopped(name: str) -> str:
    """What Ctrl-C while following job `name` says: the job keeps running."""
    return (
        f"Stopped following; job {name} keeps running (batchml job stream -n {name} "
        f"follows it again, batchml job cancel -n {name} stops it)."
    )


def stream(workspace: Workspace, name: str, out: IO[str] | None = None) -> AnyJob:
    """Follow a job until it ends, printing its logs to `out` (stdout unless given) and its
    progress to stderr; returns the final job. Ctrl-C leaves the job running."""
    web = f"file://{job_control.job_dir(workspace, name)}"
    started: set[str] = set()
    job = job_control.get(workspace, name)
    view = view_for(job, out or sys.stdout)
    try:
        _header(view, job, web)
        for update in job_control.follow(workspace, name):
            job = update.job
            for log, line in update.lines:
                if log not in started:
                    started.add(log)
                    title = f"Streaming {log}"
                    view.log(f"\n{title}\n{'=' * (len(title) + 10)}\n")
                view.log(line)
            view.update(job)
    finally:
        view.close(job)
    _summary(view, workspace, job, web)
    return job


def _failure_summary(view: View, workspace: Workspace, job: BatchJob) -> None:
    """What failed, and why: the first error with its last frames (a Failed job), the failed
    files of any job, and where the full list is."""
    summary = failures.summary(workspace, job)
    if summary is None:
        return
    first = summary["first_error"]
    if job.status != "Completed":
        what = (
            f"{first['exception']}: {first['message']}" if first["exception"] else first["message"]
        )
        where = f"mini-batch {first['mini_batch']}, " if first["mini_batch"] is not None else ""
        view.log(f"First error ({where}attempt {first['attempt']}): {what}")
        if first["traceback"]:
            view.log(first["traceback"])
    if "files_failed" in summary:
        shown = ", ".join(summary["files"])
        more = summary["files_failed"] - len(summary["files"])
        view.log(
            f"Failed files: {summary['files_failed']} ({shown}"
            + (f", and {more} more)" if more > 0 else ")")
        )
    view.log("Errors:")
    for error in summary["errors"]:
        view.log(f"  {error}")
    if summary["errors_not_shown"]:
        view.log(f"  ... and {summary['errors_not_shown']} more")
    view.log(f"Tracebacks: {summary['log']}")
    view.log(f"Every failed item: {summary['list']}")
