"""Jobs through the CLI on a ray compute: invoke picks the backend from the compute (or from
`--set compute=...`), refuses a cluster it cannot reach, and the detached runner drives the
actors; a `local` compute starts a Ray instance of its own and stops it with the job."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ray_cluster import actors, free_port, session_members
from waiting import wait_for, wait_for_status

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ray_cluster import RayHead

    from tests.conftest import Cli

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed", allow_module_level=True)

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(120)]

SCORE = """\
import os

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(p)} {open(p).read().strip()}" for p in mini_batch]
"""
DEPLOYMENT = """\
name: dep
endpoint_name: ray-ep
type: model
model: {path: model}
code_configuration: {code: code, scoring_script: score.py}
environment: {image: python:3.11}
compute: azureml:cpu
resources: {instance_count: 1, properties: {num_cpus: 1}}
settings: {mini_batch_size: 2, max_concurrency_per_instance: 2}
"""


@pytest.fixture
def deployed(cli: Cli, ws: Path, tmp_path: Path, ray_head: RayHead) -> Path:
    """Endpoint `ray-ep` whose default deployment runs on the amlcompute `cpu`; 6 input files."""
    project = tmp_path / "project"
    (project / "code").mkdir(parents=True)
    (project / "code" / "score.py").write_text(SCORE)
    (project / "model").mkdir()
    (project / "model" / "w.txt").write_text("w")
    (project / "data").mkdir()
    for index in range(6):
        (project / "data" / f"in{index}.txt").write_text(str(index))
    (project / "deployment.yml").write_text(DEPLOYMENT)
    (project / "endpoint.yml").write_text("name: ray-ep\n")
    cli.ok("compute", "create", "-n", "cpu", "--type", "amlcompute")
    cli.ok("batch-endpoint", "create", "-f", project / "endpoint.yml")
    cli.ok("batch-deployment", "create", "-f", project / "deployment.yml", "--set-default")
    return project


def invoke(cli: Cli, data: Path, *args: str) -> dict[str, Any]:
    return dict(cli.ok("batch-endpoint", "invoke", "-n", "ray-ep", "--input", data, *args))


def wait_ended(cli: Cli, name: str) -> dict[str, Any]:
    return wait_for_status(lambda name: cli.ok("job", "show", "-n", name), name, timeout=90)


def assert_runner_gone(ws: Path, name: str) -> None:
    """The runner's session (the runner, and a Ray instance it started) ends, with no actor."""
    pid = json.loads((ws / "jobs" / name / "job.json").read_text())["runner_pid"]
    wait_for(
        lambda: (session_members(pid), actors()) == ([], []),
        lambda: f"the runner's session and the actors to end: {session_members(pid)}, {actors()}",
    )


def test_invoke_runs_a_job_on_the_ray_compute_it_is_given(cli, ws, deployed, ray_head):
    view = cli.ok("compute", "create", "-n", "big", "--type", "ray", "--address", ray_head.address)
    assert (view["type"], view["address"]) == ("ray", ray_head.address)

    job = invoke(cli, deployed / "data", "--set", "compute=azureml:big", "--job-name", "on-ray")
    shown = wait_ended(cli, "on-ray")

    assert job["name"] == "on-ray"
    assert shown["status"] == "Completed", shown.get("error")
    assert shown["compute"].endswith("/computes/big")
    record = json.loads((ws / "jobs" / "on-ray" / "job.json").read_text())
    assert record["backend"] == {
        "type": "ray",
        "compute": "big",
        "address": ray_head.address,
        "num_cpus": None,
        "worker_resources": {"num_cpus": 1, "num_gpus": 0},
    }
    score = ws / "datastores" / "workspaceblobstore" / "azureml" / "on-ray" / "score"
    assert (score / "predictions.csv").read_text().splitlines() == [
        f"in{i}.txt {i}" for i in range(6)
    ]
    driver_log = (ws / "jobs" / "on-ray" / "azureml-logs" / "70_driver_log.txt").read_text()
    assert f"compute big: workers are Ray actors, Ray at {ray_head.address}" in driver_log
    assert_runner_gone(ws, "on-ray")
    # A mini-batch of the Ray job replays here, in the foreground.
    replay = [sys.executable, "-c", "from batchml.cli.app import main; main()", "job", "replay"]
    replayed = subprocess.run(
        [*replay, "-n", "on-ray", "--mini-batch", "1"], capture_output=True, text=True, timeout=60
    )
    assert (replayed.returncode, replayed.stdout) == (0, "in2.txt 2\nin3.txt 3\n"), replayed.stderr


def test_invoke_refuses_a_ray_compute_with_no_cluster_and_creates_no_job(cli, ws, deployed):
    port = free_port()
    cli.ok("compute", "create", "-n", "gone", "--type", "ray", "--address", f"127.0.0.1:{port}")

    result = cli("batch-endpoint", "invoke", "-n", "ray-ep", "--input", deployed / "data",
                 "--set", "compute=azureml:gone")  # fmt: skip

    # The message is that of the probe before ray.init, which would retry for half a minute.
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(
        f"ERROR: no Ray cluster at 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port} "
        "(Connection refused)\n"
    )
    assert not (ws / "jobs").exists() or list((ws / "jobs").iterdir()) == []


def test_a_worker_the_cluster_cannot_hold_fails_the_job_before_it_starts(
    cli, ws, deployed, ray_head
):
    cli.ok("compute", "create", "-n", "big", "--type", "ray", "--address", ray_head.address)
    cli.ok("batch-deployment", "update", "-n", "dep", "-e", "ray-ep",
           "--set", "resources.properties.num_gpus=1")  # fmt: skip

    job = invoke(cli, deployed / "data", "--set", "compute=azureml:big")
    shown = wait_ended(cli, job["name"])

    assert shown["status"] == "Failed"
    assert shown["error"]["message"] == (
        f"no node of the Ray cluster at {ray_head.address} has 1 CPU, 1 GPU for a worker "
        "(its nodes have: 2 CPU, 0 GPU)"
    )
    assert shown["batch"]["mini_batches"]["succeeded"] == 0
    assert_runner_gone(ws, job["name"])


@pytest.fixture
def ray_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where a Ray instance started by a job keeps its files (default /tmp/ray); short, for
    the Unix sockets in it, and removed after the test."""
    folder = Path(tempfile.mkdtemp(prefix="bml-ray-", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_local_ray_compute_starts_and_stops_a_ray_instance_of_its_own(
    cli, ws, deployed, ray_tmpdir
):
    cli.ok("compute", "create", "-n", "solo", "--type", "ray", "--address", "local",
           "--set", "num_cpus=2")  # fmt: skip
    cli.ok(
        "batch-deployment", "update", "-n", "dep", "-e", "ray-ep", "--set", "compute=azureml:solo"
    )

    job = invoke(cli, deployed / "data")
    shown = wait_ended(cli, job["name"])

    assert shown["status"] == "Completed", shown.get("error")
    assert shown["compute"].endswith("/computes/solo")
    driver_log = (ws / "jobs" / job["name"] / "azureml-logs" / "70_driver_log.txt").read_text()
    assert "compute solo: workers are Ray actors, Ray at local" in driver_log
    assert_runner_gone(ws, job["name"])
    # The instance was the job's own, started with the runner's environment.
    assert list((ray_tmpdir / "ray").glob("session_2*"))


def test_a_ray_job_passes_its_environment_to_the_nodes(cli, ws, deployed, ray_head, monkeypatch):
    """Its deployment's conda file reaches the actors' runtime_env, with the runner's uv
    sources (offline here, from a wheel made on the spot); the runner builds nothing itself."""
    from wheels import make_wheel

    wheels = deployed / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinypkg", "1.0")
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    (deployed / "code" / "score.py").write_text(
        "import tinypkg\n\ndef init():\n    pass\n\n"
        "def run(mini_batch):\n    return [tinypkg.__version__ for _ in mini_batch]\n"
    )
    (deployed / "conda.yml").write_text("dependencies:\n  - pip:\n    - tinypkg==1.0\n")
    spec = DEPLOYMENT.replace("{image: python:3.11}", "{image: python:3.11, conda_file: conda.yml}")
    (deployed / "deployment.yml").write_text(spec)
    cli.ok("batch-deployment", "update", "-f", deployed / "deployment.yml", "-o", "none")
    cli.ok("compute", "create", "-n", "big", "--type", "ray", "--address", ray_head.address)

    invoke(cli, deployed / "data", "--set", "compute=azureml:big", "env_manager=uv",
           "--job-name", "ray-env")  # fmt: skip
    shown = wait_ended(cli, "ray-env")

    assert shown["status"] == "Completed", shown.get("error")
    assert shown["runs_in"]["packages"] == ["tinypkg==1.0"]
    assert "path" not in shown["runs_in"]  # nothing built by the runner
    score = ws / "datastores" / "workspaceblobstore" / "azureml" / "ray-env" / "score"
    assert (score / "predictions.csv").read_text().splitlines() == ["1.0"] * 6
    assert_runner_gone(ws, "ray-env")
