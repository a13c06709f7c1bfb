"""`batchml workspace show` and `batchml configure`."""

from __future__ import annotations

from typing import Any

import typer

from batchml.cli.context import AzCommand, app_of, command_group, shown

app = command_group()


@app.command("show", cls=AzCommand)
@shown("batchml workspace show")
def show(ctx: typer.Context) -> dict[str, Any]:
    """Show which workspace commands use, why, and what it holds."""
    # Here, not at the top: the root imports this module for `configure`, and `batchml --help`
    # lists it, which need none of these.
    from batchml.services import workspaces
    from batchml.store import locate

    workspace, reason = locate.resolve_workspace(app_of(ctx).workspace_flag)
    return workspaces.describe(workspace, reason)


@app.command("update", cls=AzCommand)
@shown("batchml workspace update --set env_manager=local")
def update(
    ctx: typer.Context,
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="Space-separated KEY=VALUE defaults of this workspace (empty value unsets): "
        "env_manager=local runs jobs in batchml's interpreter, env_manager=uv builds their "
        "environments.",
    ),
) -> dict[str, Any]:
    """Set the workspace's defaults, e.g. batchml workspace update --set env_manager=local."""
    from batchml.services import workspaces
    from batchml.store import locate

    workspace, reason = locate.resolve_workspace(app_of(ctx).workspace_flag)
    return workspaces.update(workspace, sets, reason)


@shown("batchml configure --defaults workspace=~/ml-workspace", "batchml configure --list-defaults")
def configure(
    defaults: list[str] = typer.Option(
        [],
        "-d",
        "--defaults",
        help="Space-separated key=value defaults, e.g. workspace=PATH (empty value unsets).",
    ),
    list_defaults: bool = typer.Option(
        False, "-l", "--list-defaults", help="List the configured defaults."
    ),
) -> dict[str, str] | None:
    """Set defaults for every command, e.g. batchml configure --defaults workspace=PATH."""
    from batchml.store import locate

    if defaults:
        changed = locate.set_defaults(defaults)
        return changed if list_defaults else None
    return locate.read_defaults()
