"""`batchml workspace show`, `batchml configure`, workspace resolution and format versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

WHERE = ("workspace", "show", "--query", "[path, resolved_from]")


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Four candidate workspaces, and a current directory below one found by walking up."""
    found = tmp_path / "repo" / ".batchml"
    found.mkdir(parents=True)
    deep = tmp_path / "repo" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    return {
        "flag": tmp_path / "from-flag",
        "env": tmp_path / "from-env",
        "configured": tmp_path / "from-config",
        "found": found,
    }


def test_resolution_order(
    cli: Cli, places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("configure", "--defaults", f"workspace={places['configured']}")
    monkeypatch.setenv("BATCHML_WORKSPACE", str(places["env"]))
    assert cli.ok(*WHERE, "-w", places["flag"]) == [str(places["flag"]), "--workspace-name"]
    assert cli.ok(*WHERE) == [str(places["env"]), "BATCHML_WORKSPACE"]
    monkeypatch.delenv("BATCHML_WORKSPACE")
    assert cli.ok(*WHERE) == [str(places["configured"]), "configured default"]
    cli.ok("configure", "--defaults", "workspace=")
    assert cli.ok(*WHERE) == [str(places["found"]), "nearest .batchml folder"]


def test_without_any_workspace_a_new_folder_is_used_on_first_write(
    cli: Cli, tmp_path: Path
) -> None:
    cwd = tmp_path / "cwd"
    assert cli.ok(*WHERE) == [str(cwd / ".batchml"), "new folder in the current directory"]
    assert cli.ok("batch-endpoint", "list") == []
    assert not (cwd / ".batchml").exists()
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    assert (cwd / ".batchml" / "computes" / "cpu-cluster.json").is_file()
    assert cli.ok(*WHERE) == [str(cwd / ".batchml"), "nearest .batchml folder"]


def test_relative_workspace_flag_is_made_absolute(cli: Cli, tmp_path: Path) -> None:
    assert cli.ok(*WHERE, "--workspace-name", "rel") == [
        str(tmp_path / "cwd" / "rel"),
        "--workspace-name",
    ]


def test_configure_writes_the_config_dir_only(cli: Cli, tmp_path: Path) -> None:
    result = cli("configure", "--defaults", "workspace=../ws")
    assert (result.code, result.out, result.err) == (0, "", "")
    config = tmp_path / "config" / "config.json"
    assert json.loads(config.read_text()) == {
        "defaults": {"workspace": str(tmp_path / "ws")},
        "format_version": 1,
    }
    assert cli.ok("configure") == {"workspace": str(tmp_path / "ws")}
    assert cli.ok("configure", "-l") == {"workspace": str(tmp_path / "ws")}
    assert cli.ok("configure", "-d", "workspace=", "--list-defaults") == {}
    assert json.loads(config.read_text()) == {"defaults": {}, "format_version": 1}


def test_configure_unknown_key(cli: Cli, tmp_path: Path) -> None:
    result = cli("configure", "--defaults", "group=rg")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: --defaults takes key=value with key one of workspace; got 'group=rg'\n",
    )
    assert not (tmp_path / "config").exists()


def test_broken_config_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config" / "config.json"
    config.parent.mkdir()
    config.write_text("{not json")
    result = cli("workspace", "show")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"ERROR: {config} is not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)\n"
    )


def test_workspace_show_of_a_new_workspace(cli: Cli, ws: Path) -> None:
    assert cli.ok("workspace", "show") == {
        "batch_endpoints": 0,
        "computes": 0,
        "defaults": {},
        "created_at": None,
        "data": 0,
        "datastores": [],
        "exists": False,
        "format_version": None,
        "models": 0,
        "name": "ws",
        "path": str(ws),
        "resolved_from": "BATCHML_WORKSPACE",
    }
    assert not ws.exists()


def test_workspace_show_counts_what_it_holds(cli: Cli, deployed: Project, ws: Path) -> None:
    cli.ok("model", "create", "-n", "mnist", "-p", deployed.root / "model")
    cli.ok("model", "create", "-n", "mnist", "-p", deployed.root / "model")
    cli.ok("data", "create", "-n", "digits", "-p", deployed.root / "code")
    assert cli.mask(cli.ok("workspace", "show")) == {
        "batch_endpoints": 1,
        "computes": 1,
        "defaults": {},
        "created_at": "<time>",
        "data": 1,
        "datastores": ["workspaceblobstore"],
        "exists": True,
        "format_version": 1,
        "models": 1,
        "name": "ws",
        "path": "<tmp>/ws",
        "resolved_from": "BATCHML_WORKSPACE",
    }
    assert cli.mask(json.loads((ws / "workspace.json").read_text())) == {
        "__meta__": {"format_version": 1, "kind": "workspace"},
        "created_at": "<time>",
        "name": "ws",
    }


# format versions


def bump(path: Path, version: int) -> None:
    document = json.loads(path.read_text())
    document["__meta__"]["format_version"] = version
    path.write_text(json.dumps(document))


def test_state_file_from_a_newer_batchml_is_refused(cli: Cli, ready: Project, ws: Path) -> None:
    state = ws / "endpoints" / "mnist-batch" / "endpoint.json"
    bump(state, 2)
    expected = (
        f"ERROR: {state} has format version 2; this batchml reads up to 1\n"
        "Hint: upgrade batchml (pip install -U batchml)\n"
    )
    for args in (["batch-endpoint", "show", "-n", "mnist-batch"], ["batch-endpoint", "list"]):
        result = cli(*args)
        assert (result.code, result.out, result.err) == (7, "", expected)


def test_workspace_from_a_newer_batchml_refuses_writes(cli: Cli, ready: Project, ws: Path) -> None:
    bump(ws / "workspace.json", 3)
    before = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*"))
    for args in (
        ["compute", "create", "-n", "cpu-two", "--type", "amlcompute"],
        ["workspace", "show"],
    ):
        result = cli(*args)
        assert (result.code, result.out) == (7, "")
        assert result.err == (
            f"ERROR: {ws / 'workspace.json'} has format version 3; this batchml reads up to 1\n"
            "Hint: upgrade batchml (pip install -U batchml)\n"
        )
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == before


def test_model_and_deployment_state_versions_are_checked(
    cli: Cli, deployed: Project, ws: Path
) -> None:
    cli.ok("model", "create", "-n", "mnist", "-p", deployed.root / "model")
    bump(ws / "models" / "mnist" / "1" / "model.json", 9)
    assert cli("model", "show", "-n", "mnist").code == 7
    bump(ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch" / "deployment.json", 2)
    assert cli("batch-deployment", "show", "-n", "mnist-torch", "-e", "mnist-batch").code == 7
    assert cli("batch-deployment", "list", "-e", "mnist-batch").code == 7


def test_a_failed_first_command_leaves_no_workspace(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("batch-deployment", "create", "-f", project.root / "deployment.yml")
    assert result.code == 3
    assert not ws.exists()
