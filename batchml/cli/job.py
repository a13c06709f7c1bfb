"""`batchml job`: create pipeline jobs; show, list, stream, cancel, resume and download jobs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import typer

from batchml.cli import complete, tables
from batchml.cli.context import ALL_RESULTS, MAX_RESULTS, AzCommand, app_of, command_group, shown
from batchml.cli.follow import STREAM_HELP, follow, follow_started
from batchml.core.errors import ExitStatus
from batchml.services import job_control

app = command_group()
NAME = typer.Option(..., "-n", "--name", help="Name of the job.", autocompletion=complete.jobs)


@app.command("create", cls=AzCommand)
@shown(
    "batchml job create -f pipeline-job.yml --set inputs.input_data.path=data --stream",
    table=tables.job,
)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file containing the pipeline job."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the job."),
    sets: list[str] = typer.Option(
        [], "--set", help="Update a field of the YAML, e.g. --set inputs.input_data.path=data."
    ),
    stream_: bool = typer.Option(False, "-s", "--stream", help=STREAM_HELP),
) -> dict[str, Any]:
    """Run a pipeline job (type: pipeline) from its YAML. Returns the job at once.

    Test a pipeline before you deploy it; then deploy the job itself with
    batch-deployment create --set job_definition=azureml:NAME.
    """
    # Not on the start-up path of every command.
    from batchml.core import spec as specs
    from batchml.services import pipeline_plan

    workspace = app_of(ctx).workspace
    job = pipeline_plan.create(workspace, specs.from_file_and_flags(file, {}, sets), name)
    if not stream_:
        return job_control.show(workspace, job.name)
    return follow_started(ctx, job.name, lambda ended: job_control.show(workspace, ended.name))


@app.command("show", cls=AzCommand)
@shown("batchml job show -n $JOB_NAME -o table", table=tables.job)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a job: status, inputs, outputs, counts, and the error when it Failed."""
    return job_control.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
@shown("batchml job list -o table", "batchml job list -p $JOB_NAME", table=tables.job)
def list_(
    ctx: typer.Context,
    parent_job_name: str | None = typer.Option(
        None, "-p", "--parent-job-name", help="List child jobs of this job."
    ),
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> Iterable[dict[str, Any]]:
    """List jobs, newest first; with --parent-job-name, the steps of a pipeline job."""
    app = app_of(ctx)
    limit = None if all_results else max_results
    if parent_job_name:
        return job_control.list_children(app.workspace, parent_job_name, limit)
    return job_control.list_all(app.workspace, limit, app.warn)


@app.command("stream", cls=AzCommand)
@shown("batchml job stream -n $JOB_NAME")
def stream(ctx: typer.Context, name: str = NAME) -> None:
    """Follow a job's logs until it ends; exits non-zero if it did not complete.

    Ctrl-C stops following; the job keeps running.
    """
    follow(ctx, name)


@app.command("cancel", cls=AzCommand)
@shown("batchml job cancel -n $JOB_NAME")
def cancel(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Cancel a running job: its workers are stopped within seconds.

    What it finished is kept: `batchml job resume` goes on from there.
    """
    workspace = app_of(ctx).workspace
    job_control.cancel(workspace, name)
    return job_control.show(workspace, name)


@app.command("resume", cls=AzCommand)
@shown("batchml job resume -n $JOB_NAME --retry-failed")
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


@app.command("failures", cls=AzCommand)
@shown(
    "batchml job failures -n $JOB_NAME -o table",
    'batchml job failures -n $JOB_NAME --all --query "[].files"',
    "batchml job failures -n $JOB_NAME --copy-to quarantine",
    table=tables.failure,
)
def failures(
    ctx: typer.Context,
    name: str = NAME,
    all_: bool = typer.Option(False, "--all", help="Every failed attempt and file, not grouped."),
    copy_to: Path | None = typer.Option(
        None,
        "--copy-to",
        help="Copy the failed input files into this folder (their paths kept), to run them again.",
    ),
) -> list[dict[str, Any]]:
    """List what failed in a batch scoring job, grouped by distinct error with counts.

    Each error names its kind (error in run(), init, timeout, dead_worker, file, short_return),
    the exception, how many attempts and files failed with it, and its first traceback.
    """
    from batchml.services import failures as job_failures

    workspace = app_of(ctx).workspace
    found = job_failures.listing(workspace, name, all_)
    if copy_to is not None:
        copied = job_failures.copy_to(workspace, name, copy_to)
        app_of(ctx).inform(f"Copied {len(copied)} failed input files to {copy_to}")
    return found


@app.command("replay", cls=AzCommand)
@shown(
    "batchml job replay -n $JOB_NAME --file data/in3.txt",
    "batchml job replay -n $JOB_NAME --mini-batch 3 --pdb",
)
def replay(
    ctx: typer.Context,
    name: str = NAME,
    mini_batch: int | None = typer.Option(
        None, "--mini-batch", help="The mini-batch to run again (0-based, as in the job's logs)."
    ),
    file: Path | None = typer.Option(
        None, "--file", help="Run again the mini-batch that held this input file."
    ),
    pdb: bool = typer.Option(False, "--pdb", help="Start the debugger at an exception."),
) -> None:
    """Run one mini-batch of a finished or failed job again, in the foreground.

    It runs with the job's own snapshot of code and model, its settings and its environment
    (even after the deployment changed; a Ray job's replay runs here). Rows go to stdout,
    the script's output and tracebacks to stderr; the job is not changed. Exits 1 if it fails.
    """
    from batchml.services import debugging

    how = debugging.Foreground(pdb=pdb, say=app_of(ctx).inform)
    if debugging.replay(app_of(ctx).workspace, name, mini_batch, file, how) != 0:
        raise typer.Exit(ExitStatus.FAILED)


@app.command("download", cls=AzCommand)
@shown("batchml job download -n $JOB_NAME --output-name score --download-path ./out")
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
