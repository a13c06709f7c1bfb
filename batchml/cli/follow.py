"""Following a job from the command that started it (`--stream`) or from `job stream`: its
logs and progress until it ends, and what Ctrl-C does (stops following; the job keeps running).
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

import click
import typer

from batchml.cli.context import app_of
from batchml.core.errors import ExitStatus
from batchml.core.job_record import JobStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from batchml.core.jobs import AnyJob

STREAM_HELP = (
    "Follow the job until it ends: logs and progress on stderr, then the job on stdout. "
    "Ctrl-C stops following; the job keeps running."
)


def _follow(ctx: typer.Context, name: str, out: IO[str] | None) -> AnyJob:
    """Stream a job until it ends, its logs to `out` (stdout unless given). Ctrl-C stops
    following and leaves the job running."""
    try:
        # Here, not at the top: `invoke` without --stream and the other job commands need
        # none of the live view's modules.
        from batchml.cli.stream import stopped
        from batchml.cli.stream import stream as stream_job

        return stream_job(app_of(ctx).workspace, name, out)
    except KeyboardInterrupt:
        click.echo(stopped(name), err=True)
        raise typer.Exit(ExitStatus.INTERRUPTED) from None


def follow(ctx: typer.Context, name: str) -> None:
    """Stream a job; exit non-zero unless it Completed."""
    if _follow(ctx, name, None).status != JobStatus.COMPLETED:
        raise typer.Exit(ExitStatus.FAILED)  # the job did not complete


def follow_started(
    ctx: typer.Context, name: str, view: Callable[[AnyJob], dict[str, Any]]
) -> dict[str, Any]:
    """`--stream` on a command that started a job: its logs and progress go to stderr, and
    `view` of the ended job (what the command returns without --stream) to stdout; exit
    non-zero unless it Completed."""
    job = _follow(ctx, name, sys.stderr)
    if job.status != JobStatus.COMPLETED:
        app_of(ctx).exit_status = ExitStatus.FAILED
    return view(job)
