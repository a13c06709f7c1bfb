"""Nothing a user types or points at makes batchml read or write outside the workspace.

Every flag that takes a name, and the references and datastore paths that hold one, get `..`,
`/`, absolute paths, empty and 300-character names: each is refused with the rule it breaks,
and nothing changes anywhere under the test's folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from batchml.core import names
from batchml.core.errors import UsageError
from batchml.core.spec import schema_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Cli, Project

BAD_NAMES = ["..", "../../ESCAPED", "/abs/path", "a/b", "", "x" * 300]


@pytest.mark.parametrize("kind", sorted(names.RULES))
@pytest.mark.parametrize("name", [*BAD_NAMES, ".", "abc\n", "a\\b"])
def test_every_kind_refuses_names_that_are_paths(kind: str, name: str) -> None:
    with pytest.raises(UsageError, match=f"is not a valid {kind} name: it must be "):
        names.check(kind, name)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("endpoint", "mnist-batch"),
        ("deployment", "a1-b"),
        ("compute", "cpu-cluster"),
        ("model", "heart.classifier_2"),
        ("version", "2024.1"),
        ("job", "batchjob-bb4d0b08-6877-4eb4-8952-7e3455ed9412"),
        ("job", "bold_egg_4c1e2a7f"),
        ("datastore", "workspaceblobstore"),
        ("component", "prepare_data"),
    ],
)
def test_names_azure_gives_are_valid(kind: str, name: str) -> None:
    assert names.check(kind, name) == name


@pytest.mark.parametrize(
    ("definition", "rule"),
    [
        (("common.schema.json", "resourceName"), names.RESOURCE),
        (("common.schema.json", "assetName"), names.ASSET),
        (("common.schema.json", "version"), names.VERSION),
        (("components.schema.json", "componentName"), names.COMPONENT),
    ],
)
def test_the_schemas_state_the_same_rules(definition: tuple[str, str], rule: names.Rule) -> None:
    schema = json.loads(schema_path(definition[0]).read_text())["$defs"][definition[1]]
    assert schema["pattern"] == f"^{rule.pattern}$"


@pytest.fixture
def data(cli: Cli, deployed: Project) -> Path:
    """The deployed project, a registered model, and a folder of two input files."""
    cli.ok("model", "create", "-n", "mnist-classifier", "-p", deployed.root / "model")
    folder = deployed.root / "data"
    for index in range(2):
        deployed.write(f"data/{index}.txt", f"{index}\n")
    return folder


def _commands(bad: str, project: Project, data: Path) -> list[list[str]]:
    invoke = ["batch-endpoint", "invoke", "-n", "mnist-batch", "-d", "mnist-torch"]
    return [
        [*invoke, "--input", str(data), "--job-name", bad],
        [*invoke, "--input", str(data), "--set", f"compute=azureml:{bad}"],
        ["batch-endpoint", "invoke", "-n", bad, "--input", str(data)],
        [*invoke[:4], "-d", bad, "--input", str(data)],
        ["batch-endpoint", "show", "-n", bad],
        ["batch-endpoint", "delete", "-n", bad, "--yes"],
        ["batch-endpoint", "list-jobs", "-n", bad],
        ["batch-endpoint", "create", "-f", str(project.endpoint_yml), "--name", bad],
        ["batch-deployment", "show", "-e", "mnist-batch", "-n", bad],
        ["batch-deployment", "show", "-e", bad, "-n", "mnist-torch"],
        ["batch-deployment", "delete", "-e", "mnist-batch", "-n", bad, "--yes"],
        ["batch-deployment", "create", "-f", str(project.deployment_yml), "--name", bad],
        ["model", "show", "-n", bad, "--version", "1"],
        ["model", "show", "-n", "mnist-classifier", "--version", bad],
        ["data", "show", "-n", bad, "--version", "1"],
        ["environment", "show", "-n", bad, "--version", "1"],
        ["component", "show", "-n", bad],
        ["compute", "show", "-n", bad],
        ["compute", "delete", "-n", bad, "--yes"],
        ["job", "show", "-n", bad],
        ["job", "cancel", "-n", bad],
        ["job", "resume", "-n", bad],
        ["job", "stream", "-n", bad],
        ["job", "download", "-n", bad],
        ["job", "list", "--parent-job-name", bad],
    ]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_no_name_flag_reads_or_writes_outside_the_workspace(
    cli: Cli,
    data: Path,
    deployed: Project,
    tmp_path: Path,
    digest: Callable[[Path], dict[str, str]],
    bad: str,
) -> None:
    before = digest(tmp_path)
    for argv in _commands(bad, deployed, data):
        result = cli(*argv)
        assert result.code in (2, 3, 4), (argv, result.code, result.err)
        assert result.out == "", argv
        assert digest(tmp_path) == before, argv


@pytest.mark.parametrize("flag", ["--output-path", "--input"])
@pytest.mark.parametrize("datastore", ["..", "../..", "a/b"])
def test_a_datastore_path_cannot_name_a_folder_outside_the_datastores(
    cli: Cli,
    data: Path,
    tmp_path: Path,
    digest: Callable[[Path], dict[str, str]],
    flag: str,
    datastore: str,
) -> None:
    before = digest(tmp_path)
    given = {"--input": str(data), "--output-path": None}
    given[flag] = f"azureml://datastores/{datastore}/paths/x"
    argv = ["batch-endpoint", "invoke", "-n", "mnist-batch", "-d", "mnist-torch"]
    for option, value in given.items():
        if value is not None:
            argv += [option, value]
    result = cli(*argv)
    assert result.code in (2, 3), result.err
    assert digest(tmp_path) == before


def test_a_code_folder_with_a_link_outside_it_is_refused_and_nothing_is_copied(
    cli: Cli, ready: Project, ws: Path, digest: Callable[[Path], dict[str, str]]
) -> None:
    (ready.root / "code" / "passwd").symlink_to("/etc/passwd")
    before = digest(ws)
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml)
    assert result.code == 2
    assert "code/passwd is a symbolic link to /etc/passwd, outside " in result.err
    assert digest(ws) == before


def _yaml_files(project: Project, bad: str) -> list[tuple[list[str], Path]]:
    """Each YAML kind with `bad` in a name field (and a version field), with its command."""
    quoted = json.dumps(bad)  # a YAML string, whatever it holds
    deployment = project.deployment_yml.read_text()
    files = {
        "endpoint.yml": (["batch-endpoint", "create"], f"name: {quoted}\n"),
        "dep-name.yml": (
            ["batch-deployment", "create"],
            deployment.replace("name: mnist-torch", f"name: {quoted}"),
        ),
        "dep-endpoint.yml": (
            ["batch-deployment", "create"],
            deployment.replace("endpoint_name: mnist-batch", f"endpoint_name: {quoted}"),
        ),
        "model.yml": (["model", "create"], f"name: {quoted}\npath: model\n"),
        "model-version.yml": (["model", "create"], f"name: m\nversion: {quoted}\npath: model\n"),
        "data.yml": (["data", "create"], f"name: {quoted}\npath: model\ntype: uri_folder\n"),
        "environment.yml": (["environment", "create"], f"name: {quoted}\nimage: python:3.11\n"),
        "compute.yml": (["compute", "create"], f"name: {quoted}\ntype: amlcompute\n"),
        "component.yml": (
            ["component", "create"],
            f"name: {quoted}\ntype: command\ncommand: echo hi\nenvironment:\n  image: python\n",
        ),
    }
    return [(command, project.write(name, text)) for name, (command, text) in files.items()]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_no_yaml_name_field_reads_or_writes_outside_the_workspace(
    cli: Cli,
    deployed: Project,
    tmp_path: Path,
    digest: Callable[[Path], dict[str, str]],
    bad: str,
) -> None:
    written = _yaml_files(deployed, bad)
    before = digest(tmp_path)
    for command, path in written:
        result = cli(*command, "-f", path)
        assert result.code in (2, 4), (path.name, result.code, result.err)
        assert result.out == "", path.name
        assert digest(tmp_path) == before, path.name
