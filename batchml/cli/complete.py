"""Shell completion of the names in the workspace: endpoints, deployments and jobs, from the
workspace folder's listing (no records read, nothing heavy imported), for bash, zsh and fish
(`batchml --install-completion`). Typer calls these with the command's context, whose params
hold what was typed before, and the word being completed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path


def _names(folder: Path, incomplete: str) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith(incomplete))


def _endpoints(ctx: click.Context) -> Path:
    from batchml.store.locate import resolve_workspace

    return resolve_workspace(ctx.params.get("workspace_flag"))[0].root / "endpoints"


def _deployments_of(ctx: click.Context, endpoint: str | None, incomplete: str) -> list[str]:
    """The deployments of `endpoint`, else of every endpoint."""
    root = _endpoints(ctx)
    chosen = [root / endpoint] if endpoint else ([*root.iterdir()] if root.is_dir() else [])
    return sorted({n for folder in chosen for n in _names(folder / "deployments", incomplete)})


def endpoints(ctx: click.Context, incomplete: str) -> list[str]:
    return _names(_endpoints(ctx), incomplete)


def deployments(ctx: click.Context, incomplete: str) -> list[str]:
    """For batch-deployment commands: of the endpoint given with -e."""
    return _deployments_of(ctx, ctx.params.get("endpoint"), incomplete)


def invoked_deployments(ctx: click.Context, incomplete: str) -> list[str]:
    """For invoke -d: of the endpoint given with -n."""
    return _deployments_of(ctx, ctx.params.get("name"), incomplete)


def jobs(ctx: click.Context, incomplete: str) -> list[str]:
    return _names(_endpoints(ctx).parent / "jobs", incomplete)
