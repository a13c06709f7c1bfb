"""What a person reads: `-o table` columns that fit, and an example in every command's help."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

import click
import pytest
import typer

from batchml.cli.root import app

if TYPE_CHECKING:
    from tests.conftest import Cli, Project


def test_the_deployment_table_marks_the_default_and_fits(cli: Cli, deployed: Project) -> None:
    deployment = deployed.deployment_yml
    cli.ok("batch-deployment", "create", "-f", deployment, "-n", "mnist-svc", "--set-default")
    result = cli("batch-deployment", "list", "-e", "mnist-batch", "-o", "table")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "Name         Endpoint     Default    Type    Model                      Compute      "
        "MiniBatchSize    State\n"
        "-----------  -----------  ---------  ------  -------------------------  -----------  "
        "---------------  ---------\n"
        "mnist-svc    mnist-batch  yes        model   mnist-classifier (inline)  cpu-cluster  "
        "10               Succeeded\n"
        "mnist-torch  mnist-batch             model   mnist-classifier (inline)  cpu-cluster  "
        "10               Succeeded\n"
    )
    assert max(map(len, result.out.splitlines())) < 120
    endpoints = cli("batch-endpoint", "show", "-n", "mnist-batch", "-o", "table")
    assert endpoints.out == (
        "Name         DefaultDeployment    ProvisioningState    Description\n"
        "-----------  -------------------  -------------------  --------------------------\n"
        "mnist-batch  mnist-svc            Succeeded            A batch endpoint for MNIST\n"
    )


def test_a_query_shapes_the_table_and_tsv_is_unchanged(cli: Cli, deployed: Project) -> None:
    shaped = cli("batch-deployment", "list", "-e", "mnist-batch", "-o", "table",
                 "--query", "[].{name: name, size: mini_batch_size}")  # fmt: skip
    assert shaped.out == "Name         Size\n-----------  ------\nmnist-torch  10\n"
    tsv = cli("batch-deployment", "list", "-e", "mnist-batch", "-o", "tsv").out
    assert tsv.count("\t") > 20  # every field, as az's tsv has them


def _commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []

    def walk(prefix: str, command: click.Command) -> None:
        if isinstance(command, click.Group):
            # Through the group's own lookup: the root builds its command groups on demand.
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None, name
                walk(f"{prefix} {name}", sub)
        else:
            found.append((prefix, command))

    walk("batchml", typer.main.get_command(app))
    return found


@pytest.mark.parametrize(("path", "command"), _commands(), ids=[p for p, _ in _commands()])
def test_every_command_has_examples_that_use_its_own_flags(
    cli: Cli, path: str, command: click.Command, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = getattr(command.callback, "examples", ())
    assert examples, f"{path} has no examples"
    flags = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for example in examples:
        words = shlex.split(example)
        assert " ".join(words[: len(path.split())]) == path, example
        unknown = [w for w in words if w.startswith("-") and w.split("=")[0] not in flags]
        assert not unknown, f"{example}: {unknown}"
    monkeypatch.setenv("COLUMNS", "80")
    shown = cli(*path.split()[1:], "--help")
    assert shown.code == 0
    assert "Examples:" in shown.out
    assert "\u2026" not in shown.out  # help wraps, never cut off with an ellipsis
    # Each example is wrapped between shell words, as a shell reads it back, within 80 columns.
    section = shown.out.split("\n Examples:\n", 1)[1]
    assert max(map(len, section.splitlines())) <= 80
    lines = re.sub(r" \\\n +", " ", section).strip().splitlines()
    assert [shlex.split(line) for line in lines] == [shlex.split(e) for e in examples]


def test_a_typo_gets_one_suggestion_never_a_hidden_flag(cli: Cli) -> None:
    command = cli("batch-endpoint", "lst")
    assert command.err.endswith("Error: No such command 'lst'. Did you mean 'list'?\n")
    hidden = cli("batch-endpoint", "list", "--wbe")
    assert hidden.err.endswith("Error: No such option '--wbe'.\n")  # not the hidden --web
    shown = cli("batch-endpoint", "list", "--outpt", "table")
    assert shown.err.endswith("Error: No such option '--outpt'. Did you mean '--output'?\n")
