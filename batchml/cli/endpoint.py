"""`batchml batch-endpoint`: manage batch endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli.context import AzCommand, app_of, confirm_or_fail
from batchml.core import spec as specs
from batchml.services import endpoints

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
    spec = specs.load_file(file) if file else specs.from_flags({})
    return endpoints.update(app_of(ctx).workspace, name, spec, sets)


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
    yes: bool = typer.Option(False, "-y", "--yes", help="Do not prompt for confirmation."),
) -> None:
    """Delete a batch endpoint and its deployments. Its jobs are kept."""
    confirm_or_fail(yes, f"delete batch endpoint '{name}' and its deployments")
    endpoints.delete(app_of(ctx).workspace, name)


@app.command("list-jobs", cls=AzCommand)
def list_jobs(ctx: typer.Context, name: str = NAME) -> list[dict[str, Any]]:
    """List the jobs submitted to a batch endpoint."""
    workspace = app_of(ctx).workspace
    endpoints.get(workspace, name)
    return endpoints.list_jobs(workspace, name)
