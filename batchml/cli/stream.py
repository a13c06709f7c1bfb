"""`job stream` output: az's layout (RunId, Web View, one section per log, Execution Summary),
plain lines when not on a terminal, and a progress bar on stderr when on one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from batchml.core.batch_job import BatchJob
from batchml.services import failures, job_control

if TYPE_CHECKING:
    from batchml.core.jobs import AnyJob
    from batchml.store.workspace import Workspace


def _header(job: AnyJob, web: str) -> None:
    click.echo(f"RunId: {job.name}")
    click.echo(f"Web View: {web}")


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (it keeps stdout lines above it), or nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("mini-batches"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield bar


def stream(workspace: Workspace, name: str) -> AnyJob:
    """Follow a job until it ends, printing its logs; returns the final job."""
    web = f"file://{job_control.job_dir(workspace, name)}"
    started: set[str] = set()
    job = job_control.get(workspace, name)
    _header(job, web)
    # A batch scoring job shows its mini-batches; a pipeline job's log says which steps ran.
    with _progress(sys.stderr.isatty() and isinstance(job, BatchJob)) as bar:
        task = bar.add_task("job", total=None) if bar is not None else None
        for update in job_control.follow(workspace, name):
            job = update.job
            for log, line in update.lines:
                if log not in started:
                    started.add(log)
                    title = f"Streaming {log}"
                    click.echo(f"\n{title}\n{'=' * (len(title) + 10)}\n")
                click.echo(line)
            if bar is not None and task is not None and isinstance(job, BatchJob):
                counts = job.counts
                bar.update(
                    task,
                    total=counts.mini_batches_total or None,
                    completed=counts.mini_batches_done,
                )
    click.echo("\nExecution Summary\n=================")
    _header(job, web)
    click.echo(f"Status: {job.status}")
    if job.error:
        click.echo(f"Error: {job.error}")
    if isinstance(job, BatchJob):
        _failure_summary(workspace, job)
    warnings = getattr(job, "warnings", [])
    if warnings:
        click.echo("Warnings:")
        for warning in warnings:
            click.echo(f"  {warning}")
    return job


def _failure_summary(workspace: Workspace, job: BatchJob) -> None:
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
        click.echo(f"First error ({where}attempt {first['attempt']}): {what}")
        if first["traceback"]:
            click.echo(first["traceback"])
    if "files_failed" in summary:
        shown = ", ".join(summary["files"])
        more = summary["files_failed"] - len(summary["files"])
        click.echo(
            f"Failed files: {summary['files_failed']} ({shown}"
            + (f", and {more} more)" if more > 0 else ")")
        )
    click.echo("Errors:")
    for error in summary["errors"]:
        click.echo(f"  {error}")
    if summary["errors_not_shown"]:
        click.echo(f"  ... and {summary['errors_not_shown']} more")
    click.echo(f"Tracebacks: {summary['log']}")
    click.echo(f"Every failed item: {summary['list']}")
