"""Jobs run in the environment their deployment declares, built by uv while the job is
Preparing, offline: from wheels made here (UV_NO_INDEX, UV_FIND_LINKS), into the test's own
cache. The escape hatch, env_manager=local, runs a job in batchml's interpreter."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from processes import wait_sessions_gone
from waiting import wait_for_status
from wheels import make_wheel

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(importlib.util.find_spec("uv") is None, reason="needs uv"),
]

# Builds take seconds each on a loaded machine: a generous backstop.
BUILD_TIMEOUT = 180.0

# What the workers see: tinypkg (which batchml does not have) and PyYAML (batchml's own is 6.x),
# in init() and in run(), and the interpreter they run in.
SCRIPT = """\
import os, sys
import tinypkg, yaml

seen = {}

def init():
    seen["init"] = f"{tinypkg.__version__}/{yaml.__version__}"

def run(mini_batch):
    return [
        f"{os.path.basename(path)} {seen['init']} {tinypkg.__version__}/{yaml.__version__} "
        f"{sys.prefix}"
        for path in mini_batch
    ]
"""

PLAIN_SCRIPT = """\
import os, sys

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(path)} {sys.prefix}" for path in mini_batch]
"""

DEPLOYMENT = {
    "name": "pinned",
    "endpoint_name": "env-ep",
    "type": "model",
    "model": {"name": "m", "path": "model"},
    "code_configuration": {"code": "code", "scoring_script": "score.py"},
    "environment": {"image": "python:3.11", "conda_file": "conda.yml"},
    "compute": "azureml:cpu",
    "settings": {
        "mini_batch_size": 1,
        "max_concurrency_per_instance": 2,
        "retry_settings": {"max_retries": 0, "timeout": 60},
        "env_manager": "uv",
    },
}


class EnvProject:
    """A workspace with compute `cpu` and endpoint `env-ep`, and a project folder whose
    deployments are made by deploy(); jobs are followed to their end."""

    def __init__(self, cli: Cli, root: Path, ws: Path) -> None:
        self.cli, self.root, self.ws = cli, root, ws
        self.runners: set[int] = set()
        (root / "model").mkdir()
        (root / "model" / "weights.txt").write_text("w")
        (root / "data").mkdir()
        for index in range(4):
            (root / "data" / f"in{index}.txt").write_text(str(index))
        (root / "endpoint.yml").write_text("name: env-ep\n")
        cli.ok("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
        cli.ok("batch-endpoint", "create", "-f", root / "endpoint.yml", "-o", "none")

    def deploy(self, pip: list[str], script: str = SCRIPT, name: str = "pinned") -> None:
        (self.root / "code").mkdir(exist_ok=True)
        (self.root / "code" / "score.py").write_text(script)
        conda = {"dependencies": ["python=3.11", "pip", {"pip": pip}]}
        (self.root / "conda.yml").write_text(yaml.safe_dump(conda))
        (self.root / "deployment.yml").write_text(yaml.safe_dump({**DEPLOYMENT, "name": name}))
        self.cli.ok(
            "batch-deployment", "create", "-f", self.root / "deployment.yml", "--set-default",
            "-o", "none",
        )  # fmt: skip

    def invoke(self, *args: str) -> str:
        job = self.cli.ok("batch-endpoint", "invoke", "-n", "env-ep", "--input", "data", *args)
        return str(job["name"])

    def show(self, name: str) -> dict[str, Any]:
        job: dict[str, Any] = self.cli.ok("job", "show", "-n", name)
        pid = json.loads((self.folder(name) / "job.json").read_text()).get("runner_pid")
        if pid:
            self.runners.add(pid)
        return job

    def wait(self, name: str) -> dict[str, Any]:
        return wait_for_status(self.show, name, timeout=BUILD_TIMEOUT)

    def folder(self, name: str) -> Path:
        return self.ws / "jobs" / name

    def log(self, name: str, file: str) -> str:
        return (self.folder(name) / "azureml-logs" / file).read_text()

    def rows(self, name: str) -> list[str]:
        output = self.ws / "datastores/workspaceblobstore/azureml" / name / "score"
        return sorted((output / "predictions.csv").read_text().splitlines())


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EnvProject]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinypkg", "1.0")
    make_wheel(wheels, "tinypkg", "2.0")
    make_wheel(wheels, "PyYAML", "0.1", module="yaml")
    # The runner inherits these: uv builds from the wheels above only, with its cache here.
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    env_project = EnvProject(cli, root, ws)
    yield env_project
    wait_sessions_gone(env_project.runners)


def test_a_job_runs_in_its_environment_built_once_then_reused(project: EnvProject) -> None:
    project.deploy(["tinypkg==1.0", "PyYAML==0.1"])
    first = project.invoke()
    job = project.wait(first)

    assert job["status"] == "Completed", job.get("error")
    environment = job["environment"]
    prefix = environment["path"]
    # The user's pins win, in init() and in run(): tinypkg 1.0, and PyYAML 0.1, not batchml's.
    assert project.rows(first) == [f"in{i}.txt 1.0/0.1 1.0/0.1 {prefix}" for i in range(4)]
    assert environment["manager"] == "uv"
    assert environment["packages"] == ["tinypkg==1.0", "PyYAML==0.1"]
    assert environment["python_version"].startswith("3.11")
    assert Path(prefix).parent == project.root.parent / "cache" / "envs"
    build_log = project.log(first, "20_image_build_log.txt")
    assert "uv pip install" in build_log
    locked = project.log(first, "20_image_build_packages.txt").splitlines()
    assert locked == ["pyyaml==0.1", "tinypkg==1.0"]
    assert "building environment" in project.log(first, "70_driver_log.txt")

    second = project.invoke()
    again = project.wait(second)
    assert again["status"] == "Completed"
    assert again["environment"]["path"] == prefix
    version = environment["python_version"]
    assert f"is built (Python {version}); reusing {prefix}" in project.log(
        second, "70_driver_log.txt"
    )
    assert not (project.folder(second) / "azureml-logs" / "20_image_build_log.txt").exists()


def test_two_jobs_that_need_a_new_environment_build_it_once(project: EnvProject) -> None:
    project.deploy(["tinypkg==2.0"], PLAIN_SCRIPT)
    names = [project.invoke(), project.invoke()]
    jobs = [project.wait(name) for name in names]

    assert [job["status"] for job in jobs] == ["Completed", "Completed"]
    assert jobs[0]["environment"]["path"] == jobs[1]["environment"]["path"]
    logs = [project.folder(name) / "azureml-logs" / "20_image_build_log.txt" for name in names]
    venvs = sum(log.read_text().count(" venv ") for log in logs if log.exists())
    assert venvs == 1
    environments = [p for p in (project.root.parent / "cache" / "envs").iterdir()]
    assert [p.name for p in environments if not p.name.startswith(".")] == [
        Path(jobs[0]["environment"]["path"]).name
    ]


def test_a_requirement_that_cannot_be_installed_fails_the_job_naming_it(
    project: EnvProject,
) -> None:
    project.deploy(["tinypkg==1.0", "nosuchpkg==3.1"], PLAIN_SCRIPT)
    name = project.invoke()
    job = project.wait(name)

    assert job["status"] == "Failed"
    build_log = project.folder(name) / "azureml-logs" / "20_image_build_log.txt"
    message = job["error"]["message"]
    assert message.startswith(
        "the environment could not be built: uv could not install nosuchpkg==3.1 ("
    )
    assert message.endswith(f"; the build log is {build_log}")
    assert "nosuchpkg" in build_log.read_text()
    driver = project.log(name, "70_driver_log.txt")
    assert "Traceback" not in driver
    assert "job Failed: the environment could not be built" in driver
    # Nothing was scored, and nothing is left half-built in the cache.
    assert not (project.folder(name) / "logs" / "user").exists()
    cache = project.root.parent / "cache" / "envs"
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_env_manager_local_runs_in_batchmls_interpreter(project: EnvProject) -> None:
    project.deploy(["nosuchpkg==3.1"], PLAIN_SCRIPT)
    name = project.invoke("--set", "env_manager=local")
    job = project.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert project.rows(name) == [f"in{i}.txt {sys.prefix}" for i in range(4)]
    assert job["environment"] == {
        "manager": "local",
        "reason": "env_manager is local (the job's settings): the job runs in batchml's own "
        "interpreter",
    }
    assert not (project.root.parent / "cache" / "envs").exists()


def test_the_workspace_default_env_manager_comes_before_the_variable(
    project: EnvProject, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_ENV_MANAGER", "uv")
    (project.root / "code").mkdir()
    (project.root / "code" / "score.py").write_text(PLAIN_SCRIPT)
    (project.root / "conda.yml").write_text("dependencies:\n  - pip:\n    - nosuchpkg==3.1\n")
    deployment = {**DEPLOYMENT, "settings": {"mini_batch_size": 4}}
    (project.root / "deployment.yml").write_text(yaml.safe_dump(deployment))
    cli.ok("batch-deployment", "create", "-f", "deployment.yml", "--set-default", "-o", "none")
    shown = cli.ok("workspace", "update", "--set", "env_manager=local")
    assert shown["defaults"] == {"env_manager": "local"}

    name = project.invoke()
    job = project.wait(name)
    assert job["status"] == "Completed", job.get("error")
    assert job["environment"]["reason"].startswith("env_manager is local (the workspace's default)")


FAILING_SCRIPT = """\
def init():
    raise RuntimeError("no model here")

def run(mini_batch):
    return []
"""


def test_prune_keeps_the_environment_of_a_job_that_may_resume_not_of_a_completed_one(
    project: EnvProject,
) -> None:
    project.deploy(["tinypkg==1.0"], FAILING_SCRIPT, name="failing")
    failed = project.invoke("-d", "failing")
    project.deploy(["tinypkg==2.0"], PLAIN_SCRIPT, name="plain")
    completed = project.invoke("-d", "plain")
    jobs = {name: project.wait(name) for name in (failed, completed)}
    assert [jobs[failed]["status"], jobs[completed]["status"]] == ["Failed", "Completed"]
    for name in ("failing", "plain"):  # only the jobs are left to use the environments
        deleted = project.cli("batch-deployment", "delete", "-n", name, "-e", "env-ep", "--yes")
        assert deleted.code == 0, deleted.err

    result = project.cli.ok("environment", "prune", "--yes")
    resumable, done = (jobs[name]["environment"] for name in (failed, completed))
    assert result["kept"] == [
        {"key": resumable["key"], "path": resumable["path"], "used_by": [f"job {failed} (Failed)"]}
    ]
    assert [entry["key"] for entry in result["removed"]] == [done["key"]]
    assert Path(resumable["path"]).is_dir()
    assert not Path(done["path"]).exists()
