"""Global flags on real commands: -o, --query, az-only flags, and stdout/stderr discipline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

SHOW = ("batch-endpoint", "show", "-n", "mnist-batch")


def test_default_output_is_sorted_json(cli: Cli, ready: Project) -> None:
    default = cli(*SHOW)
    explicit = cli(*SHOW, "-o", "json")
    assert default.out == explicit.out
    assert default.out.startswith('{\n  "auth_mode": "aad_token",\n  "defaults": {\n')
    assert default.out.endswith('  "tags": {\n    "team": "vision"\n  }\n}\n')


def test_jsonc_and_yamlc_without_a_terminal_are_plain(cli: Cli, ready: Project) -> None:
    assert cli(*SHOW, "-o", "jsonc").out == cli(*SHOW, "-o", "json").out
    assert cli(*SHOW, "-o", "yamlc").out == cli(*SHOW, "--output", "yaml").out


def test_yaml(cli: Cli, ready: Project, arm: str) -> None:
    ident = f"{arm}/batchEndpoints/mnist-batch"
    assert cli(*SHOW, "-o", "yaml").out == (
        "auth_mode: aad_token\n"
        "defaults:\n"
        "  deployment_name: null\n"
        "description: A batch endpoint for MNIST\n"
        f"id: {ident}\n"
        "location: local\n"
        "name: mnist-batch\n"
        "properties:\n"
        "  BatchEndpointCreationApiVersion: '2023-10-01'\n"
        f"  azureml.onlineendpointid: {ident}\n"
        "provisioning_state: Succeeded\n"
        "scoring_uri: batchml://ws/batchEndpoints/mnist-batch/jobs\n"
        "tags:\n"
        "  team: vision\n"
    )


def test_tsv_with_query_for_shell_capture(cli: Cli, ready: Project) -> None:
    assert cli(*SHOW, "--query", "name", "-o", "tsv").out == "mnist-batch\n"
    listed = cli("compute", "list", "--query", "[].[name, max_instances]", "-o", "tsv")
    assert listed.out == "cpu-cluster\t1\n"


def test_none_prints_nothing(cli: Cli, ready: Project) -> None:
    result = cli(*SHOW, "-o", "none")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_query_projection(cli: Cli, ready: Project) -> None:
    assert cli.ok(*SHOW, "--query", "{n: name, team: tags.team}") == {
        "n": "mnist-batch",
        "team": "vision",
    }


def test_query_selecting_nothing_prints_nothing(cli: Cli, ready: Project) -> None:
    result = cli(*SHOW, "--query", "missing")
    assert (result.code, result.out, result.err) == (0, "", "")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("[.", 'invalid token: Parse error at column 1, token "." (DOT)'),
        ("{a:b", "Invalid jmespath expression: Incomplete expression"),
        ("", "Invalid JMESPath expression: cannot be empty."),
    ],
)
def test_bad_query_is_a_usage_error(cli: Cli, ready: Project, expression: str, reason: str) -> None:
    result = cli(*SHOW, "--query", expression)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "Usage: batchml batch-endpoint show [OPTIONS]\n"
        "Try 'batchml batch-endpoint show --help' for help.\n"
        "\n"
        f"Error: Invalid value for '--query': {expression!r} is not a valid JMESPath "
        f"expression: {reason}\n"
    )


def test_bad_query_fails_before_anything_is_written(cli: Cli, ws: Path) -> None:
    result = cli("compute", "create", "-n", "cpu-cluster", "-t", "amlcompute", "--query", "[.")
    assert (result.code, result.out) == (2, "")
    assert not ws.exists()


def test_query_failing_on_the_data_is_a_usage_error(cli: Cli, ready: Project) -> None:
    result = cli(*SHOW, "--query", "abs(name)")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: Invalid jmespath query supplied for `--query`: In function abs(), invalid type "
        "for value: mnist-batch, expected one of: ['number'], received: \"string\"\n"
        "Hint: To learn more about --query, see https://jmespath.org/\n"
    )


def test_unknown_output_format(cli: Cli, ready: Project) -> None:
    result = cli(*SHOW, "-o", "xml")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == (
        "Error: Invalid value for '-o' / '--output': 'xml' is not one of 'json', 'jsonc', "
        "'yaml', 'yamlc', 'table', 'tsv', 'none'."
    )


def test_az_only_flags_are_accepted_and_harmless(cli: Cli, ready: Project) -> None:
    plain = cli(*SHOW)
    noisy = cli(
        *SHOW,
        "-g",
        "my-rg",
        "--resource-group",
        "my-rg",
        "--subscription",
        "0000",
        "--no-wait",
        "--only-show-errors",
        "--web",
        "--verbose",
    )
    assert (noisy.code, noisy.out, noisy.err) == (0, plain.out, "")


def test_az_only_flags_on_a_write(cli: Cli, ready: Project) -> None:
    view = cli.ok(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--no-wait",
        "-g",
        "rg",
        "--only-show-errors",
        "--query",
        "name",
    )
    assert view == "mnist-torch"


def test_errors_go_to_stderr_only(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "show", "-n", "nope", "-o", "json")
    assert (result.code, result.out) == (3, "")
    assert result.err.startswith("ERROR: batch endpoint 'nope' not found")


def test_debug_shows_the_traceback_of_an_error(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "show", "-n", "nope", "--debug")
    assert (result.code, result.out) == (3, "")
    lines = result.err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2:] == [
        f"ERROR: batch endpoint 'nope' not found in workspace {cli.tmp / 'ws'}",
        "Hint: list them with: batchml batch-endpoint list",
    ]


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert (result.code, result.out, result.err) == (0, "batchml 0.1.0\n", "")


def test_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli("batch-endpoint", "frobnicate")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == "Error: No such command 'frobnicate'."


def test_unknown_option_is_a_usage_error(cli: Cli, ready: Project) -> None:
    result = cli(*SHOW, "--colour")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == "Error: No such option '--colour'."


@pytest.mark.parametrize(
    "argv",
    [
        ["job", "list"],
        ["batch-endpoint", "list-jobs", "-n", "mnist-batch"],
        ["batch-deployment", "list-jobs", "-n", "mnist-torch", "-e", "mnist-batch"],
    ],
)
@pytest.mark.parametrize(
    ("count", "said"),
    [
        ("0", "it must be 1 or more (got 0)"),
        ("-1", "it must be 1 or more (got -1)"),
        ("abc", "'abc' is not a whole number; it must be 1 or more"),
        ("2.5", "'2.5' is not a whole number; it must be 1 or more"),
    ],
)
def test_max_results_below_one_is_a_usage_error(
    cli: Cli, ready: Project, argv: list[str], count: str, said: str
) -> None:
    result = cli(*argv, "-r", count, "--all-results")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == f"Error: Invalid value for '-r' / '--max-results': {said}"
