"""`batchml component`: command and pipeline components, registered in versions.

The service is imported by the commands that use it: every command loads this module, and the
component machinery is not small."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli import tables
from batchml.cli.context import AzCommand, app_of, command_group, shown
from batchml.core import spec as specs
from batchml.core.errors import UsageError

app = command_group()


@app.command("create", cls=AzCommand)
@shown("batchml component create -f component.yml", table=tables.asset)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file containing the component."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the component."),
    version: str | None = typer.Option(
        None, "-v", "--version", help="Version; default: the next number."
    ),
    sets: list[str] = typer.Option(
        [], "--set", help="Update a field of the YAML, e.g. --set version=3."
    ),
) -> dict[str, Any]:
    """Register a component version: its code folder is copied into the workspace.

    Creating an existing version again with the same content returns it unchanged.
    """
    from batchml.services import components

    spec = specs.from_file_and_flags(file, {"name": name, "version": version}, sets)
    return components.create(app_of(ctx).workspace, spec)


@app.command("show", cls=AzCommand)
@shown("batchml component show -n prepare-data -l latest", table=tables.asset)
def show(
    ctx: typer.Context,
    name: str = typer.Option(..., "-n", "--name", help="Name of the component."),
    version: str | None = typer.Option(None, "-v", "--version", help="Version to show."),
    label: str | None = typer.Option(None, "-l", "--label", help="Label: latest."),
) -> dict[str, Any]:
    """Show one version (-v), or the latest (-l latest, or neither)."""
    if version and label:
        raise UsageError("give -v/--version or -l/--label, not both")
    from batchml.services import components

    workspace = app_of(ctx).workspace
    return components.show(workspace, name=name, version=version, label=label)


@app.command("list", cls=AzCommand)
@shown("batchml component list -o table", table=tables.asset)
def list_(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "-n", "--name", help="List every version of this one."),
) -> list[dict[str, Any]]:
    """List the latest version of each component, or every version of one (-n)."""
    from batchml.services import components

    return components.list_all(app_of(ctx).workspace, name)
