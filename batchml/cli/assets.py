"""`batchml model` and `batchml data`: versioned assets, built from one set of commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from batchml.cli import tables
from batchml.cli.context import AzCommand, app_of, command_group, parse_tags, shown
from batchml.core import spec as specs
from batchml.core.errors import UsageError
from batchml.services import assets

TYPES = {
    "model": "custom_model (default) or mlflow_model",
    "data": "uri_folder (default), uri_file or mltable",
}
CREATE_HELP = {
    "model": (
        "Register a new version. Local files are copied into the workspace. An mlflow_model "
        "is also registered in the workspace's MLflow registry, tagged batchml.version, when "
        "tracking is on (this imports MLflow: seconds); if that fails, a warning says so and "
        "the version is created all the same."
    ),
    "data": "Register a new version. Local files are copied into the workspace.",
}
EXAMPLE = {
    "model": ("digits-classifier", "--type custom_model --path model"),
    "data": ("digits-images", "--type uri_folder --path data"),
}


def build(kind: str) -> typer.Typer:
    """The create/show/list commands of one asset kind."""
    app = command_group()

    example, create_flags = EXAMPLE[kind]

    @app.command("create", cls=AzCommand, help=CREATE_HELP[kind])
    @shown(f"batchml {kind} create --name {example} {create_flags}", table=tables.asset)
    def create(
        ctx: typer.Context,
        file: Path | None = typer.Option(
            None, "-f", "--file", help=f"Local path to the YAML file ({kind}.yml)."
        ),
        name: str | None = typer.Option(None, "-n", "--name", help=f"Name of the {kind}."),
        version: str | None = typer.Option(
            None, "-v", "--version", help="Version; default: the next number."
        ),
        path: str | None = typer.Option(
            None, "-p", "--path", help="Local path (file or folder) or datastore URI."
        ),
        type_: str | None = typer.Option(None, "-t", "--type", help=f"Type: {TYPES[kind]}."),
        description: str | None = typer.Option(None, "-d", "--description", help="Description."),
        tags: list[str] = typer.Option([], "--tags", help="Space-separated key=value tags."),
        sets: list[str] = typer.Option(
            [], "--set", help="Update a field of the YAML, e.g. --set version=3."
        ),
    ) -> dict[str, Any]:
        flags = {
            "name": name,
            "version": version,
            "path": path,
            "type": type_,
            "description": description,
            "tags": parse_tags(tags),
        }
        if file is None and not (name and path):
            raise UsageError(f"give -f {kind}.yml, or --name and --path")
        spec = specs.from_file_and_flags(file, flags, sets)
        app = app_of(ctx)
        return assets.create(app.workspace, kind, spec, app.warn)

    @app.command("show", cls=AzCommand)
    @shown(f"batchml {kind} show -n {example} -l latest", table=tables.asset)
    def show(
        ctx: typer.Context,
        name: str = typer.Option(..., "-n", "--name", help=f"Name of the {kind}."),
        version: str | None = typer.Option(None, "-v", "--version", help="Version to show."),
        label: str | None = typer.Option(None, "-l", "--label", help="Label: latest."),
    ) -> dict[str, Any]:
        """Show one version (-v), or the latest (-l latest, or neither)."""
        if version and label:
            raise UsageError("give -v/--version or -l/--label, not both")
        return assets.show(app_of(ctx).workspace, kind, name, version, label)

    @app.command("list", cls=AzCommand)
    @shown(f"batchml {kind} list -o table", f"batchml {kind} list -n {example}", table=tables.asset)
    def list_(
        ctx: typer.Context,
        name: str | None = typer.Option(
            None, "-n", "--name", help="List every version of this one."
        ),
    ) -> list[dict[str, Any]]:
        """List the latest version of each, or every version of one (-n)."""
        return assets.list_all(app_of(ctx).workspace, kind, name)

    if kind == "model":

        @app.command("sync", cls=AzCommand)
        @shown(
            "batchml model sync",
            'batchml model sync -n heart-classifier --query "imported[].version"',
        )
        def sync(
            ctx: typer.Context,
            name: str | None = typer.Option(
                None, "-n", "--name", help="Only this model's versions."
            ),
        ) -> dict[str, Any]:
            """Make batchml's models and the workspace's MLflow registry agree.

            Each MLflow model version that is not a batchml version yet (one registered outside
            any job, e.g. from a notebook with MLFLOW_TRACKING_URI set to the workspace's store)
            becomes the next batchml version of its name, type mlflow_model; each batchml
            mlflow_model version MLflow has not got (one made while tracking was off) is
            registered there. Prints what it imported and registered; run again, it does nothing.
            """
            app = app_of(ctx)
            return assets.sync_models(app.workspace, name, app.warn)

    return app
