"""`batchml environment`: versioned environments (image, conda file), their virtualenvs built
with uv into the per-user cache, and that cache's contents (list-builds, prune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli import tables
from batchml.cli.context import (
    DRY_RUN,
    YES,
    AzCommand,
    app_of,
    command_group,
    confirm_or_fail,
    parse_tags,
    shown,
)
from batchml.core import spec as specs
from batchml.core.errors import UsageError
from batchml.services import environments

app = command_group()


@app.command("create", cls=AzCommand)
@shown(
    "batchml environment create --name digits-env --image python:3.11 --conda-file conda.yml",
    table=tables.asset,
)
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
@shown("batchml environment show -n digits-env -l latest", table=tables.asset)
def show(
    ctx: typer.Context,
    name: str = typer.Option(..., "-n", "--name", help="Name of the environment."),
    version: str | None = typer.Option(None, "-v", "--version", help="Version of the environment."),
    label: str | None = typer.Option(None, "-l", "--label", help="Label of the environment."),
) -> dict[str, Any]:
    """Show details for an environment: one version (-v), or the latest (-l latest, or neither).

    Besides Azure's fields, `local_build` says whether its virtualenv is built in the cache
    (built, key, path, python_version, size_bytes, built_at, last_used_at, packages), or
    why not; nothing is built to tell.
    """
    if version and label:
        raise UsageError("give -v/--version or -l/--label, not both")
    return environments.show(app_of(ctx).workspace, name, version, label)


@app.command("build", cls=AzCommand)
@shown("batchml environment build -n digits-env")
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
@shown("batchml environment list -o table", table=tables.asset)
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


@app.command("list-builds", cls=AzCommand)
@shown("batchml environment list-builds")
def list_builds(ctx: typer.Context) -> dict[str, Any]:
    """List the environments built in the per-user cache, shared by all workspaces.

    Each with its key, path, Python, the requirements it was built from, its size (disk use,
    each hard-linked file counted once), when it was built and last used; and the size of
    the whole cache.

    Example: batchml environment list-builds --query environments -o table
    """
    from batchml.services import environment_builds

    return environment_builds.list_builds()


@app.command("prune", cls=AzCommand)
@shown("batchml environment prune --dry-run --yes")
def prune(
    ctx: typer.Context,
    dry_run: bool = DRY_RUN,
    everything: bool = typer.Option(
        False, "--all", help="Remove every cached environment, whichever workspace uses it."
    ),
    yes: bool = YES,
) -> dict[str, Any]:
    """Remove the built environments this workspace does not use from the per-user cache.

    Kept: those of its registered environments, of its model deployments, and of its jobs
    that are not Completed (running, or resumable). The cache is shared by all workspaces of
    the user: an environment only another workspace uses is removed too, and built again
    when a job needs it. One a job is running in (of any workspace) or being built is
    skipped. Leftovers of killed builds go too. Files uv hard-linked from its own cache stay
    there (see freed_bytes; `uv cache prune` cleans uv's cache).

    Example: batchml environment prune --dry-run --query "removed[].path"
    """
    from batchml.services import environment_builds

    if not dry_run:
        what = "of all workspaces" if everything else "this workspace does not use"
        confirm_or_fail(yes, f"remove the cached environments {what}")
    app = app_of(ctx)
    workspace = None if everything else app.workspace
    return environment_builds.prune(workspace, dry_run=dry_run, warn=app.warn)
