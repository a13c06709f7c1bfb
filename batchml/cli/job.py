"""`batchml job`: show, list, stream, cancel, resume and download batch scoring jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from batchml.cli.context import AzCommand, app_of
from batchml.cli.stream import stream as stream_job
from batchml.services import jobs

app = typer.Typer(help="Manage batch scoring jobs.", no_args_is_help=True)
NAME = typer.Option(..., "-n", "--name", help="Name of the job.")

# Exit code of `job stream` and `invoke --stream` for a job that did not complete.
JOB_FAILED_EXIT = 1


def follow(ctx: typer.Context, name: str) -> None:
    """Stream a job; exit non-zero unless it Completed."""
    job = stream_job(app_of(ctx).workspace, name)
    if job.status != "Completed":
        raise typer.Exit(JOB_FAILED_EXIT)


@app.command("show", cls=AzCommand)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a job: status, inputs, outputs, counts, and the error when it Failed."""
    return jobs.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
def list_(
    ctx: typer.Context,
    parent_job_name: str | None = typer.Option(
        None, "-p", "--parent-job-name", help="List child jobs of this job."
    ),
    max_results: int = typer.Option(
        50, "-r", "--max-results", help="Maximum number of jobs to return."
    ),
    all_results: bool = typer.Option(False, "--all-results", help="Return every job."),
) -> list[dict[str, Any]]:
    """List jobs, newest first."""
    if parent_job_name:
        jobs.get(app_of(ctx).workspace, parent_job_name)
        return []
    return jobs.list_all(app_of(ctx).workspace, None if all_results else max_results)


@app.command("stream", cls=AzCommand)
def stream(ctx: typer.Context, name: str = NAME) -> None:
    """Follow a job's logs until it ends; exits non-zero if it did not complete.

    Ctrl-C stops following; the job keeps running.
    """
    try:
        follow(ctx, name)
    except KeyboardInterrupt:
        click.echo(f"Stopped streaming; job {name} keeps running.", err=True)
        raise typer.Exit(130) from None


@app.command("cancel", cls=AzCommand)
def cancel(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Cancel a running job: its workers are stopped within seconds.

    What it finished is kept: `batchml job resume` goes on from there.
    """
    workspace = app_of(ctx).workspace
    jobs.cancel(workspace, name)
    return jobs.show(workspace, name)


@app.command("resume", cls=AzCommand)
def resume(
    ctx: typer.Context,
    name: str = NAME,
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Also run again the mini-batches that failed every attempt."
    ),
) -> dict[str, Any]:
    """Resume a Failed, Canceled or NotResponding job where it stopped.

    Finished mini-batches do not run again; the output comes out as if it had never stopped.
    """
    workspace = app_of(ctx).workspace
    jobs.resume(workspace, name, retry_failed=retry_failed)
    return jobs.show(workspace, name)


@app.command("download", cls=AzCommand)
def download(
    ctx: typer.Context,
    name: str = NAME,
    download_path: Path = typer.Option(
        Path("."), "-p", "--download-path", help="Where to put the files."
    ),
    output_name: str | None = typer.Option(
        None,
        "--output-name",
        help="Output to download (score); its files go straight into the download path.",
    ),
    all_: bool = typer.Option(False, "--all", help="Also download the logs, under artifacts/."),
) -> None:
    """Download a finished job's score output (and with --all, its logs)."""
    copied = jobs.download(app_of(ctx).workspace, name, download_path, all_)
    for path in copied:
        click.echo(f"Downloaded {path}", err=True)
