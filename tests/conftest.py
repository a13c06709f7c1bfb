"""Shared fixtures: an isolated environment, a tmp workspace, a sample project, and a CLI driver.

Every test runs with BATCHML_CONFIG_DIR and BATCHML_CACHE_DIR in its tmp folder (never the real
~/.batchml, never the user's cache of built environments), jobs in batchml's own interpreter
(BATCHML_ENV_MANAGER=local: tests are offline; those of built environments set env_manager=uv and
build from wheels of their own) and untracked (BATCHML_TRACKING=off: importing MLflow costs each
runner seconds; the tracking tests turn it on), no BATCHML_WORKSPACE unless a fixture sets it, the current directory in a fresh tmp folder, and a fixed user name, so that outputs are
the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batchml.cli.app import run

USER = "tester"
ARM_PREFIX = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
    "Microsoft.MachineLearningServices/workspaces/"
)
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

ENDPOINT_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json
name: mnist-batch
description: A batch endpoint for MNIST
tags:
  team: vision
"""

DEPLOYMENT_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: mnist-torch
endpoint_name: mnist-batch
type: model
description: Scores MNIST digits
model:
  name: mnist-classifier
  path: model
code_configuration:
  code: code
  scoring_script: score.py
environment:
  image: python:3.11
  conda_file: conda.yml
compute: azureml:cpu-cluster
resources:
  instance_count: 2
settings:
  max_concurrency_per_instance: 2
  mini_batch_size: 10
  output_action: append_row
  output_file_name: predictions.csv
  retry_settings:
    max_retries: 3
    timeout: 300
  error_threshold: -1
  logging_level: info
  environment_variables:
    DIGITS: 10
"""

LEGACY_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json
name: mnist-legacy
endpoint_name: mnist-batch
model: azureml:mnist@latest
code_configuration:
  code: code
  scoring_script: score.py
environment: azureml:torch-env:1
compute: azureml:cpu-cluster
resources:
  instance_count: 1
max_concurrency_per_instance: 3
mini_batch_size: 5
output_action: summary_only
retry_settings:
  max_retries: 1
  timeout: 60
error_threshold: 4
logging_level: DEBUG
"""

SCORE_PY = """\
def init():
    pass


def run(mini_batch):
    return [f"{path},0" for path in mini_batch]
"""


@dataclass
class Result:
    """What one CLI run produced."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs `batchml.cli.app.run(argv)` in-process and captures stdout and stderr apart."""

    def __init__(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        self._capsys = capsys
        self.tmp = tmp_path

    def __call__(self, *args: str | Path) -> Result:
        self._capsys.readouterr()
        code = run([str(arg) for arg in args])
        out, err = self._capsys.readouterr()
        return Result(code, out, err)

    def ok(self, *args: str | Path) -> Any:
        """Run a command that must succeed silently on stderr; its stdout parsed as JSON."""
        result = self(*args)
        assert (result.code, result.err) == (0, ""), result.err
        return result.json() if result.out else None

    def mask(self, data: Any) -> Any:
        """`data` with the tmp folder shown as <tmp> and timestamps as <time>."""
        text = json.dumps(data).replace(str(self.tmp), "<tmp>")
        return json.loads(_TIMESTAMP.sub("<time>", text))

    def masked_text(self, text: str) -> str:
        return _TIMESTAMP.sub("<time>", text.replace(str(self.tmp), "<tmp>"))


@dataclass
class Project:
    """A user's project folder: YAML files, a code folder, a model folder and a conda file."""

    root: Path

    @property
    def endpoint_yml(self) -> Path:
        return self.root / "endpoint.yml"

    @property
    def deployment_yml(self) -> Path:
        return self.root / "deployment.yml"

    @property
    def legacy_yml(self) -> Path:
        return self.root / "legacy.yml"

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a hash of its bytes (folders: "dir")."""
    digest: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        digest[relative] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHML_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BATCHML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BATCHML_ENV_MANAGER", "local")
    monkeypatch.setenv("BATCHML_TRACKING", "off")
    monkeypatch.delenv("BATCHML_WORKSPACE", raising=False)
    monkeypatch.delenv("BATCHML_LOCK_TIMEOUT", raising=False)
    monkeypatch.setenv("LOGNAME", USER)  # getpass.getuser() reads LOGNAME first
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return Cli(capsys, tmp_path)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace folder every command uses (through BATCHML_WORKSPACE); not yet created."""
    path = tmp_path / "ws"
    monkeypatch.setenv("BATCHML_WORKSPACE", str(path))
    return path


@pytest.fixture
def digest() -> Callable[[Path], dict[str, str]]:
    """`tree_digest`, to compare a workspace before and after a failed command."""
    return tree_digest


@pytest.fixture
def arm() -> str:
    """The ARM id prefix of the `ws` workspace."""
    return ARM_PREFIX + "ws"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "project")
    project.write("endpoint.yml", ENDPOINT_YML)
    project.write("deployment.yml", DEPLOYMENT_YML)
    project.write("legacy.yml", LEGACY_YML)
    project.write("code/score.py", SCORE_PY)
    project.write("code/helpers/util.py", "VALUE = 1\n")
    project.write("model/weights.txt", "w=1\n")
    project.write("conda.yml", "dependencies:\n  - python=3.11\n")
    return project


@pytest.fixture
def ready(cli: Cli, ws: Path, project: Project) -> Project:
    """A workspace with the compute `cpu-cluster` and the endpoint `mnist-batch`."""
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    cli.ok("batch-endpoint", "create", "-f", project.endpoint_yml)
    return project


@pytest.fixture
def deployed(cli: Cli, ready: Project) -> Project:
    """`ready`, plus the deployment `mnist-torch` (deployment.yml), not the default."""
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml)
    return ready
