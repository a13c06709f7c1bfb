"""A user's project for jobs through the CLI: a workspace with the compute `cpu` and one
endpoint, a model, four input files, deployments made from a spec and a scoring script, and
jobs followed to their end (Jobs, which the fixture that makes one waits on: its runners gone).

Not a test module: test_job_environments.py, test_tracking.py, test_registry.py and
test_azure_mlflow_examples.py use it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from processes import wait_sessions_gone
from waiting import wait_for_status

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pytest
    from mlflow.tracking import MlflowClient

    from tests.conftest import Cli


def model_deployment(name: str) -> dict[str, Any]:
    """A deployment of the project's model and code/score.py on `cpu`, in batchml's interpreter
    (an image, no conda file), two files per mini-batch and no retries."""
    return {
        "name": name,
        "type": "model",
        "model": {"name": "m", "path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "score.py"},
        "environment": {"image": "python:3.11"},
        "compute": "azureml:cpu",
        "settings": {"mini_batch_size": 2, "retry_settings": {"max_retries": 0}},
    }


class Jobs:
    """A workspace's jobs, shown through the CLI until they end; the runners seen are kept for
    the fixture to wait on."""

    def __init__(self, cli: Cli, root: Path, ws: Path) -> None:
        self.cli, self.root, self.ws = cli, root, ws
        self.runners: set[int] = set()

    def show(self, name: str) -> dict[str, Any]:
        job: dict[str, Any] = self.cli.ok("job", "show", "-n", name)
        pid = json.loads((self.folder(name) / "job.json").read_text()).get("runner_pid")
        if pid:
            self.runners.add(pid)
        return job

    def wait(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        """Show job `name` until it has ended."""
        return wait_for_status(self.show, name, timeout=timeout)

    def folder(self, name: str) -> Path:
        return self.ws / "jobs" / name

    def tracking_client(self) -> MlflowClient:
        """MLflow's own client on the workspace's tracking store."""
        from mlflow.tracking import MlflowClient

        return MlflowClient(f"sqlite:///{self.ws / 'mlflow' / 'mlflow.db'}")


class Project(Jobs):
    def __init__(self, cli: Cli, root: Path, ws: Path, endpoint: str) -> None:
        super().__init__(cli, root, ws)
        self.endpoint = endpoint
        for folder in ("code", "model", "data"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "model" / "weights.txt").write_text("w")
        for index in range(4):
            (root / "data" / f"in{index}.txt").write_text(str(index))
        (root / "endpoint.yml").write_text(f"name: {endpoint}\n")
        cli.ok("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
        cli.ok("batch-endpoint", "create", "-f", root / "endpoint.yml", "-o", "none")

    def deploy(self, deployment: dict[str, Any], script: str | None = None) -> None:
        """Create `deployment` (its endpoint this project's) as the default; `script` is its
        code/score.py."""
        if script is not None:
            (self.root / "code" / "score.py").write_text(script)
        path = self.root / f"{deployment['name']}.yml"
        path.write_text(yaml.safe_dump({**deployment, "endpoint_name": self.endpoint}))
        self.cli.ok("batch-deployment", "create", "-f", path, "--set-default", "-o", "none")

    def invoke(self, *args: str | Path) -> str:
        view = self.cli.ok("batch-endpoint", "invoke", "-n", self.endpoint, "--input",
                           self.root / "data", *args)  # fmt: skip
        return str(view["name"])

    def log(self, name: str, file: str) -> str:
        """A file of the job's azureml-logs/."""
        return (self.folder(name) / "azureml-logs" / file).read_text()

    def rows(self, name: str) -> list[str]:
        output = self.ws / "datastores/workspaceblobstore/azureml" / name / "score"
        return sorted((output / "predictions.csv").read_text().splitlines())


@contextlib.contextmanager
def project_at(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> Iterator[Project]:
    """A new Project in tmp_path/project, the current folder while it lives, with endpoint
    `endpoint`; it ends with the sessions of its jobs' runners gone."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    project = Project(cli, root, ws, endpoint)
    yield project
    wait_sessions_gone(project.runners)
