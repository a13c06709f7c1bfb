"""`batchml compute`: compute targets (an amlcompute cluster runs jobs on this machine, a ray
compute on a Ray cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli import tables
from batchml.cli.context import YES, AzCommand, app_of, command_group, confirm_or_fail, shown
from batchml.core import spec as specs
from batchml.core.errors import UsageError
from batchml.services import computes

app = command_group()
NAME = typer.Option(..., "-n", "--name", help="Name of the compute.")


@app.command("create", cls=AzCommand)
@shown(
    "batchml compute create -n batch-cluster --type amlcompute --min-instances 0 --max-instances 5",
    "batchml compute create -n ray-cluster --type ray --address 127.0.0.1:6379",
    table=tables.compute,
)
def create(
    ctx: typer.Context,
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Local path to the YAML file (compute.yml)."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the compute."),
    type_: str | None = typer.Option(
        None, "-t", "--type", help="Compute type: amlcompute (this machine) or ray."
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        help="type ray: auto (default), local (a Ray instance started per job), "
        "ray://HOST[:PORT] or HOST:PORT.",
    ),
    size: str | None = typer.Option(None, "--size", help="VM size (recorded)."),
    tier: str | None = typer.Option(None, "--tier", help="dedicated or low_priority (recorded)."),
    min_instances: int | None = typer.Option(
        None, "--min-instances", help="Minimum node count (default 0)."
    ),
    max_instances: int | None = typer.Option(
        None, "--max-instances", help="Maximum node count (default 1)."
    ),
    idle_time: int | None = typer.Option(
        None,
        "--idle-time-before-scale-down",
        help="Seconds before idle nodes scale down (recorded).",
    ),
    description: str | None = typer.Option(None, "--description", help="Description."),
    sets: list[str] = typer.Option([], "--set", help="Update a field of the YAML."),
) -> dict[str, Any]:
    """Create or update a compute target."""
    flags = {
        "name": name,
        "type": type_,
        "address": address,
        "size": size,
        "tier": tier,
        "min_instances": min_instances,
        "max_instances": max_instances,
        "idle_time_before_scale_down": idle_time,
        "description": description,
    }
    if file is None and not (name and type_):
        raise UsageError("give -f compute.yml, or --name and --type amlcompute|ray")
    spec = specs.from_file_and_flags(file, flags, sets)
    return computes.create(app_of(ctx).workspace, spec)


@app.command("show", cls=AzCommand)
@shown("batchml compute show -n batch-cluster -o table", table=tables.compute)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a compute target."""
    return computes.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
@shown("batchml compute list -o table", table=tables.compute)
def list_(ctx: typer.Context) -> list[dict[str, Any]]:
    """List the compute targets."""
    return computes.list_all(app_of(ctx).workspace)


@app.command("delete", cls=AzCommand)
@shown("batchml compute delete -n batch-cluster --yes")
def delete(
    ctx: typer.Context,
    name: str = NAME,
    yes: bool = YES,
) -> None:
    """Delete a compute target."""
    confirm_or_fail(yes, f"delete compute '{name}'")
    computes.delete(app_of(ctx).workspace, name)
