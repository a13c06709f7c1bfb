"""Jobs are MLflow runs in the workspace's tracking store, read back here with MLflow's own
client: the run named after the job in its experiment, its status, batchml's counts and what
the scoring script or a pipeline step logged; steps are child runs of their pipeline's."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from projects import Project, model_deployment, project_at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("mlflow", "sqlalchemy", "alembic")),
        reason="needs the mlflow extra",
    ),
]

SCRIPT = """\
import os
import mlflow

def init():
    if os.environ.get("FAIL_INIT"):
        raise RuntimeError("init failed on purpose")
    mlflow.set_tag("scored_by", "score.py")

def run(mini_batch):
    mlflow.log_metric("batch_size", len(mini_batch))
    return [os.path.basename(path) for path in mini_batch]
"""


DEPLOYMENT = model_deployment("dep")


@pytest.fixture
def tracked(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    monkeypatch.delenv("BATCHML_TRACKING")
    with project_at(cli, ws, tmp_path, monkeypatch, "track-ep") as project:
        project.deploy(DEPLOYMENT, SCRIPT)
        yield project


def test_a_job_is_a_run_with_its_counts_and_what_the_script_logged(tracked: Project) -> None:
    name = tracked.invoke()
    job = tracked.wait(name)

    assert job["status"] == "Completed", job.get("error")
    service = job["services"]["Tracking"]
    assert service["endpoint"] == f"sqlite:///{tracked.ws / 'mlflow' / 'mlflow.db'}"
    client = tracked.tracking_client()
    run = client.get_run(service["run_id"])
    assert (run.info.run_name, run.info.status) == (name, "FINISHED")
    assert client.get_experiment(run.info.experiment_id).name == "track-ep"
    metrics = run.data.metrics
    assert {k: metrics[k] for k in ("files_total", "files_succeeded", "mini_batches_failed")} == {
        "files_total": 4.0,
        "files_succeeded": 4.0,
        "mini_batches_failed": 0.0,
    }
    assert metrics["duration_seconds"] > 0
    # The script's calls, in its workers, went to the job's run.
    assert run.data.tags["scored_by"] == "score.py"
    history = client.get_metric_history(run.info.run_id, "batch_size")
    assert [m.value for m in history] == [2.0, 2.0]
    log = tracked.log(name, "70_driver_log.txt")
    assert f"MLflow run {run.info.run_id} in experiment track-ep" in log
    assert "database tables" not in log  # the new store's migrations say nothing


def test_a_failed_job_is_a_failed_run_in_the_experiment_it_names(tracked: Project) -> None:
    name = tracked.invoke(
        "--experiment-name", "nightly", "--set", "environment_variables.FAIL_INIT=1"
    )
    job = tracked.wait(name)

    assert job["status"] == "Failed"
    client = tracked.tracking_client()
    run = client.get_run(job["services"]["Tracking"]["run_id"])
    assert run.info.status == "FAILED"
    assert client.get_experiment(run.info.experiment_id).name == "nightly"


def test_tracking_off_says_so_once_and_skips_mlflow(
    tracked: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHML_TRACKING", "off")
    name = tracked.invoke()
    job = tracked.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert "run_id" not in job["services"]["Tracking"]
    said = [
        line for line in tracked.log(name, "70_driver_log.txt").splitlines() if "MLflow" in line
    ]
    assert [line.split(" ", 2)[2] for line in said] == [
        "MLflow tracking is off (BATCHML_TRACKING=off)"
    ]
    assert not (tracked.ws / "mlflow").exists()


def test_a_store_that_cannot_be_opened_leaves_the_job_untracked(tracked: Project) -> None:
    (tracked.ws / "mlflow").write_text("not a folder")
    name = tracked.invoke()
    job = tracked.wait(name)

    assert job["status"] == "Completed", job.get("error")
    assert "run_id" not in job["services"]["Tracking"]
    said = [
        line
        for line in tracked.log(name, "70_driver_log.txt").splitlines()
        if "MLflow tracking" in line
    ]
    assert len(said) == 1
    assert said[0].endswith("; the job goes on")


def step(name: str, metric: str) -> dict[str, Any]:
    command = (
        f"python -c 'import mlflow; mlflow.log_metric(\"{metric}\", 1)' && "
        "touch ${{outputs.out}}/done"
    )
    return {
        "name": name,
        "type": "command",
        "outputs": {"out": {"type": "uri_folder"}},
        "environment": "azureml:AzureML-sklearn-1.5@latest",
        "command": command,
    }


def test_pipeline_steps_are_child_runs_of_the_pipelines_run(tracked: Project, cli: Cli) -> None:
    root = tracked.root
    (root / "one.yml").write_text(yaml.safe_dump(step("one", "first_metric")))
    (root / "two.yml").write_text(yaml.safe_dump(step("two", "second_metric")))
    job = {
        "type": "pipeline",
        "experiment_name": "pipelines",
        "settings": {"default_compute": "azureml:cpu"},
        "jobs": {
            "first": {"type": "command", "component": "one.yml"},
            "second": {"type": "command", "component": "two.yml"},
        },
    }
    (root / "pipeline-job.yml").write_text(yaml.safe_dump(job))
    name = cli.ok("job", "create", "-f", "pipeline-job.yml")["name"]
    shown = tracked.wait(name)

    assert shown["status"] == "Completed", shown.get("error")
    client = tracked.tracking_client()
    parent = client.get_run(shown["services"]["Tracking"]["run_id"])
    assert (parent.info.run_name, parent.info.status) == (name, "FINISHED")
    assert client.get_experiment(parent.info.experiment_id).name == "pipelines"
    for step_name, metric in (("first", "first_metric"), ("second", "second_metric")):
        child_job = cli.ok("job", "show", "-n", f"{name}-{step_name}")
        child = client.get_run(child_job["services"]["Tracking"]["run_id"])
        assert child.info.run_name == f"{name}-{step_name}"
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.metrics[metric] == 1.0
