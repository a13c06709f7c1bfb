"""`batchml environment`: versioned environments, recorded (image, conda file), not built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli.context import AzCommand, app_of, parse_tags
from batchml.core import spec as specs
from batchml.core.errors import UsageError
from batchml.services import environments

app = typer.Typer(
    help="Manage Azure ML environments (recorded, not built: jobs run in batchml's interpreter).",
    no_args_is_help=True,
)


@app.command("create", cls=AzCommand)
def create(
    ctx: typer.Context,
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Local path to the YAML file containing the environment."
    ),
    name: str | None = typer.Option(None, "-n", "--name", help="Name of the environment."),
    version: str | None = typer.Option(
        None, "-v", "--version", help="Version of the environment; default: the next number."
    ),
    image: str | None = typer.Option(None, "-i", "--image", help="Docker image."),
    conda_file: str | None = typer.Option(
        None,
        "-c",
        "--conda-file",
        help="Local path to a conda specification file. --image/-i must also be specified if "
        "this argument is used.",
    ),
    description: str | None = typer.Option(
        None, "--description", help="Description of the environment."
    ),
    tags: list[str] = typer.Option([], "--tags", help="Space-separated key=value tags."),
    sets: list[str] = typer.Option(
        [], "--set", help="Update a field of the YAML, e.g. --set version=3."
    ),
) -> dict[str, Any]:
    """Create an environment. A local conda file is copied into the workspace."""
    flags = {
        "name": name,
        "version": version,
        "image": image,
        "conda_file": conda_file,
        "description": description,
        "tags": parse_tags(tags),
    }
    if file is None and not (name and image):
        raise UsageError("give -f environment.yml, or --name and --image")
    spec = specs.from_file_and_flags(file, flags, sets)
    return environments.create(app_of(ctx).workspace, spec)


@app.command("show", cls=AzCommand)
def show(
    ctx: typer.Context,
    name: str = typer.Option(..., "-n", "--name", help="Name of the environment."),
    version: str | None = typer.Option(None, "-v", "--version", help="Version of the environment."),
    label: str | None = typer.Option(None, "-l", "--label", help="Label of the environment."),
) -> dict[str, Any]:
    """Show details for an environment: one version (-v), or the latest (-l latest, or neither)."""
    if version and label:
        raise UsageError("give -v/--version or -l/--label, not both")
    return environments.show(app_of(ctx).workspace, name, version, label)


@app.command("build", cls=AzCommand)
def build(
    ctx: typer.Context,
    name: str = typer.Option(..., "-n", "--name", help="Name of the environment."),
    version: str | None = typer.Option(
        None, "-v", "--version", help="Version of the environment (default: the latest)."
    ),
) -> dict[str, Any]:
    """Build an environment's virtualenv now, from its conda file, with uv.

    Environments are cached per user ($BATCHML_CACHE_DIR, default ~/.cache/batchml) and
    shared by all workspaces: one that is already built is reused at once. uv's own settings
    (UV_INDEX_URL, UV_FIND_LINKS, UV_OFFLINE ...) choose where packages come from.

    Example: batchml environment build -n digits-env -v 1 --query packages
    """
    return environments.build(app_of(ctx).workspace, name, version, app_of(ctx).inform)


@app.command("list", cls=AzCommand)
def list_(
    ctx: typer.Context,
    name: str | None = typer.Option(
        None,
        "-n",
        "--name",
        help="Name of the environment. If provided, all the environment versions under this "
        "name will be returned.",
    ),
) -> list[dict[str, Any]]:
    """List environments in a workspace: the latest version of each, or every version of one."""
    return environments.list_all(app_of(ctx).workspace, name)
