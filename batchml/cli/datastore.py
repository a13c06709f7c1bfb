"""`batchml datastore`: connections to Azure storage (the default, workspaceblobstore, is a
folder of the workspace). Secrets are never printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli import tables
from batchml.cli.context import COUNT, YES, AzCommand, app_of, command_group, confirm_or_fail, shown
from batchml.core import spec as specs
from batchml.services import datastores

app = command_group()
NAME = typer.Option(..., "-n", "--name", help="Name of the datastore.")


@app.command("create", cls=AzCommand)
@shown("batchml datastore create -f datastore.yml", table=tables.datastore)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(..., "-f", "--file", help="Local path to the YAML file."),
    name: str | None = typer.Option(
        None, "-n", "--name", help="Name of the datastore (overrides the YAML's)."
    ),
    sets: list[str] = typer.Option([], "--set", help="Update a field of the YAML."),
) -> dict[str, Any]:
    """Create or update a datastore."""
    spec = specs.from_file_and_flags(file, {"name": name}, sets)
    return datastores.create(app_of(ctx).workspace, spec)


@app.command("show", cls=AzCommand)
@shown("batchml datastore show -n workspaceblobstore", table=tables.datastore)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a datastore (its credentials' type, never their secrets)."""
    return datastores.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
@shown("batchml datastore list -o table", table=tables.datastore)
def list_(
    ctx: typer.Context,
    max_results: int | None = typer.Option(
        None,
        "-r",
        "--max-results",
        click_type=COUNT,
        help="Maximum number of datastores to return.",
    ),
) -> list[dict[str, Any]]:
    """List the datastores, the default one among them."""
    return datastores.list_all(app_of(ctx).workspace, max_results)


@app.command("delete", cls=AzCommand)
@shown("batchml datastore delete -n images --yes")
def delete(ctx: typer.Context, name: str = NAME, yes: bool = YES) -> None:
    """Delete a datastore: its connection and secrets; the data in storage stays."""
    confirm_or_fail(yes, f"delete datastore '{name}'")
    datastores.delete(app_of(ctx).workspace, name)
