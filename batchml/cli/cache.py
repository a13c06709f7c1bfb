"""`batchml cache prune`: the per-user cache of mini-batch results that jobs reuse."""

from __future__ import annotations

from typing import Any

import typer

from batchml.cli.context import DRY_RUN, YES, AzCommand, command_group, confirm_or_fail, shown
from batchml.services import result_cache

app = command_group()


@app.command("prune", cls=AzCommand)
@shown("batchml cache prune --dry-run --yes", "batchml cache prune --all --yes")
def prune(
    dry_run: bool = DRY_RUN,
    everything: bool = typer.Option(
        False, "--all", help="Remove every cached result, and the cached hashes of inputs."
    ),
    yes: bool = YES,
) -> dict[str, Any]:
    """Remove the results used least recently while the cache is over its bound.

    The cache is shared by all workspaces of the user; a job whose results are gone scores
    its mini-batches again, and a pipeline step whose record is gone runs again. Example: batchml cache prune --all --yes --query freed_bytes
    """
    if not dry_run:
        what = "every cached result" if everything else "the results over the cache's bound"
        confirm_or_fail(yes, f"remove {what}")
    return result_cache.prune(everything=everything, dry_run=dry_run)
