"""The root of the batchml CLI: its command groups, and the one place errors become exit codes
(the ExitStatus of batchml.core.errors).
"""

from __future__ import annotations

import sys
import traceback

import click
import typer

from batchml import __version__
from batchml.cli import (
    assets,
    cache,
    component,
    compute,
    datastore,
    deployment,
    endpoint,
    environment,
    job,
    workspace,
)
from batchml.cli.context import AzCommand
from batchml.core.errors import BatchmlError, ExitStatus

app = typer.Typer(
    name="batchml",
    help="Azure ML batch endpoints, on your machine: the az ml commands over a local workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    suggest_commands=False,
)
app.add_typer(endpoint.app, name="batch-endpoint")
app.add_typer(deployment.app, name="batch-deployment")
app.add_typer(assets.build("model"), name="model")
app.add_typer(assets.build("data"), name="data")
app.add_typer(environment.app, name="environment")
app.add_typer(component.app, name="component")
app.add_typer(compute.app, name="compute")
app.add_typer(datastore.app, name="datastore")
app.add_typer(job.app, name="job")
app.add_typer(workspace.app, name="workspace")
app.add_typer(cache.app, name="cache")
app.command("configure", cls=AzCommand)(workspace.configure)


def _version(value: bool) -> None:
    if value:
        click.echo(f"batchml {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Azure ML batch endpoints, on your machine."""


def _fail(message: str, code: ExitStatus, hint: str | None = None) -> ExitStatus:
    lines = message.splitlines() or [""]
    click.echo(f"ERROR: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(f"  {line}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; `main` exits with it)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="batchml", standalone_mode=False)
    except click.exceptions.Abort:
        return _fail("aborted", ExitStatus.INTERRUPTED)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitStatus.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code  # click's own: 1 and 2 (usage), as ExitStatus has them
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except BatchmlError as exc:
        if debug:
            traceback.print_exc()
        return _fail(exc.message, exc.exit_code, exc.hint)
    except Exception as exc:
        if debug:
            traceback.print_exc()
            return ExitStatus.FAILED
        return _fail(
            f"unexpected error: {type(exc).__name__}: {exc}",
            ExitStatus.FAILED,
            "run the command again with --debug to see the traceback",
        )
    return result if isinstance(result, int) else ExitStatus.SUCCESS


def main() -> None:
    sys.exit(run())
