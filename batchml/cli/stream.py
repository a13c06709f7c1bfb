"""`job stream` output: az's layout (RunId, Web View, one section per log, Execution Summary),
with the progress view of batchml.cli.progress on stderr."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from batchml.cli.progress import view_for
from batchml.services import job_control

if TYPE_CHECKING:
    from batchml.cli.progress import View
    from batchml.core.jobs import AnyJob
    from batchml.store.workspace import Workspace


def _header(view: View, job: AnyJob, web: str) -> None:
    view.log(f"RunId: {job.name}")
    view.log(f"Web View: {web}")


def _summary(view: View, job: AnyJob, web: str) -> None:
    """How the job ended, after its logs."""
    view.log("\nExecution Summary\n=================")
    _header(view, job, web)
    view.log(f"Status: {job.status}")
    if job.error:
        view.log(f"Error: {job.error}")
    warnings = getattr(job, "warnings", [])
    if warnings:
        view.log("Warnings:")
        for warning in warnings:
            view.log(f"  {warning}")


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
    _summary(view, job, web)
    return job
