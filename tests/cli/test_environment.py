"""`batchml environment create|show|list`, and how other resources name an environment
(`services.environments.reference`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from batchml.core.errors import NotFoundError, UsageError
from batchml.envs import cache
from batchml.envs.requirements import Requirements
from batchml.services import environments
from batchml.store.workspace import Workspace

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
CONDA_YML = """\
name: torch
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip:
    - torch==2.3.0
"""
CONDA = {
    "channels": ["conda-forge"],
    "dependencies": ["python=3.11", {"pip": ["torch==2.3.0"]}],
    "name": "torch",
}
ENVIRONMENT_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
name: torch-env
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
conda_file: envs/conda.yml
description: Torch for scoring
tags:
  team: vision
  gpu: false
"""
IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
CURATED = "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"


def env_view(arm: str, version: str = "1", **changes: Any) -> dict[str, Any]:
    view = {
        "conda_file": CONDA,
        "creation_context": CONTEXT,
        "description": "Torch for scoring",
        "id": f"{arm}/environments/torch-env/versions/{version}",
        "image": IMAGE,
        "name": "torch-env",
        "os_type": "linux",
        "tags": {"gpu": "false", "team": "vision"},
        "version": version,
    }
    view.update(changes)
    return view


def shown(arm: str, version: str = "1", **changes: Any) -> dict[str, Any]:
    """`environment show`'s view: Azure's, and the local build (none in these tests)."""
    key = cache.key_of(Requirements("3.11", ("torch==2.3.0",)))
    how = f"batchml environment build -n torch-env -v {version}"
    local = {"built": False, "key": key, "reason": f"not built yet: {how} builds it"}
    return {**env_view(arm, version, **changes), "local_build": local}


@pytest.fixture
def env_yml(project: Project) -> Path:
    project.write("envs/conda.yml", CONDA_YML)
    return project.write("environment.yml", ENVIRONMENT_YML)


# create


def test_create_from_yaml_snapshots_the_conda_file(
    cli: Cli, ws: Path, project: Project, env_yml: Path, arm: str
) -> None:
    result = cli("environment", "create", "-f", env_yml)
    assert (result.code, result.err) == (0, "")
    assert cli.mask(result.json()) == env_view(arm)
    snapshot = ws / "environments" / "torch-env" / "1" / "conda" / "conda.yml"
    assert snapshot.read_text() == CONDA_YML
    state = json.loads((ws / "environments" / "torch-env" / "1" / "environment.json").read_text())
    assert (state["__meta__"], state["conda_path"]) == (
        {"format_version": 1, "kind": "environment"},
        str(snapshot),
    )
    project.write("envs/conda.yml", "dependencies:\n  - python=3.12\n")
    assert snapshot.read_text() == CONDA_YML
    assert cli.mask(cli.ok("environment", "show", "-n", "torch-env")) == shown(arm)


def test_create_from_flags(
    cli: Cli, ws: Path, project: Project, arm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("conda.yml", CONDA_YML)
    monkeypatch.chdir(project.root)
    view = cli.ok(
        "environment",
        "create",
        "--name",
        "torch-env",
        "--image",
        IMAGE,
        "--conda-file",
        "conda.yml",
        "--version",
        "7",
        "--description",
        "d",
        "--tags",
        "a=1",
        "b=x",
    )
    assert cli.mask(view) == env_view(arm, "7", description="d", tags={"a": "1", "b": "x"})
    assert (ws / "environments" / "torch-env" / "7" / "conda" / "conda.yml").is_file()


def test_create_image_only_and_inline_conda(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    plain = cli.ok("environment", "create", "-n", "plain", "-i", "python:3.11")
    assert cli.mask(plain) == {
        "conda_file": None,
        "creation_context": CONTEXT,
        "description": "",
        "id": f"{arm}/environments/plain/versions/1",
        "image": "python:3.11",
        "name": "plain",
        "os_type": "linux",
        "tags": {},
        "version": "1",
    }
    inline_yml = project.write(
        "inline.yml",
        """\
        name: inline
        image: python:3.11
        os_type: linux
        conda_file:
          dependencies:
            - pip:
              - numpy==1.26.4
        inference_config:
          scoring_route: {port: 5001, path: /score}
        properties:
          stage: test
        """,
    )
    view = cli.ok("environment", "create", "-f", inline_yml)
    assert (view["conda_file"], view["inference_config"], view["properties"]) == (
        {"dependencies": [{"pip": ["numpy==1.26.4"]}]},
        {"scoring_route": {"path": "/score", "port": 5001}},
        {"stage": "test"},
    )
    assert sorted(p.name for p in (ws / "environments" / "inline" / "1").iterdir()) == [
        "environment.json"
    ]


def test_create_with_a_build_context(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    project.write("docker/Dockerfile", "FROM python:3.11\n")
    env = project.write(
        "build.yml", "name: built\nbuild:\n  path: docker\n  dockerfile_path: Dockerfile\n"
    )
    view = cli.ok("environment", "create", "-f", env)
    assert cli.mask(view) == {
        "build": {"dockerfile_path": "Dockerfile", "path": "<tmp>/project/docker"},
        "conda_file": None,
        "creation_context": CONTEXT,
        "description": "",
        "id": f"{arm}/environments/built/versions/1",
        "image": None,
        "name": "built",
        "os_type": "linux",
        "tags": {},
        "version": "1",
    }


def test_versions_auto_increment(cli: Cli, ws: Path, env_yml: Path) -> None:
    versions = [
        cli.ok("environment", "create", "-f", env_yml, "--query", "version") for _ in range(2)
    ]
    cli.ok("environment", "create", "-f", env_yml, "-v", "10")
    versions.append(cli.ok("environment", "create", "-f", env_yml, "--query", "version"))
    assert versions == ["1", "2", "11"]


def test_recreating_an_identical_version_returns_it_unchanged(
    cli: Cli, ws: Path, env_yml: Path, digest: Callable[[Path], dict[str, str]]
) -> None:
    first = cli.ok("environment", "create", "-f", env_yml, "--set", "version=3")
    before = digest(ws)
    again = cli("environment", "create", "-f", env_yml, "--set", "version=3")
    assert (again.code, again.err, again.json()) == (0, "", first)
    assert digest(ws) == before


@pytest.mark.parametrize(
    "change",
    [
        ("--description", "other"),
        ("--image", "python:3.12"),
        ("--set", "os_type=windows"),
        ("--tags", "team=audio"),
    ],
)
def test_recreating_a_version_with_other_fields_is_a_conflict(
    cli: Cli,
    ws: Path,
    env_yml: Path,
    digest: Callable[[Path], dict[str, str]],
    change: tuple[str, str],
) -> None:
    cli.ok("environment", "create", "-f", env_yml, "-v", "1")
    cli.ok("environment", "create", "-f", env_yml)
    before = digest(ws)
    result = cli("environment", "create", "-f", env_yml, "-v", "1", *change)
    assert (result.code, result.out, result.err) == (
        5,
        "",
        "ERROR: environment 'torch-env' version 1 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 3\n",
    )
    assert digest(ws) == before


def test_recreating_a_version_with_another_conda_file_is_a_conflict(
    cli: Cli, ws: Path, project: Project, env_yml: Path
) -> None:
    cli.ok("environment", "create", "-f", env_yml, "-v", "1")
    project.write("envs/conda.yml", CONDA_YML.replace("2.3.0", "2.4.0"))
    result = cli("environment", "create", "-f", env_yml, "-v", "1")
    assert (result.code, result.err) == (
        5,
        "ERROR: environment 'torch-env' version 1 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 2\n",
    )


def test_create_missing_conda_file(cli: Cli, ws: Path, project: Project) -> None:
    env = project.write("env.yml", "name: e\nimage: python:3.11\nconda_file: nope.yml\n")
    result = cli("environment", "create", "-f", env)
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: conda file not found: {project.root / 'nope.yml'}\n",
    )
    assert not ws.exists()


def test_create_missing_yaml_file(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("environment", "create", "-f", project.root / "nope.yml")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: file not found: {project.root / 'nope.yml'}\n",
    )


def test_create_conda_file_that_is_not_a_mapping(cli: Cli, ws: Path, project: Project) -> None:
    project.write("conda.yml", "- numpy\n")
    env = project.write("env.yml", "name: e\nimage: python:3.11\nconda_file: conda.yml\n")
    result = cli("environment", "create", "-f", env)
    assert (result.code, result.out, result.err) == (
        4,
        "",
        f"ERROR: {env}:3: conda_file: {project.root / 'conda.yml'} must hold a conda mapping "
        "(name, channels, dependencies)\n",
    )


def test_schema_errors_are_all_reported_with_their_lines(
    cli: Cli, ws: Path, project: Project
) -> None:
    env = project.write(
        "env.yml", "name: torch env\nconda_file: 5\nos_type: macos\nbuild: {dockerfile: D}\n"
    )
    result = cli("environment", "create", "-f", env)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {env}:1: name: must be 1-255 characters of letters, digits, '_', '.' and '-', "
        'starting with a letter or digit (got "torch env")',
        f"  {env}:2: conda_file: must be the path of a conda YAML file, or the conda mapping "
        "itself (got 5)",
        f'  {env}:3: os_type: must be one of linux, windows (got "macos")',
        f"  {env}:4: build.dockerfile: unknown field; did you mean 'dockerfile_path'?",
        f"  {env}:4: build.path: is required",
    ]


def test_schema_needs_an_image_or_a_build(cli: Cli, ws: Path, project: Project) -> None:
    env = project.write("env.yml", "name: e\nconda_file: {dependencies: []}\n")
    result = cli("environment", "create", "-f", env)
    assert (result.code, result.out, result.err) == (
        4,
        "",
        f"ERROR: {env}: (top level): add image: (a Docker image, e.g. image: python:3.11) or "
        "build: (a Docker build context), as in Azure\n",
    )


def test_image_and_build_together_are_refused(cli: Cli, ws: Path, project: Project) -> None:
    project.write("docker/Dockerfile", "FROM python:3.11\n")
    env = project.write("env.yml", "name: e\nimage: python:3.11\nbuild:\n  path: docker\n")
    result = cli("environment", "create", "-f", env)
    assert (result.code, result.out, result.err) == (
        4,
        "",
        f"ERROR: {env}:3: build: give image or build, not both (as in Azure: a build context "
        "builds its own image)\n",
    )


def test_create_needs_a_file_or_name_and_image(cli: Cli, ws: Path) -> None:
    result = cli("environment", "create", "--name", "e", "--conda-file", "conda.yml")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: give -f environment.yml, or --name and --image\n",
    )


# show / list


@pytest.fixture
def registered(cli: Cli, ws: Path, env_yml: Path) -> None:
    cli.ok("environment", "create", "-f", env_yml)
    cli.ok("environment", "create", "-f", env_yml, "--description", "second")
    cli.ok("environment", "create", "-n", "aaa", "-i", "python:3.11")


@pytest.mark.parametrize(
    ("flags", "version"),
    [((), "2"), (("-l", "latest"), "2"), (("-v", "1"), "1"), (("--version", "2"), "2")],
)
def test_show(cli: Cli, registered: None, arm: str, flags: tuple[str, ...], version: str) -> None:
    description = "second" if version == "2" else "Torch for scoring"
    view = cli.ok("environment", "show", "-n", "torch-env", *flags)
    assert cli.mask(view) == shown(arm, version, description=description)


def test_show_unknown_version_and_name(cli: Cli, registered: None, ws: Path) -> None:
    version = cli("environment", "show", "-n", "torch-env", "-v", "9")
    name = cli("environment", "show", "-n", "nope")
    label = cli("environment", "show", "-n", "torch-env", "-l", "best")
    assert [(r.code, r.out, r.err) for r in (version, name, label)] == [
        (3, "", "ERROR: environment 'torch-env' has no version 9\nHint: versions: 1, 2\n"),
        (
            3,
            "",
            f"ERROR: environment 'nope' not found in workspace {ws}\n"
            "Hint: list them with: batchml environment list\n",
        ),
        (2, "", "ERROR: unknown label 'best'; the only label is 'latest'\n"),
    ]


def test_list(cli: Cli, registered: None) -> None:
    assert cli.ok("environment", "list", "--query", "[].[name, version]") == [
        ["aaa", "1"],
        ["torch-env", "2"],
    ]
    assert cli.ok("environment", "list", "-n", "torch-env", "--query", "[].version") == ["2", "1"]


def test_list_of_an_empty_workspace(cli: Cli, ws: Path) -> None:
    assert cli.ok("environment", "list") == []
    assert not ws.exists()


# reference(): how components and deployments record an environment given as a string


@pytest.fixture
def workspace(registered: None, ws: Path) -> Workspace:
    return Workspace(ws)


@pytest.mark.parametrize(
    ("value", "recorded"),
    [
        ("azureml:torch-env:1", "azureml:torch-env:1"),
        ("azureml:torch-env@latest", "azureml:torch-env:2"),
        ("azureml:aaa@latest", "azureml:aaa:1"),
        (
            "azureml:/subscriptions/0/resourceGroups/g/providers/Microsoft.MachineLearningServices"
            "/workspaces/w/environments/torch-env/versions/1",
            "azureml:torch-env:1",
        ),
        (CURATED, CURATED),
        (
            "azureml:AzureML-minimal-ubuntu22.04-py39-cpu:12",
            "azureml:AzureML-minimal-ubuntu22.04-py39-cpu:12",
        ),
        (
            "azureml://registries/azureml/environments/sklearn-1.5/versions/3",
            "azureml://registries/azureml/environments/sklearn-1.5/versions/3",
        ),
        (
            "azureml://registries/my-registry/environments/torch/labels/latest",
            "azureml://registries/my-registry/environments/torch/labels/latest",
        ),
    ],
)
def test_reference(workspace: Workspace, value: str, recorded: str) -> None:
    assert environments.reference(workspace, value) == recorded


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        (
            "azureml:nope:1",
            "environment 'azureml:nope:1' not found in workspace {ws}",
            "register it first: batchml environment create -f environment.yml",
        ),
        (
            "azureml:nope@latest",
            "environment 'azureml:nope@latest' not found in workspace {ws}",
            "register it first: batchml environment create -f environment.yml",
        ),
        (
            "azureml:torch-env:9",
            "environment 'azureml:torch-env:9' not found in workspace {ws} (registered: 1, 2)",
            "register it first: batchml environment create -f environment.yml",
        ),
    ],
)
def test_reference_to_an_unregistered_environment(
    workspace: Workspace, ws: Path, value: str, message: str, hint: str
) -> None:
    with pytest.raises(NotFoundError) as raised:
        environments.reference(workspace, value)
    assert (raised.value.exit_code, raised.value.message, raised.value.hint) == (
        3,
        message.format(ws=ws),
        hint,
    )


FORMS = (
    "use azureml:<name>:<version>, azureml:<name>@latest, "
    "azureml:/subscriptions/.../environments/<name>/versions/<version>, "
    "azureml://registries/<registry>/environments/<name>/versions/<version> (or /labels/<label>), "
    "or a curated environment such as azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"
)


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("torch-env:1", "'torch-env:1' is not an environment reference", FORMS),
        ("azureml:", "'azureml:' is not an environment reference", FORMS),
        ("azureml:torch env:1", "'azureml:torch env:1' is not an environment reference", FORMS),
        ("azureml:torch-env:1:2", "'azureml:torch-env:1:2' is not an environment reference", FORMS),
        ("azureml:torch-env@", "'azureml:torch-env@' is not an environment reference", FORMS),
        (
            "azureml:/subscriptions/0/resourceGroups/g/providers/Microsoft.MachineLearningServices"
            "/workspaces/w/models/torch-env/versions/1",
            "'azureml:/subscriptions/0/resourceGroups/g/providers/Microsoft.MachineLearningServices"
            "/workspaces/w/models/torch-env/versions/1' is not an environment reference",
            FORMS,
        ),
        (
            "azureml://registries/azureml/environments/sklearn",
            "'azureml://registries/azureml/environments/sklearn' is not an environment reference",
            FORMS,
        ),
        (
            "azureml://datastores/workspaceblobstore/paths/env",
            "'azureml://datastores/workspaceblobstore/paths/env' is not an environment reference",
            FORMS,
        ),
        (
            "azureml:torch-env",
            "environment 'azureml:torch-env' names no version",
            "use azureml:torch-env@latest or azureml:torch-env:<version>",
        ),
        (
            "azureml:torch-env@best",
            "unknown label 'best'; the only label is 'latest'",
            None,
        ),
    ],
)
def test_reference_that_is_not_one(
    workspace: Workspace, value: str, message: str, hint: str | None
) -> None:
    with pytest.raises(UsageError) as raised:
        environments.reference(workspace, value)
    assert (raised.value.exit_code, raised.value.message, raised.value.hint) == (2, message, hint)


def conda_path_of(workspace: Workspace, value: str) -> str | None:
    registered = environments.registered(workspace, value)
    return registered.conda_path if registered is not None else None


def test_registered(workspace: Workspace, ws: Path) -> None:
    snapshot = str(ws / "environments" / "torch-env" / "2" / "conda" / "conda.yml")
    assert conda_path_of(workspace, "azureml:torch-env:2") == snapshot
    assert conda_path_of(workspace, "azureml:torch-env@latest") == snapshot
    assert conda_path_of(workspace, "azureml:aaa:1") is None
    assert environments.registered(workspace, CURATED) is None
    registry = "azureml://registries/azureml/environments/sklearn-1.5/versions/3"
    assert environments.registered(workspace, registry) is None
    with pytest.raises(NotFoundError):
        environments.registered(workspace, "azureml:nope:1")
