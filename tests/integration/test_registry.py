"""One registry (batchml.mlflow.registry): a model a job registers with MLflow is a batchml
model, and an MLflow model created with batchml is an MLflow registered model version, each
MLflow version tagged with the batchml version it is. Read back with MLflow's own client."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from projects import Project, project_at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(m) is None
            for m in ("mlflow", "sqlalchemy", "alembic", "sklearn")
        ),
        reason="needs the mlflow extra and scikit-learn",
    ),
]

# Registers a tiny scikit-learn model as `tiny`, once (the job has one file), outside any
# `mlflow.start_run()`: MLflow 3 then registers a version of no run.
SCRIPT = """\
import mlflow.sklearn
from sklearn.dummy import DummyClassifier


def init():
    pass


def run(mini_batch):
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    mlflow.sklearn.log_model(
        model,
        name="model",
        registered_model_name="tiny",
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )
    return mini_batch
"""

# A pipeline step that registers `stepped` from inside the step's run.
STEP_COMMAND = (
    "python -c 'import mlflow.sklearn; from sklearn.dummy import DummyClassifier; "
    "mlflow.start_run(); "
    'mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name="model", '
    'registered_model_name="stepped", serialization_format="cloudpickle", '
    'pip_requirements=["scikit-learn"])\' && '
    "touch ${{outputs.out}}/done"
)

# Enough of an MLflow model for `model create --type mlflow_model` (nothing loads it here).
MLMODEL = "flavors:\n  python_function:\n    loader_module: echo\n"


def mlflow_model(project: Project, folder: str) -> Path:
    """An MLflow model folder in the project (MLMODEL)."""
    path = project.root / folder
    path.mkdir()
    (path / "MLmodel").write_text(MLMODEL)
    return path


@pytest.fixture
def registry(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    monkeypatch.delenv("BATCHML_TRACKING")
    with project_at(cli, ws, tmp_path, monkeypatch, "reg-ep") as project:
        yield project


def test_a_model_a_scoring_script_registers_is_a_batchml_model_to_deploy(
    registry: Project, cli: Cli
) -> None:
    ws = registry.ws
    deployment = {
        "name": "scripted",
        "type": "model",
        "model": {"name": "m", "path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "score.py"},
        "environment": {"image": "python:3.11"},
        "compute": "azureml:cpu",
        "settings": {"max_concurrency_per_instance": 1},
    }
    registry.deploy(deployment, SCRIPT)
    name = registry.invoke()
    job = registry.wait(name, 150)

    assert job["status"] == "Completed", job.get("error")
    assert cli.ok("model", "list", "--query", "[].[name, version, type]") == [
        ["tiny", "1", "mlflow_model"]
    ]
    shown = cli.ok("model", "show", "-n", "tiny", "-v", "1")
    assert shown["path"] == str(ws / "models" / "tiny" / "1" / "files" / "model")
    assert (Path(shown["path"]) / "MLmodel").is_file()
    assert sorted(shown["flavors"]) == ["python_function", "sklearn"]
    assert shown["properties"] == {"mlflow.model_version": "1"}
    client = registry.tracking_client()
    assert client.get_model_version("tiny", "1").tags == {"batchml.version": "1"}
    log = (ws / "jobs" / name / "azureml-logs" / "70_driver_log.txt").read_text()
    said = [line.split(" ", 2)[2] for line in log.splitlines() if "registered by" in line]
    assert said == [
        "MLflow model tiny version 1 registered by the job: batchml model azureml:tiny:1"
    ]

    no_code = {
        "name": "no-code",
        "endpoint_name": "reg-ep",
        "type": "model",
        "model": "azureml:tiny@latest",
        "compute": "azureml:cpu",
    }
    (registry.root / "no-code.yml").write_text(yaml.safe_dump(no_code))
    created = cli.ok("batch-deployment", "create", "-f", "no-code.yml")
    assert created["model"].endswith("/models/tiny/versions/1")

    # The next version, made with batchml, is MLflow's version 2 too.
    cli.ok(
        "model", "create", "-n", "tiny", "-t", "mlflow_model", "-p", mlflow_model(registry, "m2")
    )
    (second,) = client.search_model_versions("name = 'tiny' and version_number = 2")
    assert (second.source, second.tags) == (
        str(ws / "models" / "tiny" / "2" / "files" / "m2"),
        {"batchml.version": "2"},
    )


def test_a_model_created_with_batchml_is_an_mlflow_registered_model(
    registry: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = mlflow_model(registry, "made")
    ws = registry.ws
    monkeypatch.setenv("BATCHML_TRACKING", "off")
    cli.ok("model", "create", "-n", "made", "-t", "mlflow_model", "-p", model, "-o", "none")
    assert not (ws / "mlflow").exists()
    monkeypatch.delenv("BATCHML_TRACKING")
    cli.ok("model", "create", "-n", "made", "-t", "mlflow_model", "-p", model, "--tags", "a=b")
    cli.ok("model", "create", "-n", "plain", "-p", model, "-o", "none")  # custom: not MLflow's

    client = registry.tracking_client()
    assert [m.name for m in client.search_registered_models()] == ["made"]
    assert client.get_registered_model("made").name == "made"
    versions = sorted(client.search_model_versions("name = 'made'"), key=lambda v: int(v.version))
    # The version made while tracking was off is registered too, first.
    assert [(str(v.version), v.source, v.tags) for v in versions] == [
        ("1", str(ws / "models" / "made" / "1" / "files" / "made"), {"batchml.version": "1"}),
        (
            "2",
            str(ws / "models" / "made" / "2" / "files" / "made"),
            {"a": "b", "batchml.version": "2"},
        ),
    ]


def test_a_store_that_cannot_be_opened_warns_and_the_model_is_created(
    registry: Project, cli: Cli
) -> None:
    (registry.ws / "mlflow").write_text("not a folder")
    result = cli(
        "model", "create", "-n", "made", "-t", "mlflow_model", "-p", mlflow_model(registry, "made")
    )

    assert result.code == 0
    assert result.json()["version"] == "1"
    (warning,) = result.err.splitlines()
    assert warning.startswith(
        "WARNING: MLflow tracking: registering model made version 1 in MLflow's registry failed ("
    )
    assert warning.endswith(
        "; the version is batchml's only until the next mlflow_model create of this name"
    )


def test_a_model_a_pipeline_step_registers_is_a_batchml_model(registry: Project, cli: Cli) -> None:
    root = registry.root
    component = {
        "name": "register",
        "type": "command",
        "outputs": {"out": {"type": "uri_folder"}},
        "environment": "azureml:AzureML-sklearn-1.5@latest",
        "command": STEP_COMMAND,
    }
    (root / "register.yml").write_text(yaml.safe_dump(component))
    job = {
        "type": "pipeline",
        "settings": {"default_compute": "azureml:cpu"},
        "jobs": {"train": {"type": "command", "component": "register.yml"}},
    }
    (root / "pipeline-job.yml").write_text(yaml.safe_dump(job))
    name = cli.ok("job", "create", "-f", "pipeline-job.yml")["name"]
    shown = registry.wait(name, 150)

    assert shown["status"] == "Completed", shown.get("error")
    step_run = cli.ok("job", "show", "-n", f"{name}-train")["services"]["Tracking"]["run_id"]
    model = cli.ok("model", "show", "-n", "stepped")
    assert (model["version"], model["type"]) == ("1", "mlflow_model")
    assert model["properties"] == {"mlflow.model_version": "1", "mlflow.run_id": step_run}
    assert registry.tracking_client().get_model_version("stepped", "1").tags == {
        "batchml.version": "1"
    }
    log = (registry.ws / "jobs" / name / "logs" / "azureml" / "executionlogs.txt").read_text()
    assert log.count("MLflow model stepped version 1 registered by the job") == 1


# A notebook's cell, run with MLFLOW_TRACKING_URI set to the workspace's store: `notebook`
# version 1 logged in a run (of MLflow's Default experiment), version 2 outside any run.
NOTEBOOK = """\
import mlflow
import mlflow.sklearn
from sklearn.dummy import DummyClassifier

def log():
    mlflow.sklearn.log_model(
        DummyClassifier().fit([[0], [1]], [0, 1]),
        name="model",
        registered_model_name="notebook",
        serialization_format="cloudpickle",
        pip_requirements=["scikit-learn"],
    )

with mlflow.start_run() as run:
    log()
print(run.info.run_id)
log()
"""


def test_model_sync_imports_what_a_notebook_registered_and_registers_what_mlflow_lacks(
    registry: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = registry.ws
    monkeypatch.setenv("BATCHML_TRACKING", "off")
    cli.ok("model", "create", "-n", "offline", "-t", "mlflow_model", "-p",
           mlflow_model(registry, "offline"), "-o", "none")  # fmt: skip
    monkeypatch.delenv("BATCHML_TRACKING")
    assert cli.ok("model", "sync") == {
        "imported": [],
        "registered": [{"name": "offline", "version": "1", "mlflow_version": "1"}],
    }
    client = registry.tracking_client()
    # The store batchml made keeps the Default experiment's artifacts in the workspace.
    assert client.get_experiment("0").artifact_location == (ws / "mlflow/artifacts/0").as_uri()

    uri = f"sqlite:///{ws / 'mlflow' / 'mlflow.db'}"
    notebook = subprocess.run(
        [sys.executable, "-c", NOTEBOOK],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    run_id = notebook.stdout.split()[-1]
    synced = cli.ok("model", "sync", "-n", "notebook")

    assert synced == {
        "imported": [
            {"name": "notebook", "version": "1", "mlflow_version": "1"},
            {"name": "notebook", "version": "2", "mlflow_version": "2"},
        ],
        "registered": [],
    }
    assert cli.ok("model", "list", "--query", "[].[name, version, type]") == [
        ["notebook", "2", "mlflow_model"],
        ["offline", "1", "mlflow_model"],
    ]
    first = cli.ok("model", "show", "-n", "notebook", "-v", "1")
    assert first["properties"] == {"mlflow.model_version": "1", "mlflow.run_id": run_id}
    assert (Path(first["path"]) / "MLmodel").is_file()
    assert [client.get_model_version("notebook", v).tags for v in ("1", "2")] == [
        {"batchml.version": "1"},
        {"batchml.version": "2"},
    ]
    assert cli.ok("model", "sync") == {"imported": [], "registered": []}
    assert not (registry.root / "mlruns").exists()
