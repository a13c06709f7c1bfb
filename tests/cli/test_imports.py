"""`show` stays fast: the heavy modules are imported only by the commands that need them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Project

HEAVY = ("pandas", "pyarrow", "ray", "mlflow", "jsonschema", "yaml", "numpy", "filelock")


def imported_after(argv: list[str]) -> tuple[str, str]:
    code = (
        "import sys\n"
        "from batchml.cli.app import run\n"
        f"code = run({argv!r})\n"
        f"heavy = {HEAVY!r}\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout, result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["batch-endpoint", "show", "-n", "mnist-batch", "-o", "none"],
        ["batch-endpoint", "show", "-n", "mnist-batch", "--query", "name", "-o", "tsv"],
        ["batch-endpoint", "list", "-o", "table"],
        ["batch-deployment", "show", "-n", "mnist-torch", "-e", "mnist-batch", "-o", "none"],
        ["compute", "list", "-o", "none"],
        ["--help"],
    ],
)
def test_read_commands_import_no_heavy_module(deployed: Project, ws: Path, argv: list[str]) -> None:
    out, _ = imported_after(argv)
    assert out.splitlines()[-1] == "0 []"


def test_yaml_output_imports_yaml_only_then(deployed: Project, ws: Path) -> None:
    out, _ = imported_after(["batch-endpoint", "show", "-n", "mnist-batch", "-o", "yaml"])
    assert out.splitlines()[-1] == "0 ['yaml']"


def test_python_dash_m_batchml_is_the_batchml_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batchml", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.split()[0]) == (0, "batchml")


def test_root_help_lists_every_group_and_builds_none() -> None:
    code = (
        "import sys\n"
        "from batchml.cli.app import run\nfrom batchml.cli.root import GROUPS\n"
        "run(['--help'])\n"
        "built = sorted(m for m in sys.modules if m.startswith('batchml.cli.') and\n"
        "    m.rsplit('.', 1)[1] in {'endpoint', 'deployment', 'assets', 'job', 'datastore'})\n"
        "print('built', built)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.stdout.splitlines()[-1] == "built []"
    from batchml.cli.root import GROUPS

    for name, group in GROUPS.items():
        assert any(
            line.split()[1:2] == [name] and group.help in line
            for line in result.stdout.splitlines()
        ), name


def _help(argv: list[str], first: str = "") -> tuple[str, str]:
    """The help `argv` prints in a fresh interpreter (after the statement `first`), and which
    of rich's markdown and traceback modules it then has, and whether they are the real ones."""
    code = (
        "import contextlib, io, sys\n"
        f"{first}\n"
        "from batchml.cli.app import run\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    run({argv!r})\n"
        "loaded = sorted(m for m in sys.modules if m in ('rich.markdown', 'rich.traceback'))\n"
        "import rich.markdown, rich.traceback\n"
        "real = [rich.markdown.Markdown.__module__, rich.traceback.Traceback.__module__]\n"
        "print(out.getvalue() + repr((loaded, real)))\n"
    )
    env = {**os.environ, "COLUMNS": "100", "FORCE_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        env=env,
    )  # fmt: skip
    text, _, modules = result.stdout.rstrip("\n").rpartition("\n")
    return text, modules


@pytest.mark.parametrize(
    "argv", [["--help"], ["batch-endpoint", "--help"], ["batch-endpoint", "show", "--help"]]
)
def test_help_is_typers_own_without_markdown_or_tracebacks(argv: list[str]) -> None:
    lean, modules = _help(argv)
    assert modules == "([], ['rich.markdown', 'rich.traceback'])"
    # The same bytes, colours included, as with typer.rich_utils imported the usual way.
    usual, _ = _help(argv, first="import typer.rich_utils")
    assert lean == usual
    assert "Usage:" in lean


@pytest.mark.parametrize(
    ("argv", "forks"),
    [
        (["batch-endpoint", "invoke", "-n", "ep", "--input", "data"], True),
        (["batch-endpoint", "invoke", "-n", "ep", "--dry-run"], False),
        (["batch-endpoint", "invoke", "--help"], False),
        (["batch-endpoint", "show", "-n", "ep"], False),
        (["job", "stream", "-n", "invoke"], False),
    ],
)
def test_invoke_forks_its_runner_before_the_cli_is_imported(argv: list[str], forks: bool) -> None:
    # `batchml` forks the runner of the job a command line invokes as its first instruction
    # (batchml.cli.app.main): with the standard library and the job records imported, not
    # typer, click, the CLI's modules, the services nor the runner's own.
    code = (
        "import sys\n"
        "from batchml.cli import app\n"
        f"ahead = app._runner_ahead({argv!r})\n"
        "layers = ('batchml.cli.', 'batchml.output', 'batchml.services', 'batchml.runner.',\n"
        "          'batchml.backends')\n"
        "print(ahead is not None, sorted(m for m in sys.modules if m.startswith(layers)),\n"
        "      [m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names\n"
        "       and not m.startswith(('_', 'batchml'))])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    imported = ["batchml.cli.app", *(["batchml.runner.detach"] if forks else [])]
    assert result.stdout.splitlines()[-1] == f"{forks} {imported} []"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["job", "stream", "-n", "j1"], ("j1", None)),
        (["job", "stream", "--name", "j1", "-w", "ws"], ("j1", "ws")),
        (["job", "stream", "--workspace-name=ws", "--name=j1"], ("j1", "ws")),
        # Anything else is typer's to parse: its own errors, help and flags.
        (["job", "stream"], None),
        (["job", "stream", "-n"], None),
        (["job", "stream", "-n", ""], None),
        (["job", "stream", "--name="], None),
        (["job", "stream", "-n", "--help"], None),
        (["job", "stream", "-n", "j1", "--help"], None),
        (["job", "stream", "-n", "j1", "--debug"], None),
        (["job", "stream", "-n", "j1", "-o", "json"], None),
        (["job", "stream", "-n", "j1", "-n", "j2"], None),
        (["job", "stream", "--nam", "j1"], None),
        (["job", "show", "-n", "j1"], None),
    ],
)
def test_job_stream_is_followed_without_the_cli_only_as_typer_would_parse_it(
    argv: list[str], line: tuple[str, str | None] | None
) -> None:
    from batchml.cli import app

    assert app._stream_line(argv) == line
