"""`batchml batch-endpoint`: manage batch endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from batchml.cli.context import (
    ALL_RESULTS,
    MAX_RESULTS,
    YES,
    AzCommand,
    app_of,
    confirm_or_fail,
)
from batchml.cli.job import follow_or_cancel
from batchml.core import invocation
from batchml.core import spec as specs
from batchml.services import endpoints, job_control

app = typer.Typer(help="Manage batch endpoints.", no_args_is_help=True)

FILE = typer.Option(None, "-f", "--file", help="Local path to the YAML file (endpoint.yml).")
NAME = typer.Option(..., "-n", "--name", help="Name of the batch endpoint.")
SETS = typer.Option(
    [], "--set", help="Update a field of the YAML, e.g. --set description=demo tags.team=ml."
)


@app.command("create", cls=AzCommand)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file (endpoint.yml)."
    ),
    name: str | None = typer.Option(
        None, "-n", "--name", help="Name of the endpoint; overrides the file's."
    ),
    sets: list[str] = SETS,
) -> dict[str, Any]:
    """Create a batch endpoint (an existing one of that name is overwritten)."""
    spec = specs.load_file(file)
    if name:
        spec.data["name"] = name
    specs.apply_sets(spec, sets)
    return endpoints.create(app_of(ctx).workspace, spec)


@app.command("update", cls=AzCommand)
def update(
    ctx: typer.Context, name: str = NAME, file: Path | None = FILE, sets: list[str] = SETS
) -> dict[str, Any]:
    """Update description, tags or the default deployment (--set defaults.deployment_name=DEP)."""
    return endpoints.update(app_of(ctx).workspace, name, specs.from_file_and_flags(file, {}), sets)


@app.command("show", cls=AzCommand)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a batch endpoint."""
    return endpoints.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
def list_(ctx: typer.Context) -> list[dict[str, Any]]:
    """List the batch endpoints of the workspace."""
    return endpoints.list_all(app_of(ctx).workspace)


@app.command("delete", cls=AzCommand)
def delete(
    ctx: typer.Context,
    name: str = NAME,
    yes: bool = YES,
) -> None:
    """Delete a batch endpoint and its deployments. Its jobs are kept."""
    confirm_or_fail(yes, f"delete batch endpoint '{name}' and its deployments")
    for warning in endpoints.delete(app_of(ctx).workspace, name):
        app_of(ctx).warn(warning)


@app.command("invoke", cls=AzCommand)
def invoke(
    ctx: typer.Context,
    name: str = NAME,
    deployment: str | None = typer.Option(
        None, "-d", "--deployment-name", help="Deployment to run; default: the endpoint's default."
    ),
    input_: str | None = typer.Option(
        None, "--input", help="A local folder or file, azureml:data@latest, or a datastore URI."
    ),
    input_type: str | None = typer.Option(
        None,
        "--input-type",
        click_type=click.Choice(["uri_folder", "uri_file"]),
        help="Type of --input.",
    ),
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Invocation YAML with inputs: and outputs:."
    ),
    mini_batch_size: int | None = typer.Option(
        None, "-m", "--mini-batch-size", min=1, help="Files per mini-batch."
    ),
    instance_count: int | None = typer.Option(
        None, "-c", "--instance-count", min=1, help="Instances to use."
    ),
    output_path: str | None = typer.Option(
        None, "--output-path", help="Folder or datastore URI for the score output."
    ),
    job_name: str | None = typer.Option(
        None, "--job-name", help="Name of the job (default: generated)."
    ),
    experiment_name: str | None = typer.Option(
        None, "--experiment-name", help="Experiment (default: endpoint)."
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="Inputs and outputs, e.g. --set inputs.NAME.type=uri_folder inputs.NAME.path=data "
        "inputs.mode=fast; for model deployments also per-job settings, e.g. --set "
        "output_file_name=out.csv error_threshold=5 retry_settings.timeout=60.",
    ),
    stream: bool = typer.Option(
        False, "--stream", help="Follow the job until it ends (Ctrl-C cancels it)."
    ),
) -> dict[str, Any] | None:
    """Run a job on a deployment. Returns the job at once; it runs in the background.

    A model deployment scores one data input; a pipeline deployment runs its pipeline with the
    inputs its pipeline declares (-f inputs.yml, --set inputs.NAME..., or --input for its one
    data input).
    """
    from batchml.services import invocations  # not on the start-up path of every command

    from_file = invocation.load(file) if file else invocation.Invocation()
    options = invocations.InvokeOptions(
        endpoint=name,
        deployment=deployment or from_file.deployment,
        input=input_,
        input_type=input_type,
        mini_batch_size=mini_batch_size,
        instance_count=instance_count,
        output_path=output_path,
        job_name=job_name,
        experiment_name=experiment_name,
        sets=tuple(sets),
        invocation=from_file,
    )
    workspace = app_of(ctx).workspace
    job = invocations.invoke(workspace, options)
    if not stream:
        return job.batch_view(workspace.name, str(job_control.job_dir(workspace, job.name)))
    follow_or_cancel(ctx, job.name)
    return None


@app.command("list-jobs", cls=AzCommand)
def list_jobs(
    ctx: typer.Context,
    name: str = NAME,
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> list[dict[str, Any]]:
    """List the jobs submitted to a batch endpoint, newest first."""
    workspace = app_of(ctx).workspace
    endpoints.get(workspace, name)
    limit = None if all_results else max_results
    return job_control.list_for(workspace, name, None, app_of(ctx).warn, limit)
