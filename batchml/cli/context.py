"""The application context and the command class every batchml command uses.

`AzCommand` adds the global arguments `az` has (-w, -o, --query, --debug, and the az-only flags
that mean nothing locally), takes `--set a=1 b=2` the way az does, and hands whatever the command
returns to the one renderer.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click
import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from batchml.cli.help import load_formatter
from batchml.core.errors import UsageError
from batchml.output.formats import FORMATS

if TYPE_CHECKING:
    from batchml.output.query import Query
    from batchml.runner.detach import Ahead
    from batchml.store.workspace import Workspace

# Options that take several space-separated values after one flag, as in `az --set a=1 b=2`.
MULTI_VALUE = ("--set", "--tags", "--defaults", "--add", "--remove")


@dataclass
class App:
    """What a command needs besides its own arguments; lives in `ctx.obj`."""

    workspace_flag: str | None = None
    output: str = "json"
    query: Query | None = None
    debug: bool = False
    # The exit status after the result is rendered, for a command whose result says it failed.
    exit_status: int = 0
    # The runner forked for the job this command invokes as the command started, if any.
    ahead: Ahead | None = None

    @property
    def workspace(self) -> Workspace:
        from batchml.store.locate import resolve_workspace

        return resolve_workspace(self.workspace_flag)[0]

    def runner_ahead(self) -> Ahead | None:
        """The runner of the job this command invokes: the one forked as the command started
        (batchml.cli.app.main), else one forked now; None if it cannot be (see
        batchml.runner.detach.fork_ahead)."""
        if self.ahead is None:
            from batchml.runner.detach import fork_ahead

            self.ahead = fork_ahead()
        return self.ahead

    def warn(self, message: str) -> None:
        """Messages go to stderr, so that stdout stays data only."""
        click.echo(f"WARNING: {message}", err=True)

    def inform(self, message: str) -> None:
        """Progress of long work, on stderr."""
        click.echo(message, err=True)


def app_of(ctx: typer.Context) -> App:
    app = ctx.find_object(App)
    if app is None:
        app = ctx.ensure_object(App)
    return app


def _compile_query(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Query | None:
    if value is None:
        return None
    from batchml.output.query import compile_query

    try:
        return compile_query(value)
    except UsageError as exc:
        detail = (exc.hint or "").splitlines()
        # jmespath's first line ends "..., for expression:" with the expression on the next
        # lines; the message already quotes it.
        first = detail[0] if detail else "invalid expression"
        reason = first.removesuffix(", for expression:").rstrip(": ")
        raise click.BadParameter(
            f"{value!r} is not a valid JMESPath expression: {reason}"
        ) from None


def _global_options() -> list[click.Option]:
    """az's global arguments, in their own help panel; the az-only ones are hidden."""
    panel = "Global Arguments"
    return [
        TyperOption(
            param_decls=["-w", "--workspace-name", "workspace_flag"],
            metavar="PATH",
            rich_help_panel=panel,
            help="Workspace folder (default: see batchml workspace show).",
        ),
        TyperOption(
            param_decls=["-o", "--output", "output_format"],
            type=click.Choice(FORMATS),
            default="json",
            metavar="FORMAT",
            rich_help_panel=panel,
            help=f"Output format: {', '.join(FORMATS)} (default json).",
        ),
        TyperOption(
            param_decls=["--query", "query_expr"],
            metavar="JMESPATH",
            callback=_compile_query,
            rich_help_panel=panel,
            help="JMESPath query applied to the result, e.g. --query name -o tsv.",
        ),
        TyperOption(
            param_decls=["--debug"], is_flag=True, rich_help_panel=panel, help="Show tracebacks."
        ),
        *(_ignored(["--verbose"]), _ignored(["--only-show-errors"]), _ignored(["--no-wait"])),
        *(_ignored(["--web"]), _ignored(["-g", "--resource-group"], flag=False)),
        _ignored(["--subscription"], flag=False),
    ]


def _ignored(decls: list[str], flag: bool = True) -> TyperOption:
    """An az flag that means nothing locally: accepted, hidden from help."""
    return TyperOption(
        param_decls=decls, is_flag=flag or None, hidden=True, help="No effect locally."
    )


GLOBAL_NAMES = (
    "workspace_flag",
    "output_format",
    "query_expr",
    "debug",
    "verbose",
    "only_show_errors",
    "resource_group",
    "subscription",
    "no_wait",
    "web",
)


def spread_multi_values(args: list[str]) -> list[str]:
    """Rewrite `--set a=1 b=2` as `--set a=1 --set b=2`, which click understands."""
    out: list[str] = []
    current: str | None = None
    for arg in args:
        if arg.startswith("-"):
            current = arg if arg in MULTI_VALUE else None
            out.append(arg)
        elif current and out[-1] != current and "=" in arg:
            out.extend([current, arg])
        else:
            out.append(arg)
    return out


def expand_abbreviations(args: list[str], names: list[str]) -> list[str]:
    """Accept an unambiguous prefix of a long option (`--f` for `--file`), as az's argparse
    does; Azure's example scripts write some."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return out + args[index:]
        flag, sep, value = arg.partition("=")
        if flag[:2] == "--" and flag not in names:
            matches = sorted({name for name in names if name.startswith(flag)})
            if len(matches) > 1:
                raise click.UsageError(f"ambiguous option: {flag} could match {', '.join(matches)}")
            if matches:
                arg = matches[0] + sep + value
        out.append(arg)
    return out


# A shell word: unquoted characters and quoted strings, never split inside quotes.
_SHELL_WORD = re.compile(r"""(?:[^\s'"]+|'[^']*'|"(?:\\.|[^"\\])*")+""")


def _print_examples(examples: tuple[str, ...]) -> None:
    """The Examples section under a command's help: each command line wrapped to the terminal
    between shell words, its continuation lines indented and ended by a backslash, as a shell
    takes them, so that every example can be copied as it is."""
    from rich.text import Text
    from typer.rich_utils import _get_rich_console

    console = _get_rich_console()
    width = max(console.width - 3, 40)  # the margin, and room for " \\"
    lines = ["", " Examples:"]
    for example in examples:
        line = "  "
        for word in _SHELL_WORD.findall(example):
            if line.strip() and len(line) + 1 + len(word) > width:
                lines.append(line + " \\")
                line = "      "
            line += " " + word
        lines.append(line)
    console.print(Text("\n".join(lines)), soft_wrap=True)


def command_group() -> typer.Typer:
    """A group of commands (its help is in batchml.cli.root's GROUPS): its help when given no
    command, and one suggestion for a mistyped command (click's; Typer's own would repeat it)."""
    return typer.Typer(cls=HelpGroup, no_args_is_help=True, suggest_commands=False)


class HelpGroup(TyperGroup):
    """A command group, whose help is formatted as batchml.cli.help has it."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        load_formatter()
        super().format_help(ctx, formatter)


class AzCommand(TyperCommand):
    """A command with az's global arguments; its return value is rendered to stdout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = {name for param in self.params for name in param.opts}
        self.params.extend(o for o in _global_options() if not own.intersection(o.opts))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        load_formatter()
        super().format_help(ctx, formatter)
        examples = getattr(self.callback, "examples", ())
        if examples:
            _print_examples(examples)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        names = [o for p in self.params for o in (*p.opts, *p.secondary_opts) if o[:2] == "--"]
        try:
            return super().parse_args(ctx, spread_multi_values(expand_abbreviations(args, names)))
        except click.NoSuchOption as exc:
            # Suggest only options the help shows, never a hidden az-only flag.
            shown = [o for p in self.params if not getattr(p, "hidden", False) for o in p.opts]
            raise click.NoSuchOption(exc.option_name, possibilities=shown, ctx=ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        app = ctx.ensure_object(App)
        app.workspace_flag = ctx.params.pop("workspace_flag", None)
        app.output = ctx.params.pop("output_format", "json")
        app.query = ctx.params.pop("query_expr", None)
        app.debug = bool(ctx.params.pop("debug", False))
        for name in GLOBAL_NAMES:
            ctx.params.pop(name, None)
        _refuse_empty(self.params, ctx.params)
        result = super().invoke(ctx)
        if result is not None:
            from batchml.output.render import pieces

            row_of: RowOf | None = getattr(self.callback, "table_row", None)
            rows = None if row_of is None else (lambda item: row_of(item, app))
            color = sys.stdout.isatty()
            # A listing's items are made as they are written (batchml.output.render.pieces).
            for text in pieces(result, app.output, query=app.query, color=color, rows=rows):
                sys.stdout.write(text)
        if app.exit_status:
            raise typer.Exit(app.exit_status)
        return result


RowOf = Callable[[dict[str, Any], App], dict[str, Any]]
_F = TypeVar("_F", bound=Callable[..., Any])


def shown(*examples: str, table: RowOf | None = None) -> Callable[[_F], _F]:
    """What a command's help and table show: `examples`, command lines for its Examples
    section, and `table`, the function that makes a row of `-o table` of one item of its
    result (batchml.cli.tables)."""

    def mark(command: _F) -> _F:
        command.examples = examples  # type: ignore[attr-defined]
        command.table_row = table  # type: ignore[attr-defined]
        return command

    return mark


# Options an empty value is meaningful for: clearing a description.
_MAY_BE_EMPTY = frozenset({"description"})


def _refuse_empty(params: list[click.Parameter], values: dict[str, Any]) -> None:
    """An empty name or path is a mistake, never "not given" (`--name ''` must not fall back
    to the file's name, or to a default)."""
    for param in params:
        if param.name in _MAY_BE_EMPTY or not isinstance(param, click.Option):
            continue
        value = values.get(param.name or "")
        if value == "" or (isinstance(value, (list, tuple)) and "" in value):
            flag = max(param.opts, key=len)
            raise UsageError(f"{flag} is empty; give a value or leave the option out")


class _Count(click.ParamType):
    """A whole number of 1 or more (click's IntRange says "not a valid integer range")."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = value if isinstance(value, int) else int(str(value), 10)
        except ValueError:
            self.fail(f"{value!r} is not a whole number; it must be 1 or more", param, ctx)
        if number < 1:
            self.fail(f"it must be 1 or more (got {number})", param, ctx)
        return number


COUNT = _Count()
YES = typer.Option(False, "-y", "--yes", help="Do not prompt for confirmation.")
DRY_RUN = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing.")
MAX_RESULTS = typer.Option(
    50,
    "-r",
    "--max-results",
    click_type=COUNT,
    metavar="N",
    help="Maximum number of jobs to return.",
)
# As az ml job list: --all-results returns every job whatever -r says.
ALL_RESULTS = typer.Option(
    False, "--all-results", help="Return every job (-r/--max-results is then ignored)."
)


def confirm_or_fail(yes: bool, what: str) -> None:
    """Destructive commands need --yes; on a terminal they ask instead (as az)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"{what}: pass --yes to confirm (no terminal to ask on)")
    if not click.confirm(f"Are you sure you want to perform this operation? ({what})", err=True):
        raise click.Abort()


def parse_tags(pairs: list[str]) -> dict[str, str] | None:
    """`--tags a=1 b=2` -> {"a": "1", "b": "2"}; None when no tags are given."""
    return {key: value for key, _, value in (pair.partition("=") for pair in pairs)} or None
