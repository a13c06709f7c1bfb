"""`batchml compute` with type ray, and what invoke checks before a job on one is created."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project


def ray_view(arm: str, name: str = "big", **changes: Any) -> dict[str, Any]:
    view = {
        "address": "auto",
        "description": "",
        "id": f"{arm}/computes/{name}",
        "location": "local",
        "name": name,
        "num_cpus": None,
        "provisioning_state": "Succeeded",
        "tags": {},
        "type": "ray",
    }
    view.update(changes)
    return view


def test_create_from_flags_defaults_to_address_auto(cli: Cli, ws: Path, arm: str) -> None:
    assert cli.ok("compute", "create", "-n", "big", "--type", "Ray") == ray_view(arm)
    view = cli.ok("compute", "create", "-n", "big", "-t", "ray", "--address", "ray://head:10001")
    assert view == ray_view(arm, address="ray://head:10001")
    assert cli.ok("compute", "show", "-n", "big", "--query", "address") == "ray://head:10001"


def test_create_from_a_file(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    compute_yml = project.write(
        "compute.yml",
        """\
        name: solo
        type: ray
        address: local
        num_cpus: 2
        description: a Ray instance per job
        tags: {team: vision}
        """,
    )
    view = cli.ok("compute", "create", "-f", compute_yml)
    assert view == ray_view(
        arm,
        "solo",
        address="local",
        num_cpus=2,
        description="a Ray instance per job",
        tags={"team": "vision"},
    )
    assert cli.ok("compute", "list") == [view]


def test_create_reports_every_mistake(cli: Cli, ws: Path) -> None:
    result = cli(
        "compute", "create", "-n", "big", "-t", "ray", "--address", "http://head",
        "--size", "Standard_NC6", "--set", "num_cpus=0",
    )  # fmt: skip
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        "ERROR: command line: size: unknown field; allowed: $schema, address, description, "
        "name, num_cpus, tags, type",
        "  command line: address: must be auto, local, ray://HOST[:PORT] (the Ray Client "
        'server) or HOST:PORT (the cluster\'s GCS) (got "http://head")',
        "  command line: num_cpus: must be at least 1 (got 0)",
    ]
    assert not ws.exists()


def test_num_cpus_needs_address_local(cli: Cli, ws: Path) -> None:
    result = cli("compute", "create", "-n", "big", "-t", "ray", "--set", "num_cpus=4")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        "ERROR: command line: num_cpus: sizes a Ray instance batchml starts, so it needs "
        "address local (got address auto)\n"
    )


def test_show_of_a_ray_compute_does_not_import_ray(cli: Cli, ws: Path) -> None:
    cli.ok("compute", "create", "-n", "big", "-t", "ray", "--address", "local")
    code = (
        "import sys\nfrom batchml.cli.app import run\n"
        "code = run(['compute', 'show', '-n', 'big', '-o', 'none'])\n"
        "print(code, 'ray' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.splitlines()[-1] == "0 False"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    return folder


def invoke(cli: Cli, data: Path, *sets: str) -> Any:
    return cli("batch-endpoint", "invoke", "-n", "mnist-batch", "-d", "mnist-torch",
               "--input", data, "--set", *sets)  # fmt: skip


def test_invoke_on_a_ray_compute_without_ray_installed_fails_clearly(
    cli: Cli, ws: Path, deployed: Project, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("compute", "create", "-n", "big", "-t", "ray", "--address", "local")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a)
    )

    result = invoke(cli, data, "compute=azureml:big")

    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "ERROR: a ray compute needs Ray, which is not installed here\n"
        "Hint: install Ray with: pip install 'batchml[ray]'\n"
    )
    assert not (ws / "jobs").exists()


def test_invoke_checks_the_worker_resources_of_the_deployment(
    cli: Cli, ws: Path, deployed: Project, data: Path
) -> None:
    cli.ok("compute", "create", "-n", "big", "-t", "ray", "--address", "local")
    cli.ok("batch-deployment", "update", "-n", "mnist-torch", "-e", "mnist-batch",
           "--set", "resources.properties.num_gpus=two", "resources.properties.num_cpus=-1")  # fmt: skip

    result = invoke(cli, data, "compute=azureml:big")

    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        "ERROR: deployment mnist-torch: resources.properties.num_cpus: must be a number, 0 or "
        "more (got -1)",
        "  deployment mnist-torch: resources.properties.num_gpus: must be a number, 0 or more "
        "(got 'two')",
    ]
    assert not (ws / "jobs").exists()


def test_invoke_on_an_unknown_compute_is_not_found(
    cli: Cli, ws: Path, deployed: Project, data: Path
) -> None:
    result = invoke(cli, data, "compute=azureml:nope")
    assert (result.code, result.out) == (3, "")
    assert result.err.startswith(f"ERROR: compute 'nope' not found in workspace {ws}\n")
