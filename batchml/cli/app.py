"""The `batchml` command: its entry point, and the one place errors become exit codes (the
ExitStatus of batchml.core.errors). Its command groups are batchml.cli.root's.

Nothing but the standard library is imported before main() has read the command line:
`batch-endpoint invoke` forks its job's runner first (batchml.runner.detach), which imports
itself and starts its workers' fork server on the other core while this process imports the
CLI (typer, click and the command's own modules: about a third of a second of CPU, compiled
from source) and records the job.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from batchml.core.errors import ExitStatus
    from batchml.runner.detach import Ahead

# The words of a command line that may run a job, after `batch-endpoint invoke`: help and a
# dry run do not.
_NO_JOB = frozenset(("--help", "-h", "--dry-run"))


def _fail(message: str, code: ExitStatus, hint: str | None = None) -> ExitStatus:
    import click

    lines = message.splitlines() or [""]
    click.echo(f"ERROR: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(f"  {line}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    return code


def run(argv: list[str] | None = None, ahead: Ahead | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; `main` exits with it). `ahead`
    is the runner forked for the job the command line invokes, if any (see main)."""
    import click
    import typer

    from batchml.cli.context import App
    from batchml.cli.root import app
    from batchml.core.errors import ExitStatus
    from batchml.core.streams import escape_unencodable

    escape_unencodable()
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=args, prog_name="batchml", standalone_mode=False, obj=App(ahead=ahead)
        )
    except click.exceptions.Abort:
        return _fail("aborted", ExitStatus.INTERRUPTED)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code  # click's own: 1 and 2 (usage), as ExitStatus has them
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except Exception as exc:
        return _failed(exc, "--debug" in args)
    return result if isinstance(result, int) else ExitStatus.SUCCESS


def _failed(exc: Exception, debug: bool) -> int:
    """The exit status of a command that raised `exc`, said on stderr (the traceback too, with
    --debug)."""
    from batchml.core.errors import BatchmlError, ExitStatus

    if debug:
        traceback.print_exc()
    if isinstance(exc, BatchmlError):
        return _fail(exc.message, exc.exit_code, exc.hint)
    if debug:
        return ExitStatus.FAILED
    return _fail(
        f"unexpected error: {type(exc).__name__}: {exc}",
        ExitStatus.FAILED,
        "run the command again with --debug to see the traceback",
    )


# The flags of the command line `_streamed` takes, and what each gives.
_STREAM_FLAGS = {"-n": "name", "--name": "name", "-w": "workspace", "--workspace-name": "workspace"}


def _stream_line(args: list[str]) -> tuple[str, str | None] | None:
    """(job name, -w folder or None) of the command line `job stream -n NAME [-w PATH]`, the
    flags in any order, `--name=NAME` too; None for any other command line."""
    if args[:2] != ["job", "stream"]:
        return None
    given: dict[str, str] = {}
    words = iter(args[2:])
    for word in words:
        flag, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        what = _STREAM_FLAGS.get(flag)
        if what is None or what in given or (equals and not value):
            return None
        value = value or next(words, "")
        if not value or value.startswith("-"):
            return None
        given[what] = value
    return (given["name"], given.get("workspace")) if "name" in given else None


def _streamed(args: list[str]) -> int | None:
    """Run `job stream -n NAME [-w PATH]`, the command that follows a job (after every `invoke`
    of a script or a Makefile), without typer and click: a third of its time, with nothing
    else to do once the job has ended. Its exit status; None for any other command line (with
    any other flag, --help or --debug too), which the CLI parses as usual."""
    line = _stream_line(args)
    if line is None:
        return None
    from batchml.cli.stream import stopped, stream
    from batchml.core.errors import ExitStatus
    from batchml.core.job_record import JobStatus
    from batchml.core.streams import escape_unencodable
    from batchml.store.locate import resolve_workspace

    escape_unencodable()
    name, workspace = line
    try:
        job = stream(resolve_workspace(workspace)[0], name)
    except KeyboardInterrupt:
        print(stopped(name), file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except Exception as exc:
        return _failed(exc, debug=False)
    return ExitStatus.SUCCESS if job.status == JobStatus.COMPLETED else ExitStatus.FAILED


def main() -> None:
    args = sys.argv[1:]
    streamed = _streamed(args)
    _exit(run(args, _runner_ahead(args)) if streamed is None else streamed)


def _runner_ahead(args: list[str]) -> Ahead | None:
    """The runner of the job that the command line `args` invokes, forked now (see the
    module's docstring); None for any other command, and when it cannot be forked. A command
    line taken for an invoke that is not (`batch-endpoint invoke --name --help`) costs the
    runner's imports: it exits when this process does, given no job."""
    if args[:2] != ["batch-endpoint", "invoke"] or not _NO_JOB.isdisjoint(args[2:]):
        return None
    from batchml.runner.detach import fork_ahead

    return fork_ahead()


def _exit(code: int) -> NoReturn:
    """Exit with `code` once the exit handlers have run and the output is flushed, without the
    interpreter's teardown, which frees every module and object one by one: tens of
    milliseconds after every command, and more after `invoke`, whose forked runner makes each
    page written then a copy. Not while another thread runs: the teardown waits for it."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except OSError:
        sys.exit(code)  # reported by the teardown, as without this
    os._exit(code)
