"""MLflow models: `model create --type mlflow_model` and no-code deployments, without a job.

The MLmodel files here are written by hand; real MLflow models are in
tests/integration/test_mlflow.py.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Cli, Project

MLMODEL = """\
flavors:
  python_function:
    env:
      conda: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.7
  sklearn:
    pickled_model: model.pkl
mlflow_version: 2.12.0
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}, {"type": "long", "name": "n", "required": true}]'
  outputs: '[{"type": "boolean", "required": true}]'
  params: null
"""

NO_CODE_YML = """\
name: tree-mlflow
endpoint_name: mnist-batch
type: model
model: {model}
compute: azureml:cpu-cluster
"""


@pytest.fixture
def mlflow_model(project: Project) -> Path:
    project.write("tree/MLmodel", MLMODEL)
    project.write("tree/model.pkl", "pickle")
    return project.root / "tree"


def test_model_create_records_flavors_and_signature(cli: Cli, ws: Path, mlflow_model: Path) -> None:
    view = cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", mlflow_model)
    assert view["flavors"] == {
        "python_function": {
            "env": {"conda": "conda.yaml"},
            "loader_module": "mlflow.sklearn",
            "model_path": "model.pkl",
            "python_version": "3.11.7",
        },
        "sklearn": {"pickled_model": "model.pkl"},
    }
    assert view["signature"] == {
        "inputs": [
            {"type": "double", "name": "x", "required": True},
            {"type": "long", "name": "n", "required": True},
        ],
        "outputs": [{"type": "boolean", "required": True}],
        "params": None,
    }
    assert cli.ok("model", "show", "-n", "tree", "-l", "latest") == view


def test_a_model_without_a_signature(cli: Cli, ws: Path, project: Project) -> None:
    project.write("bare/MLmodel", "flavors:\n  python_function:\n    loader_module: m\n")
    view = cli.ok(
        "model", "create", "-n", "bare", "-t", "mlflow_model", "-p", project.root / "bare"
    )
    assert (view["flavors"], view["signature"]) == (
        {"python_function": {"loader_module": "m"}},
        None,
    )


def test_a_custom_model_shows_no_signature(cli: Cli, ws: Path, mlflow_model: Path) -> None:
    view = cli.ok("model", "create", "-n", "tree", "-p", mlflow_model)
    assert (view["type"], view["flavors"]) == ("custom_model", {})
    assert "signature" not in view


@pytest.mark.parametrize(
    ("mlmodel", "problem"),
    [
        (
            "flavors:\n  sklearn: {}\n  onnx: {}\n",
            "has no python_function flavor (flavors: sklearn, onnx)",
        ),
        ("flavors: {}\n", "has no python_function flavor (flavors: none)"),
        ("mlflow_version: 2.0\n", "has no python_function flavor (flavors: none)"),
    ],
)
def test_model_create_needs_the_pyfunc_flavor(
    cli: Cli, ws: Path, project: Project, mlmodel: str, problem: str
) -> None:
    path = project.write("tree/MLmodel", mlmodel)
    result = cli("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", path.parent)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: command line: path: type is mlflow_model but {path} {problem}; batch deployments "
        "load MLflow models with the pyfunc loader, so save the model with a flavor that adds it "
        "(e.g. mlflow.sklearn.save_model) or deploy it with a scoring script as a custom_model\n"
    )
    assert not ws.exists()


def test_model_create_reports_an_unreadable_mlmodel(cli: Cli, ws: Path, project: Project) -> None:
    path = project.write("tree/MLmodel", "flavors: [\n")
    result = cli("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", path.parent)
    assert (result.code, result.out) == (4, "")
    assert result.err.startswith(
        f"ERROR: command line: path: type is mlflow_model but cannot read {path}: "
    )


def test_a_no_code_deployment_needs_no_code_and_no_environment(
    cli: Cli, ready: Project, mlflow_model: Path
) -> None:
    cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", mlflow_model)
    path = ready.write("mlflow.yml", NO_CODE_YML.format(model="azureml:tree@latest"))
    view = cli.ok("batch-deployment", "create", "-f", path)
    assert (view["code_configuration"], view["environment"]) == (None, None)
    assert view["model"].endswith("/models/tree/versions/1")


def test_without_mlflow_a_no_code_deployment_says_what_to_install(
    cli: Cli, ready: Project, ws: Path, mlflow_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", mlflow_model)
    # None in sys.modules: `import mlflow` fails, and find_spec() says it is not installed.
    monkeypatch.setitem(sys.modules, "mlflow", None)
    path = ready.write("mlflow.yml", NO_CODE_YML.format(model="azureml:tree@latest"))
    result = cli("batch-deployment", "create", "-f", path)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {path}:4: model: the model is an MLflow model and the deployment gives no "
        "scoring script, so batchml scores it with MLflow, which is not installed; install it "
        "with: pip install 'batchml[mlflow]' (or pip install mlflow-skinny)\n"
    )
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()


def test_without_mlflow_a_scoring_script_on_an_mlflow_model_deploys(
    cli: Cli, ready: Project, mlflow_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", mlflow_model)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    spec = NO_CODE_YML.format(model="azureml:tree@latest") + (
        "code_configuration: {code: code, scoring_script: score.py}\n"
        "environment: {image: python:3.11}\n"
    )
    view = cli.ok("batch-deployment", "create", "-f", ready.write("custom.yml", spec))
    assert view["code_configuration"]["scoring_script"] == "score.py"


def test_an_inline_mlflow_model_needs_the_pyfunc_flavor(cli: Cli, ready: Project, ws: Path) -> None:
    ready.write("onnx/MLmodel", "flavors:\n  onnx: {}\n")
    path = ready.write("mlflow.yml", NO_CODE_YML.format(model="{path: onnx, type: mlflow_model}"))
    result = cli("batch-deployment", "create", "-f", path)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {path}:4: model: {ready.root}/onnx/MLmodel has no python_function flavor "
        "(flavors: onnx); batch deployments load MLflow models with the pyfunc loader, so save "
        "the model with a flavor that adds it (e.g. mlflow.sklearn.save_model) or deploy it "
        "with a scoring script as a custom_model\n"
    )
