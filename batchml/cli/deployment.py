"""`batchml batch-deployment`: manage the deployments of a batch endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from batchml.cli import complete, tables
from batchml.cli.context import (
    ALL_RESULTS,
    MAX_RESULTS,
    YES,
    AzCommand,
    app_of,
    command_group,
    confirm_or_fail,
    shown,
)
from batchml.core import spec as specs
from batchml.core.errors import ExitStatus, UsageError
from batchml.services import deployment_specs, deployments, job_control

app = command_group()

ENDPOINT = typer.Option(
    ...,
    "-e",
    "--endpoint-name",
    "--endpoint",
    help="Name of the batch endpoint.",
    autocompletion=complete.endpoints,
)
NAME = typer.Option(
    ..., "-n", "--name", help="Name of the deployment.", autocompletion=complete.deployments
)
SETS = typer.Option(
    [],
    "--set",
    help="Update a field, e.g. --set settings.mini_batch_size=20 (settings. may be omitted).",
)
SKIP = typer.Option(
    False, "--skip-script-validation", help="Do not syntax-check the scoring script."
)


@app.command("create", cls=AzCommand)
@shown(
    "batchml batch-deployment create --file deployment.yml --endpoint-name digits-ep --set-default",
    table=tables.deployment,
)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file (deployment.yml)."
    ),
    endpoint: str | None = typer.Option(
        None,
        "-e",
        "--endpoint-name",
        "--endpoint",
        help="Endpoint; overrides the file's endpoint_name.",
    ),
    name: str | None = typer.Option(
        None, "-n", "--name", help="Deployment name; overrides the file's."
    ),
    set_default: bool = typer.Option(
        False, "--set-default", help="Make it the endpoint's default deployment."
    ),
    sets: list[str] = SETS,
    skip_script_validation: bool = SKIP,
) -> dict[str, Any]:
    """Create a deployment (an existing one of that name is overwritten).

    The code folder and an inline model are copied into the workspace now: later edits to
    your files do not change the deployment.
    """
    options = deployment_specs.Options(
        name, endpoint, tuple(sets), set_default, not skip_script_validation
    )
    return deployments.create(app_of(ctx).workspace, specs.load_file(file), options)


@app.command("update", cls=AzCommand)
@shown(
    "batchml batch-deployment update -n digits-svc -e digits-ep --set settings.mini_batch_size=20",
    table=tables.deployment,
)
def update(
    ctx: typer.Context,
    file: Path | None = typer.Option(None, "-f", "--file", help="Local path to the YAML file."),
    endpoint: str | None = typer.Option(
        None, "-e", "--endpoint-name", "--endpoint", help="Name of the endpoint."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the deployment."),
    sets: list[str] = SETS,
    skip_script_validation: bool = SKIP,
) -> dict[str, Any]:
    """Update a deployment from a file, or change fields with --set."""
    options = deployment_specs.Options(
        name, endpoint, tuple(sets), False, not skip_script_validation
    )
    spec = specs.load_file(file) if file else None
    return deployments.update(app_of(ctx).workspace, spec, options)


@app.command("test", cls=AzCommand)
@shown(
    "batchml batch-deployment test -f deployment.yml --input data/in3.txt",
    "batchml batch-deployment test -n $DEPLOYMENT_NAME -e $ENDPOINT_NAME --input data --limit 2",
    "batchml batch-deployment test -f deployment.yml --input data --pdb",
)
def test(
    ctx: typer.Context,
    input_value: str = typer.Option(
        ..., "--input", help="A file or folder (or azureml: data) to take the mini-batches from."
    ),
    file: Path | None = typer.Option(
        None, "-f", "--file", help="A deployment YAML to try, without creating it."
    ),
    endpoint: str | None = typer.Option(
        None, "-e", "--endpoint-name", "--endpoint", help="Endpoint (of -n, or overriding -f's)."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="An existing deployment to try."),
    limit: int = typer.Option(1, "--limit", help="How many mini-batches to run."),
    pdb: bool = typer.Option(False, "--pdb", help="Start the debugger at an exception."),
    sets: list[str] = SETS,
) -> None:
    """Try a scoring script in the foreground: init(), then run() on the first mini-batch (or
    --limit N) of --input, in the deployment's environment.

    The rows run() returns go to stdout as the output file would hold them; what the script
    prints, and a failure's traceback, to stderr. No job is made, nothing in the workspace
    changes. Exits 1 if init() or a mini-batch failed.
    """
    from batchml.services import debugging

    if file is None and not (name and endpoint):
        raise UsageError("test needs -f/--file, or -n/--name and -e/--endpoint-name")
    options = deployment_specs.Options(name, endpoint, tuple(sets), False, True)
    target = specs.load_file(file) if file is not None else (str(endpoint), str(name))
    how = debugging.Foreground(pdb=pdb, say=app_of(ctx).inform)
    status = debugging.test(app_of(ctx).workspace, target, options, input_value, limit, how)
    if status != 0:
        raise typer.Exit(ExitStatus.FAILED)


@app.command("show", cls=AzCommand)
@shown("batchml batch-deployment show -n digits-svc -e digits-ep -o table", table=tables.deployment)
def show(ctx: typer.Context, name: str = NAME, endpoint: str = ENDPOINT) -> dict[str, Any]:
    """Show a deployment."""
    return deployments.show(app_of(ctx).workspace, endpoint, name)


@app.command("list", cls=AzCommand)
@shown("batchml batch-deployment list -e digits-ep -o table", table=tables.deployment)
def list_(ctx: typer.Context, endpoint: str = ENDPOINT) -> list[dict[str, Any]]:
    """List the deployments of an endpoint."""
    return deployments.list_all(app_of(ctx).workspace, endpoint)


@app.command("delete", cls=AzCommand)
@shown("batchml batch-deployment delete -n digits-svc -e digits-ep --yes")
def delete(
    ctx: typer.Context,
    name: str = NAME,
    endpoint: str = ENDPOINT,
    yes: bool = YES,
) -> None:
    """Delete a deployment."""
    confirm_or_fail(yes, f"delete batch deployment '{name}' of '{endpoint}'")
    for warning in deployments.delete(app_of(ctx).workspace, endpoint, name):
        app_of(ctx).warn(warning)


@app.command("list-jobs", cls=AzCommand)
@shown(
    "batchml batch-deployment list-jobs -n digits-svc -e digits-ep -o table",
    table=tables.endpoint_job,
)
def list_jobs(
    ctx: typer.Context,
    name: str = NAME,
    endpoint: str = ENDPOINT,
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> Iterable[dict[str, Any]]:
    """List the jobs that ran on a deployment, newest first."""
    workspace = app_of(ctx).workspace
    deployments.get(workspace, endpoint, name)
    limit = None if all_results else max_results
    return job_control.list_for(workspace, endpoint, name, app_of(ctx).warn, limit)
