"""`batchml job`: create pipeline jobs; show, list, stream, cancel, resume and download jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from batchml.cli.context import ALL_RESULTS, MAX_RESULTS, AzCommand, app_of
from batchml.cli.stream import stream as stream_job
from batchml.core import spec as specs
from batchml.core.errors import ExitStatus
from batchml.core.job_record import JobStatus
from batchml.services import job_control

app = typer.Typer(help="Manage jobs: batch scoring jobs and pipeline jobs.", no_args_is_help=True)
NAME = typer.Option(..., "-n", "--name", help="Name of the job.")


def follow(ctx: typer.Context, name: str) -> None:
    """Stream a job; exit non-zero unless it Completed."""
    job = stream_job(app_of(ctx).workspace, name)
    if job.status != JobStatus.COMPLETED:
        raise typer.Exit(ExitStatus.FAILED)  # the job did not complete


def follow_or_cancel(ctx: typer.Context, name: str) -> None:
    """Stream a job that this command started; Ctrl-C cancels it."""
    try:
        follow(ctx, name)
    except KeyboardInterrupt:
        click.echo(f"Canceling job {name} ...", err=True)
        job_control.cancel(app_of(ctx).workspace, name)
        raise typer.Exit(ExitStatus.INTERRUPTED) from None


@app.command("create", cls=AzCommand)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file containing the pipeline job."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the job."),
    sets: list[str] = typer.Option(
        [], "--set", help="Update a field of the YAML, e.g. --set inputs.input_data.path=data."
    ),
    stream_: bool = typer.Option(
        False, "-s", "--stream", help="Follow the job until it ends (Ctrl-C cancels it)."
    ),
) -> dict[str, Any] | None:
    """Run a pipeline job (type: pipeline) from its YAML. Returns the job at once.

    Test a pipeline before you deploy it; then deploy the job itself with
    batch-deployment create --set job_definition=azureml:NAME.
    """
    from batchml.services import pipeline_plan  # not on the start-up path of every command

    workspace = app_of(ctx).workspace
    job = pipeline_plan.create(workspace, specs.from_file_and_flags(file, {}, sets), name)
    if not stream_:
        return job_control.show(workspace, job.name)
    follow_or_cancel(ctx, job.name)
    return None


@app.command("show", cls=AzCommand)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a job: status, inputs, outputs, counts, and the error when it Failed."""
    return job_control.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
def list_(
    ctx: typer.Context,
    parent_job_name: str | None = typer.Option(
        None, "-p", "--parent-job-name", help="List child jobs of this job."
    ),
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> list[dict[str, Any]]:
    """List jobs, newest first; with --parent-job-name, the steps of a pipeline job."""
    if parent_job_name:
        return job_control.list_children(app_of(ctx).workspace, parent_job_name)
    app = app_of(ctx)
    return job_control.list_all(app.workspace, None if all_results else max_results, app.warn)


@app.command("stream", cls=AzCommand)
def stream(ctx: typer.Context, name: str = NAME) -> None:
    """Follow a job's logs until it ends; exits non-zero if it did not complete.

    Ctrl-C stops following; the job keeps running.
    """
    try:
        follow(ctx, name)
    except KeyboardInterrupt:
        click.echo(f"Stopped streaming; job {name} keeps running.", err=True)
        raise typer.Exit(ExitStatus.INTERRUPTED) from None


@app.command("cancel", cls=AzCommand)
def cancel(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Cancel a running job: its workers are stopped within seconds.

    What it finished is kept: `batchml job resume` goes on from there.
    """
    workspace = app_of(ctx).workspace
    job_control.cancel(workspace, name)
    return job_control.show(workspace, name)


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
    job_control.resume(workspace, name, retry_failed=retry_failed)
    return job_control.show(workspace, name)


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
        help="Output to download. A batch scoring job's score output goes straight into the "
        "download path; a pipeline job's outputs go under named-outputs/<output>/.",
    ),
    all_: bool = typer.Option(False, "--all", help="Also download the logs, under artifacts/."),
) -> None:
    """Download a finished job's outputs (and with --all, its logs)."""
    copied = job_control.download(app_of(ctx).workspace, name, download_path, all_, output_name)
    for path in copied:
        click.echo(f"Downloaded {path}", err=True)
