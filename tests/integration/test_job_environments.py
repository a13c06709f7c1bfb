"""Jobs run in the environment their deployment declares, built by uv while the job is
Preparing, offline: from wheels made here (UV_OFFLINE, UV_FIND_LINKS), into the test's own
cache. The escape hatch, env_manager=local, runs a job in batchml's interpreter."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from processes import wait_sessions_gone
from projects import Project, project_at
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


def deploy(project: Project, pip: list[str], script: str = SCRIPT, name: str = "pinned") -> None:
    """The default deployment `name`, whose conda file pins `pip`, scoring `script`."""
    conda = {"dependencies": ["python=3.11", "pip", {"pip": pip}]}
    (project.root / "conda.yml").write_text(yaml.safe_dump(conda))
    project.deploy({**DEPLOYMENT, "name": name}, script)


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinypkg", "1.0")
    make_wheel(wheels, "tinypkg", "2.0")
    make_wheel(wheels, "PyYAML", "0.1", module="yaml")
    # The runner inherits these: uv builds from the wheels above only, with its cache here.
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    with project_at(cli, ws, tmp_path, monkeypatch, "env-ep") as env_project:
        yield env_project


def test_a_job_runs_in_its_environment_built_once_then_reused(project: Project) -> None:
    deploy(project, ["tinypkg==1.0", "PyYAML==0.1"])
    first = project.invoke()
    job = project.wait(first, BUILD_TIMEOUT)

    assert job["status"] == "Completed", job.get("error")
    environment = job["runs_in"]
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
    again = project.wait(second, BUILD_TIMEOUT)
    assert again["status"] == "Completed"
    assert again["runs_in"]["path"] == prefix
    version = environment["python_version"]
    assert f"is built (Python {version}); reusing {prefix}" in project.log(
        second, "70_driver_log.txt"
    )
    assert not (project.folder(second) / "azureml-logs" / "20_image_build_log.txt").exists()


def test_two_jobs_that_need_a_new_environment_build_it_once(project: Project) -> None:
    deploy(project, ["tinypkg==2.0"], PLAIN_SCRIPT)
    names = [project.invoke(), project.invoke()]
    jobs = [project.wait(name, BUILD_TIMEOUT) for name in names]

    assert [job["status"] for job in jobs] == ["Completed", "Completed"]
    assert jobs[0]["runs_in"]["path"] == jobs[1]["runs_in"]["path"]
    logs = [project.folder(name) / "azureml-logs" / "20_image_build_log.txt" for name in names]
    venvs = sum(log.read_text().count(" venv ") for log in logs if log.exists())
    assert venvs == 1
    environments = [p for p in (project.root.parent / "cache" / "envs").iterdir()]
    assert [p.name for p in environments if not p.name.startswith(".")] == [
        Path(jobs[0]["runs_in"]["path"]).name
    ]


def test_a_requirement_that_cannot_be_installed_fails_the_job_naming_it(
    project: Project,
) -> None:
    deploy(project, ["tinypkg==1.0", "nosuchpkg==3.1"], PLAIN_SCRIPT)
    name = project.invoke()
    job = project.wait(name, BUILD_TIMEOUT)

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


def test_env_manager_local_runs_in_batchmls_interpreter(project: Project) -> None:
    deploy(project, ["nosuchpkg==3.1"], PLAIN_SCRIPT)
    name = project.invoke("--set", "env_manager=local")
    job = project.wait(name, BUILD_TIMEOUT)

    assert job["status"] == "Completed", job.get("error")
    assert project.rows(name) == [f"in{i}.txt {sys.prefix}" for i in range(4)]
    assert job["runs_in"] == {
        "manager": "local",
        "reason": "env_manager is local (the job's settings), so it runs in batchml's own "
        "interpreter",
    }
    assert not (project.root.parent / "cache" / "envs").exists()


def test_the_workspace_default_env_manager_comes_before_the_variable(
    project: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_ENV_MANAGER", "uv")
    (project.root / "conda.yml").write_text("dependencies:\n  - pip:\n    - nosuchpkg==3.1\n")
    project.deploy({**DEPLOYMENT, "settings": {"mini_batch_size": 4}}, PLAIN_SCRIPT)
    shown = cli.ok("workspace", "update", "--set", "env_manager=local")
    assert shown["defaults"] == {"env_manager": "local"}

    name = project.invoke()
    job = project.wait(name, BUILD_TIMEOUT)
    assert job["status"] == "Completed", job.get("error")
    assert job["runs_in"]["reason"].startswith("env_manager is local (the workspace's default)")


def step(name: str, conda: str, needs: str | None) -> dict[str, Any]:
    """A command component that writes the tinypkg version its python sees, and the
    interpreter's prefix, to its output (after reading the step before's, if any)."""
    command = (
        "python -c 'import sys, tinypkg; print(tinypkg.__version__, sys.prefix)' "
        "> ${{outputs.out}}/version.txt"
    )
    component: dict[str, Any] = {
        "name": name,
        "type": "command",
        "outputs": {"out": {"type": "uri_folder"}},
        "environment": {"image": "python:3.11", "conda_file": conda},
        "command": command,
    }
    if needs:
        component["inputs"] = {"before": {"type": "uri_folder"}}
        component["command"] = "test -s ${{inputs.before}}/version.txt && " + command
    return component


def test_each_pipeline_step_runs_in_its_components_environment(
    project: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_ENV_MANAGER", "uv")
    root = project.root
    for version in ("1.0", "2.0"):
        conda = {"dependencies": [{"pip": [f"tinypkg=={version}"]}]}
        (root / f"conda-{version}.yml").write_text(yaml.safe_dump(conda))
    (root / "one.yml").write_text(yaml.safe_dump(step("one", "conda-1.0.yml", None)))
    (root / "two.yml").write_text(yaml.safe_dump(step("two", "conda-2.0.yml", "one")))
    job = {
        "type": "pipeline",
        "display_name": "two-environments",
        "settings": {"default_compute": "azureml:cpu"},
        "jobs": {
            "first": {"type": "command", "component": "one.yml"},
            "second": {
                "type": "command",
                "component": "two.yml",
                "inputs": {"before": "${{parent.jobs.first.outputs.out}}"},
            },
        },
    }
    (root / "pipeline-job.yml").write_text(yaml.safe_dump(job))
    name = cli.ok("job", "create", "-f", "pipeline-job.yml")["name"]
    shown = project.wait(name, BUILD_TIMEOUT)

    assert shown["status"] == "Completed", shown.get("error")
    seen = {}
    for step_name in ("first", "second"):
        child = cli.ok("job", "show", "-n", f"{name}-{step_name}")
        output = project.ws / "datastores/workspaceblobstore/azureml" / child["name"] / "out"
        version, prefix = (output / "version.txt").read_text().split()
        assert prefix == child["runs_in"]["path"]
        seen[step_name] = version
    assert seen == {"first": "1.0", "second": "2.0"}


def test_a_no_code_mlflow_deployment_runs_in_its_models_requirements(
    project: Project, cli: Cli
) -> None:
    """The model's requirements.txt decides (there is no conda file here to build from); with
    no mlflow among them, the MLflow scorer's init() cannot import it: proof that the workers
    see that environment and not batchml's, where mlflow is installed."""
    model = project.root / "mlflow-model"
    model.mkdir()
    flavor = {"loader_module": "mlflow.sklearn", "python_version": "3.11"}
    (model / "MLmodel").write_text(yaml.safe_dump({"flavors": {"python_function": flavor}}))
    (model / "requirements.txt").write_text("tinypkg==1.0\n")
    cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", model, "-o", "none")
    deployment = {
        "name": "no-code",
        "type": "model",
        "model": "azureml:tree@latest",
        "compute": "azureml:cpu",
        "settings": {"mini_batch_size": 4, "env_manager": "uv"},
    }
    project.deploy(deployment)
    name = project.invoke()
    job = project.wait(name, BUILD_TIMEOUT)

    runs_in = job["runs_in"]
    assert runs_in["source"].startswith("the MLflow model's /")
    assert runs_in["source"].endswith("/requirements.txt")
    assert runs_in["packages"] == ["tinypkg==1.0"]
    assert project.log(name, "20_image_build_packages.txt") == "tinypkg==1.0\n"
    assert job["status"] == "Failed"
    assert "No module named 'mlflow'" in job["error"]["message"]


FAILING_SCRIPT = """\
def init():
    raise RuntimeError("no model here")

def run(mini_batch):
    return []
"""


def test_prune_keeps_the_environment_of_a_job_that_may_resume_not_of_a_completed_one(
    project: Project,
) -> None:
    deploy(project, ["tinypkg==1.0"], FAILING_SCRIPT, name="failing")
    failed = project.invoke("-d", "failing")
    deploy(project, ["tinypkg==2.0"], PLAIN_SCRIPT, name="plain")
    completed = project.invoke("-d", "plain")
    jobs = {name: project.wait(name, BUILD_TIMEOUT) for name in (failed, completed)}
    assert [jobs[failed]["status"], jobs[completed]["status"]] == ["Failed", "Completed"]
    for name in ("failing", "plain"):  # only the jobs are left to use the environments
        deleted = project.cli("batch-deployment", "delete", "-n", name, "-e", "env-ep", "--yes")
        assert deleted.code == 0, deleted.err
    # A runner records its job's end before it ends, and holds its environment till then.
    wait_sessions_gone(project.runners)

    result = project.cli.ok("environment", "prune", "--yes")
    resumable, done = (jobs[name]["runs_in"] for name in (failed, completed))
    assert result["kept"] == [
        {"key": resumable["key"], "path": resumable["path"], "used_by": [f"job {failed} (Failed)"]}
    ]
    assert [entry["key"] for entry in result["removed"]] == [done["key"]]
    assert Path(resumable["path"]).is_dir()
    assert not Path(done["path"]).exists()
