"""`batchml batch-deployment`: manage the deployments of a batch endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli.context import (
    ALL_RESULTS,
    MAX_RESULTS,
    YES,
    AzCommand,
    app_of,
    confirm_or_fail,
)
from batchml.core import spec as specs
from batchml.services import deployment_specs, deployments, job_control

app = typer.Typer(help="Manage batch deployments.", no_args_is_help=True)

ENDPOINT = typer.Option(
    ..., "-e", "--endpoint-name", "--endpoint", help="Name of the batch endpoint."
)
NAME = typer.Option(..., "-n", "--name", help="Name of the deployment.")
SETS = typer.Option(
    [],
    "--set",
    help="Update a field, e.g. --set settings.mini_batch_size=20 (settings. may be omitted).",
)
SKIP = typer.Option(
    False, "--skip-script-validation", help="Do not syntax-check the scoring script."
)


@app.command("create", cls=AzCommand)
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


@app.command("show", cls=AzCommand)
def show(ctx: typer.Context, name: str = NAME, endpoint: str = ENDPOINT) -> dict[str, Any]:
    """Show a deployment."""
    return deployments.show(app_of(ctx).workspace, endpoint, name)


@app.command("list", cls=AzCommand)
def list_(ctx: typer.Context, endpoint: str = ENDPOINT) -> list[dict[str, Any]]:
    """List the deployments of an endpoint."""
    return deployments.list_all(app_of(ctx).workspace, endpoint)


@app.command("delete", cls=AzCommand)
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
def list_jobs(
    ctx: typer.Context,
    name: str = NAME,
    endpoint: str = ENDPOINT,
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> list[dict[str, Any]]:
    """List the jobs that ran on a deployment, newest first."""
    workspace = app_of(ctx).workspace
    deployments.get(workspace, endpoint, name)
    limit = None if all_results else max_results
    return job_control.list_for(workspace, endpoint, name, app_of(ctx).warn, limit)
