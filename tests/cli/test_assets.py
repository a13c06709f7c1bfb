"""`batchml model create|show|list|sync` and `batchml data create|show|list`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Cli, Project

CONTEXT = {
    "created_at": "<time>",
    "created_by": "tester",
    "created_by_type": "User",
    "last_modified_at": "<time>",
    "last_modified_by": "tester",
    "last_modified_by_type": "User",
}
UPLOAD = re.compile(r"LocalUpload/[0-9a-f]{32}/")


def model_view(arm: str, version: str = "1", **changes: Any) -> dict[str, Any]:
    view = {
        "creation_context": CONTEXT,
        "description": "",
        "flavors": {},
        "id": f"{arm}/models/mnist/versions/{version}",
        "name": "mnist",
        "path": f"<tmp>/ws/models/mnist/{version}/files/model",
        "properties": {},
        "stage": None,
        "tags": {},
        "type": "custom_model",
        "version": version,
    }
    view.update(changes)
    return view


def data_view(arm: str, path: str, version: str = "1", **changes: Any) -> dict[str, Any]:
    view = {
        "creation_context": CONTEXT,
        "description": "",
        "id": f"{arm}/data/digits/versions/{version}",
        "name": "digits",
        "path": path,
        "properties": {},
        "tags": {},
        "type": "uri_folder",
        "version": version,
    }
    view.update(changes)
    return view


@pytest.fixture
def inputs(project: Project) -> Project:
    project.write("inputs/a.csv", "1,2\n")
    project.write("inputs/b.csv", "3,4\n")
    return project


# model create


def test_model_create_from_flags(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    result = cli("model", "create", "--name", "mnist", "--path", project.root / "model")
    assert (result.code, result.err) == (0, "")
    assert cli.mask(result.json()) == model_view(arm)
    assert (ws / "models" / "mnist" / "1" / "files" / "model" / "weights.txt").read_text() == (
        "w=1\n"
    )
    assert (ws / "models" / "mnist" / "1" / "model.json").is_file()


def test_model_path_is_relative_to_the_current_directory(
    cli: Cli, ws: Path, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    view = cli.ok("model", "create", "-n", "mnist", "-p", "model/weights.txt")
    assert cli.mask(view["path"]) == "<tmp>/ws/models/mnist/1/files/weights.txt"


def test_model_versions_auto_increment(cli: Cli, ws: Path, project: Project) -> None:
    model = project.root / "model"
    versions = [
        cli.ok("model", "create", "--name", "mnist", "--path", model, "--query", "version")
        for _ in range(3)
    ]
    assert versions == ["1", "2", "3"]
    cli.ok("model", "create", "--name", "mnist", "--path", model, "--version", "10")
    assert cli.ok("model", "create", "-n", "mnist", "-p", model, "--query", "version") == "11"


def test_model_existing_version_is_a_conflict(
    cli: Cli, ws: Path, project: Project, digest: Callable[[Path], dict[str, str]]
) -> None:
    cli.ok("model", "create", "--name", "mnist", "--path", project.root / "model", "-v", "2")
    before = digest(ws)
    result = cli("model", "create", "--name", "mnist", "--path", project.root / "model", "-v", "2")
    assert (result.code, result.out) == (5, "")
    assert result.err == (
        "ERROR: model 'mnist' version 2 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 3\n"
    )
    assert digest(ws) == before


def test_model_from_a_yaml_file_with_paths_relative_to_it(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    project.write("models/mlflow/MLmodel", "flavors:\n  python_function: {}\n")
    model_yml = project.write(
        "models/model.yml",
        """\
        $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
        name: mnist
        version: 3
        path: mlflow
        type: mlflow_model
        description: An MLflow model
        tags:
          framework: torch
          epochs: 5
        """,
    )
    view = cli.ok("model", "create", "-f", model_yml)
    assert cli.mask(view) == model_view(
        arm,
        "3",
        path="<tmp>/ws/models/mnist/3/files/mlflow",
        type="mlflow_model",
        description="An MLflow model",
        tags={"epochs": "5", "framework": "torch"},
        flavors={"python_function": {}},
        signature=None,
    )


def test_model_flags_override_the_file(cli: Cli, ws: Path, project: Project) -> None:
    model_yml = project.write("model.yml", "name: mnist\npath: model\nversion: 1\n")
    view = cli.ok(
        "model",
        "create",
        "-f",
        model_yml,
        "--name",
        "other",
        "--version",
        "4",
        "--description",
        "d",
        "--tags",
        "a=1",
        "b=x",
    )
    assert (view["name"], view["version"], view["description"], view["tags"]) == (
        "other",
        "4",
        "d",
        {"a": "1", "b": "x"},
    )


def test_model_snapshot_ignores_later_edits(cli: Cli, ws: Path, project: Project) -> None:
    cli.ok("model", "create", "--name", "mnist", "--path", project.root / "model")
    project.write("model/weights.txt", "w=999\n")
    stored = ws / "models" / "mnist" / "1" / "files" / "model" / "weights.txt"
    assert stored.read_text() == "w=1\n"


def test_mlflow_model_needs_an_mlmodel_file(cli: Cli, ws: Path, project: Project) -> None:
    model = project.root / "model"
    result = cli("model", "create", "-n", "mnist", "-p", model, "--type", "mlflow_model")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: command line: path: type is mlflow_model but {model} has no MLmodel file; point "
        "path at the MLflow model folder\n"
    )
    assert not ws.exists()


def test_model_unknown_type(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("model", "create", "-n", "mnist", "-p", project.root / "model", "-t", "onnx")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        'ERROR: command line: type: must be one of custom_model, mlflow_model (got "onnx")\n'
    )


def test_model_missing_path(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("model", "create", "-n", "mnist", "-p", project.root / "nope")
    assert (result.code, result.out) == (3, "")
    assert result.err == f"ERROR: model path not found: {project.root / 'nope'}\n"


def test_model_create_needs_a_file_or_name_and_path(cli: Cli, ws: Path) -> None:
    result = cli("model", "create", "--name", "mnist")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: give -f model.yml, or --name and --path\n",
    )


def test_model_bad_name_and_version_are_all_reported(cli: Cli, ws: Path, project: Project) -> None:
    model_yml = project.write("model.yml", "name: _bad\nversion: 1.5\npath: model\ncolor: x\n")
    result = cli("model", "create", "-f", model_yml)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {model_yml}:1: name: must be 1-255 characters of letters, digits, '_', '.' and "
        """'-', starting with a letter or digit (got "_bad")""",
        f"  {model_yml}:2: version: must be a string or an integer (got 1.5)",
        f"  {model_yml}:4: color: unknown field; allowed: $schema, description, flavors, name, "
        "path, properties, stage, tags, type, version",
    ]


# model show / list


@pytest.fixture
def two_models(cli: Cli, ws: Path, project: Project) -> None:
    cli.ok("model", "create", "--name", "mnist", "--path", project.root / "model")
    cli.ok("model", "create", "--name", "mnist", "--path", project.root / "model")
    cli.ok("model", "create", "--name", "aaa", "--path", project.root / "model")


@pytest.mark.parametrize(
    ("flags", "version"),
    [((), "2"), (("-l", "latest"), "2"), (("-v", "1"), "1"), (("--version", "2"), "2")],
)
def test_model_show(
    cli: Cli, two_models: None, arm: str, flags: tuple[str, ...], version: str
) -> None:
    assert cli.mask(cli.ok("model", "show", "-n", "mnist", *flags)) == model_view(arm, version)


def test_model_show_unknown_version(cli: Cli, two_models: None) -> None:
    result = cli("model", "show", "-n", "mnist", "-v", "9")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        "ERROR: model 'mnist' has no version 9\nHint: versions: 1, 2\n",
    )


def test_model_show_unknown_name(cli: Cli, two_models: None, ws: Path) -> None:
    result = cli("model", "show", "-n", "nope")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: model 'nope' not found in workspace {ws}\n"
        "Hint: list them with: batchml model list\n",
    )


def test_model_show_version_and_label_together(cli: Cli, two_models: None) -> None:
    result = cli("model", "show", "-n", "mnist", "-v", "1", "-l", "latest")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: give -v/--version or -l/--label, not both\n",
    )


def test_model_show_unknown_label(cli: Cli, two_models: None) -> None:
    result = cli("model", "show", "-n", "mnist", "-l", "best")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: unknown label 'best'; the only label is 'latest'\n",
    )


def test_model_list_latest_of_each(cli: Cli, two_models: None) -> None:
    listed = cli.ok("model", "list", "--query", "[].[name, version]")
    assert listed == [["aaa", "1"], ["mnist", "2"]]


def test_model_list_versions_of_one_newest_first(cli: Cli, two_models: None, arm: str) -> None:
    listed = cli.ok("model", "list", "-n", "mnist")
    assert cli.mask(listed) == [model_view(arm, "2"), model_view(arm, "1")]


def test_model_list_of_an_empty_workspace(cli: Cli, ws: Path) -> None:
    assert cli.ok("model", "list") == []
    assert not ws.exists()


def test_model_sync_with_tracking_off_says_why(cli: Cli, ws: Path) -> None:
    result = cli("model", "sync")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "ERROR: MLflow tracking is off (BATCHML_TRACKING=off); "
        "model sync reads the workspace's MLflow registry\n"
    )
    assert not ws.exists()


# data


def test_data_folder_is_uploaded_to_the_default_datastore(
    cli: Cli, ws: Path, inputs: Project, arm: str
) -> None:
    view = cli.ok("data", "create", "--name", "digits", "--path", inputs.root / "inputs")
    path = UPLOAD.sub("LocalUpload/<id>/", view["path"])
    assert path == "azureml://datastores/workspaceblobstore/paths/LocalUpload/<id>/inputs"
    assert cli.mask({**view, "path": path}) == data_view(arm, path)
    relative = view["path"].removeprefix("azureml://datastores/workspaceblobstore/paths/")
    uploaded = ws / "datastores" / "workspaceblobstore" / relative
    assert sorted(p.name for p in uploaded.iterdir()) == ["a.csv", "b.csv"]
    inputs.write("inputs/c.csv", "5,6\n")
    assert sorted(p.name for p in uploaded.iterdir()) == ["a.csv", "b.csv"]


def test_data_uri_file(cli: Cli, ws: Path, inputs: Project, arm: str) -> None:
    view = cli.ok(
        "data", "create", "-n", "digits", "-p", inputs.root / "inputs" / "a.csv", "-t", "uri_file"
    )
    path = UPLOAD.sub("LocalUpload/<id>/", view["path"])
    assert path == "azureml://datastores/workspaceblobstore/paths/LocalUpload/<id>/a.csv"
    assert cli.mask({**view, "path": path}) == data_view(arm, path, type="uri_file")


def test_data_file_given_as_uri_folder(cli: Cli, ws: Path, inputs: Project) -> None:
    file = inputs.root / "inputs" / "a.csv"
    result = cli("data", "create", "-n", "digits", "-p", file, "--type", "uri_folder")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: command line: path: type is uri_folder but {file} is a file; use type uri_file\n"
    )
    assert not ws.exists()


def test_data_folder_given_as_uri_file(cli: Cli, ws: Path, inputs: Project) -> None:
    data_yml = inputs.write("data.yml", "name: digits\npath: inputs\ntype: uri_file\n")
    result = cli("data", "create", "-f", data_yml)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {data_yml}: path: type is uri_file but {inputs.root / 'inputs'} is a folder; use "
        "type uri_folder\n"
    )


def test_data_mltable_needs_an_mltable_file(cli: Cli, ws: Path, inputs: Project) -> None:
    result = cli("data", "create", "-n", "digits", "-p", inputs.root / "inputs", "-t", "mltable")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: command line: path: type is mltable but {inputs.root / 'inputs'} has no MLTable "
        "file\n"
    )
    inputs.write("inputs/MLTable", "paths:\n  - pattern: ./*.csv\n")
    view = cli.ok("data", "create", "-n", "digits", "-p", inputs.root / "inputs", "-t", "mltable")
    assert view["type"] == "mltable"


def test_data_datastore_path_is_registered_by_reference(
    cli: Cli, ws: Path, inputs: Project, arm: str
) -> None:
    first = cli.ok("data", "create", "-n", "digits", "-p", inputs.root / "inputs")
    folder = first["path"].rsplit("/", 1)[0]  # the LocalUpload/<id> folder of the first upload
    view = cli.ok("data", "create", "-n", "digits", "-p", folder)
    assert cli.mask(view) == data_view(arm, folder, "2")
    uploads = ws / "datastores" / "workspaceblobstore" / "LocalUpload"
    assert len(list(uploads.iterdir())) == 1


def test_data_unknown_datastore(cli: Cli, ws: Path) -> None:
    result = cli("data", "create", "-n", "d1", "-p", "azureml://datastores/nope/paths/x")
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        f"ERROR: datastore 'nope' not found in workspace {ws}\n"
        "Hint: list them with: batchml datastore list\n"
    )


@pytest.mark.parametrize("kind", ["model", "data"])
def test_datastore_path_may_not_leave_the_datastore(
    cli: Cli, ws: Path, project: Project, kind: str
) -> None:
    cli.ok("model", "create", "-n", "first", "-p", project.root / "model")
    escape = "azureml://datastores/workspaceblobstore/paths/../../models"
    result = cli(kind, "create", "-n", "escape", "-p", escape)
    assert (result.code, result.out, result.err) == (
        2,
        "",
        f"ERROR: {kind} path '{escape}' leaves the datastore 'workspaceblobstore'\n",
    )
    assert sorted(p.name for p in (ws / "models").iterdir()) == ["first"]


def test_data_in_storage_is_looked_at_before_it_is_registered(cli: Cli, ws: Path) -> None:
    result = cli("data", "create", "-n", "d1", "-p", "http://127.0.0.1:1/data.csv")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "ERROR: http://127.0.0.1:1/data.csv: storage error: the server http://127.0.0.1:1 "
        "cannot be reached (connection refused)\n"
    )
    assert cli("data", "show", "-n", "d1").code == 3


def test_data_versions_show_and_list(cli: Cli, ws: Path, inputs: Project) -> None:
    for _ in range(2):
        cli.ok("data", "create", "-n", "digits", "-p", inputs.root / "inputs")
    cli.ok("data", "create", "-n", "digits", "-p", inputs.root / "inputs", "--version", "10")
    assert cli.ok("data", "show", "-n", "digits", "--query", "version") == "10"
    assert cli.ok("data", "show", "-n", "digits", "-l", "latest", "--query", "version") == "10"
    assert cli.ok("data", "show", "-n", "digits", "-v", "2", "--query", "version") == "2"
    assert cli.ok("data", "list", "-n", "digits", "--query", "[].version") == ["10", "2", "1"]
    assert cli.ok("data", "list", "--query", "[].[name, version]") == [["digits", "10"]]
    conflict = cli("data", "create", "-n", "digits", "-p", inputs.root / "inputs", "-v", "1")
    assert (conflict.code, conflict.err) == (
        5,
        "ERROR: data 'digits' version 1 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 11\n",
    )


def test_latest_is_the_newest_created_version(cli: Cli, ws: Path, project: Project) -> None:
    cli.ok("model", "create", "-n", "named", "-p", project.root / "model", "-v", "v1")
    cli.ok("model", "create", "-n", "named", "-p", project.root / "model")
    assert cli.ok("model", "show", "-n", "named", "-l", "latest", "--query", "version") == "1"
    cli.ok("model", "create", "-n", "named", "-p", project.root / "model", "-v", "zeta")
    assert cli.ok("model", "show", "-n", "named", "--query", "version") == "zeta"
