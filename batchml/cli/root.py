"""The root of the batchml CLI: its Typer app and command groups (the command itself, and its
exit codes, are batchml.cli.app's).
"""

from __future__ import annotations

import copy
import importlib
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import click
import typer
from typer.core import TyperGroup
from typer.models import TyperInfo

from batchml import __version__
from batchml.cli import workspace
from batchml.cli.context import AzCommand, HelpGroup
from batchml.cli.help import load_formatter

if TYPE_CHECKING:
    from collections.abc import Callable


class _Group(NamedTuple):
    """A command group: the help that lists it, and how to build it."""

    help: str
    build: Callable[[], typer.Typer]


# The command groups, in the order help lists them: each module is imported only when its
# group is used (a command, its help, completion), so that a command compiles and builds its
# own group's commands only (PYTHONDONTWRITEBYTECODE: every module is compiled from source);
# `batchml --help` lists them from here, importing none.
GROUPS: dict[str, _Group] = {
    "batch-endpoint": _Group("Manage batch endpoints.", lambda: _cli("endpoint").app),
    "batch-deployment": _Group("Manage batch deployments.", lambda: _cli("deployment").app),
    "model": _Group("Manage model assets (versioned).", lambda: _cli("assets").build("model")),
    "data": _Group("Manage data assets (versioned).", lambda: _cli("assets").build("data")),
    "environment": _Group(
        "Manage Azure ML environments and their virtualenvs, built with uv in a per-user cache.",
        lambda: _cli("environment").app,
    ),
    "component": _Group("Manage components (command and pipeline).", lambda: _cli("component").app),
    "compute": _Group("Manage compute targets.", lambda: _cli("compute").app),
    "datastore": _Group("Manage datastores.", lambda: _cli("datastore").app),
    "job": _Group("Manage jobs: batch scoring jobs and pipeline jobs.", lambda: _cli("job").app),
    "workspace": _Group("Inspect the workspace folder.", lambda: workspace.app),
    "cache": _Group(
        "Manage the per-user cache of mini-batch results that jobs reuse.",
        lambda: _cli("cache").app,
    ),
}


def _cli(module: str) -> Any:
    return importlib.import_module(f"batchml.cli.{module}")


class _Root(TyperGroup):
    """The root group, whose command groups are built from GROUPS when first named; its own
    help lists them by their help in GROUPS, without building them."""

    listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*(name for name in super().list_commands(ctx) if name not in GROUPS), *GROUPS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        group = GROUPS.get(cmd_name)
        if group is not None and cmd_name not in self.commands:
            if self.listing:
                return click.Group(cmd_name, help=group.help)
            self.commands[cmd_name] = _group(group.build(), cmd_name, group.help)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        load_formatter()
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


class _Commands(HelpGroup):
    """A command group whose commands are built when first named: typer builds a command by
    inspecting its function (milliseconds each), and a command line names one."""

    build: dict[str, Callable[[], click.Command]]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.build)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.build:  # click suggests a name from all of them: build them
            for name in self.build:
                self.get_command(ctx, name)
        elif cmd_name not in self.commands:
            self.commands[cmd_name] = self.build[cmd_name]()
        return super().get_command(ctx, cmd_name)


def _group(built: typer.Typer, name: str, help: str) -> _Commands:
    """The click group of the command group `built`, as typer makes it, each command built
    when first named."""
    shell = copy.copy(built)
    shell.registered_commands = []
    group = typer.main.get_group_from_info(
        TyperInfo(shell, name=name, help=help, cls=_Commands),
        pretty_exceptions_short=app.pretty_exceptions_short,
        suggest_commands=app.suggest_commands,
        rich_markup_mode=app.rich_markup_mode,
    )
    assert isinstance(group, _Commands) and not built.registered_groups
    build = partial(
        typer.main.get_command_from_info,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )
    group.build = {
        command.name or typer.main.get_command_name(command.callback.__name__): partial(
            build, command
        )
        for command in built.registered_commands
        if command.callback is not None
    }
    return group


app = typer.Typer(
    name="batchml",
    cls=_Root,
    help="Azure ML batch endpoints, on your machine: the az ml commands over a local workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    suggest_commands=False,
)
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
