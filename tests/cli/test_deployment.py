"""`batchml batch-deployment create|update|show|list|delete|list-jobs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Cli, Project

DEPLOYMENTS = "<tmp>/ws/endpoints/mnist-batch/deployments"


def deployment_view(arm: str, **changes: Any) -> dict[str, Any]:
    """What `show` prints for deployment.yml, with paths and times masked."""
    folder = f"{DEPLOYMENTS}/mnist-torch"
    view = {
        "code_configuration": {"code": f"{folder}/code/code", "scoring_script": "score.py"},
        "compute": f"{arm}/computes/cpu-cluster",
        "creation_context": {
            "created_at": "<time>",
            "created_by": "tester",
            "created_by_type": "User",
            "last_modified_at": "<time>",
            "last_modified_by": "tester",
            "last_modified_by_type": "User",
        },
        "description": "Scores MNIST digits",
        "endpoint_name": "mnist-batch",
        "environment": {
            "conda_file": f"{folder}/environment/conda.yml",
            "image": "python:3.11",
        },
        "environment_variables": {"DIGITS": "10"},
        "error_threshold": -1,
        "id": f"{arm}/batchEndpoints/mnist-batch/deployments/mnist-torch",
        "logging_level": "Info",
        "max_concurrency_per_instance": 2,
        "mini_batch_size": 10,
        "model": f"{folder}/model",
        "name": "mnist-torch",
        "output_action": "append_row",
        "output_file_name": "predictions.csv",
        "properties": {},
        "provisioning_state": "Succeeded",
        "resources": {"instance_count": 2, "properties": {}},
        "retry_settings": {"max_retries": 3, "timeout": 300},
        "tags": {},
        "type": "model",
    }
    view.update(changes)
    return view


def default_of(cli: Cli) -> Any:
    return cli.ok("batch-endpoint", "show", "-n", "mnist-batch", "--query", "defaults")


def state_of(ws: Path, name: str = "mnist-torch") -> dict[str, Any]:
    path = ws / "endpoints" / "mnist-batch" / "deployments" / name / "deployment.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def register_model(cli: Cli, project: Project) -> None:
    cli.ok("model", "create", "--name", "mnist", "--path", project.root / "model")


# create: the type: model form


def test_create_prints_the_flat_azure_shape(cli: Cli, ready: Project, arm: str) -> None:
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml)
    assert (result.code, result.err) == (0, "")
    assert cli.mask(result.json()) == deployment_view(arm)
    shown = cli.ok("batch-deployment", "show", "-n", "mnist-torch", "-e", "mnist-batch")
    assert cli.mask(shown) == deployment_view(arm)
    assert default_of(cli) == {"deployment_name": None}


def test_create_stores_the_type_model_spec_and_snapshots(
    cli: Cli, ready: Project, ws: Path
) -> None:
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml)
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "code/code/helpers/util.py",
        "code/code/score.py",
        "deployment.json",
        "environment/conda.yml",
        "model/model/weights.txt",
    ]
    spec = cli.mask(state_of(ws)["spec"])
    assert spec == {
        "code_configuration": {
            "code": f"{DEPLOYMENTS}/mnist-torch/code/code",
            "scoring_script": "score.py",
        },
        "compute": "azureml:cpu-cluster",
        "description": "Scores MNIST digits",
        "endpoint_name": "mnist-batch",
        "environment": {
            "conda_file": f"{DEPLOYMENTS}/mnist-torch/environment/conda.yml",
            "image": "python:3.11",
        },
        "model": {"name": "mnist-classifier", "path": f"{DEPLOYMENTS}/mnist-torch/model/model"},
        "name": "mnist-torch",
        "resources": {"instance_count": 2},
        "settings": {
            "environment_variables": {"DIGITS": 10},
            "error_threshold": -1,
            "logging_level": "info",
            "max_concurrency_per_instance": 2,
            "mini_batch_size": 10,
            "output_action": "append_row",
            "output_file_name": "predictions.csv",
            "retry_settings": {"max_retries": 3, "timeout": 300},
        },
        "type": "model",
    }
    assert state_of(ws)["__meta__"] == {"format_version": 1, "kind": "batch-deployment"}


def test_editing_the_users_files_afterwards_changes_nothing_stored(
    cli: Cli, ready: Project, ws: Path
) -> None:
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml)
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    original = (ready.root / "code" / "score.py").read_text()
    ready.write("code/score.py", "this is not python any more\n")
    ready.write("model/weights.txt", "w=2\n")
    ready.write("model/extra.txt", "new file\n")
    ready.write("conda.yml", "changed\n")
    assert (folder / "code" / "code" / "score.py").read_text() == original
    assert (folder / "model" / "model" / "weights.txt").read_text() == "w=1\n"
    assert not (folder / "model" / "model" / "extra.txt").exists()
    assert (folder / "environment" / "conda.yml").read_text() == (
        "dependencies:\n  - python=3.11\n"
    )


def test_name_and_endpoint_flags_override_the_file(cli: Cli, ready: Project, arm: str) -> None:
    cli.ok("batch-endpoint", "create", "-f", ready.endpoint_yml, "-n", "other-ep")
    view = cli.ok(
        "batch-deployment", "create", "-f", ready.deployment_yml, "-n", "dep-two", "-e", "other-ep"
    )
    assert (view["name"], view["endpoint_name"], view["id"]) == (
        "dep-two",
        "other-ep",
        f"{arm}/batchEndpoints/other-ep/deployments/dep-two",
    )
    assert cli.ok("batch-deployment", "list", "--endpoint", "other-ep", "--query", "[].name") == [
        "dep-two"
    ]
    assert cli.ok("batch-deployment", "list", "-e", "mnist-batch") == []


@pytest.mark.parametrize("flag", ["-e", "--endpoint-name", "--endpoint"])
def test_every_spelling_of_the_endpoint_flag(cli: Cli, ready: Project, flag: str) -> None:
    cli.ok("batch-endpoint", "create", "-f", ready.endpoint_yml, "-n", "other-ep")
    view = cli.ok("batch-deployment", "create", "-f", ready.deployment_yml, flag, "other-ep")
    assert view["endpoint_name"] == "other-ep"


def test_endpoint_flag_with_capitals_finds_the_endpoint(cli: Cli, ready: Project) -> None:
    cli.ok("batch-endpoint", "create", "-f", ready.endpoint_yml, "-n", "Upper-Ep")
    view = cli.ok("batch-deployment", "create", "-f", ready.deployment_yml, "-e", "Upper-Ep")
    assert view["endpoint_name"] == "Upper-Ep"
    shown = cli.ok("batch-deployment", "show", "-n", "mnist-torch", "-e", "Upper-Ep")
    assert shown["endpoint_name"] == "Upper-Ep"


def test_set_default_makes_it_the_endpoints_default(cli: Cli, ready: Project) -> None:
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml, "--set-default")
    assert default_of(cli) == {"deployment_name": "mnist-torch"}


def test_several_set_values_after_one_flag_with_settings_aliases(
    cli: Cli, ready: Project, arm: str
) -> None:
    view = cli.ok(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "mini_batch_size=3",
        "settings.error_threshold=5",
        "retry_settings.timeout=60",
        "description=via set",
        "tags.team=ml",
        "environment_variables.FLAG=true",
    )
    assert cli.mask(view) == deployment_view(
        arm,
        mini_batch_size=3,
        error_threshold=5,
        retry_settings={"max_retries": 3, "timeout": 60},
        description="via set",
        tags={"team": "ml"},
        environment_variables={"DIGITS": "10", "FLAG": "true"},
    )


def test_set_value_of_the_wrong_type_is_an_invalid_spec(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "mini_batch_size=10 parsecs",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:20: settings.mini_batch_size: must be a number of files "
        "(1 or more), a size such as 10MB, 512kb or 1gb, or rows such as '1000 rows' "
        '(got "10 parsecs")\n'
    )
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()


def test_summary_only_hides_output_file_name(cli: Cli, ready: Project) -> None:
    ready.write(
        "summary.yml",
        ready.deployment_yml.read_text().replace(
            "  output_action: append_row\n  output_file_name: predictions.csv\n",
            "  output_action: summary_only\n",
        ),
    )
    view = cli.ok("batch-deployment", "create", "-f", ready.root / "summary.yml")
    assert view["output_action"] == "summary_only"
    assert "output_file_name" not in view


def test_mlflow_model_needs_no_code(cli: Cli, ready: Project, arm: str) -> None:
    ready.write("mlflow/MLmodel", "flavors:\n  python_function: {}\n")
    ready.write(
        "mlflow.yml",
        """\
        name: mlflow-dep
        endpoint_name: mnist-batch
        type: model
        model:
          path: mlflow
          type: mlflow_model
        compute: azureml:cpu-cluster
        """,
    )
    view = cli.ok("batch-deployment", "create", "-f", ready.root / "mlflow.yml")
    assert view["code_configuration"] is None
    assert view["environment"] is None
    assert cli.mask(view["model"]) == f"{DEPLOYMENTS}/mlflow-dep/model"


# create: the legacy flat form and references


def test_legacy_flat_form_with_a_registered_model(
    cli: Cli, ready: Project, ws: Path, arm: str
) -> None:
    register_model(cli, ready)
    register_model(cli, ready)
    view = cli.ok("batch-deployment", "create", "-f", ready.legacy_yml)
    folder = f"{DEPLOYMENTS}/mnist-legacy"
    assert cli.mask(view) == {
        "code_configuration": {"code": f"{folder}/code/code", "scoring_script": "score.py"},
        "compute": f"{arm}/computes/cpu-cluster",
        "creation_context": deployment_view(arm)["creation_context"],
        "description": "",
        "endpoint_name": "mnist-batch",
        "environment": "azureml:torch-env:1",
        "environment_variables": {},
        "error_threshold": 4,
        "id": f"{arm}/batchEndpoints/mnist-batch/deployments/mnist-legacy",
        "logging_level": "Debug",
        "max_concurrency_per_instance": 3,
        "mini_batch_size": 5,
        "model": f"{arm}/models/mnist/versions/2",
        "name": "mnist-legacy",
        "output_action": "summary_only",
        "properties": {},
        "provisioning_state": "Succeeded",
        "resources": {"instance_count": 1, "properties": {}},
        "retry_settings": {"max_retries": 1, "timeout": 60},
        "tags": {},
        "type": "model",
    }
    stored = state_of(ws, "mnist-legacy")
    # The stored spec is the type: model form, the model pinned to the version @latest meant.
    assert stored["spec"]["type"] == "model"
    assert stored["spec"]["model"] == "azureml:mnist:2"
    assert stored["spec"]["settings"] == {
        "error_threshold": 4,
        "logging_level": "DEBUG",
        "max_concurrency_per_instance": 3,
        "mini_batch_size": 5,
        "output_action": "summary_only",
        "retry_settings": {"max_retries": 1, "timeout": 60},
    }
    assert cli.mask(stored["model"]) == {
        "model_dir": "<tmp>/ws/models/mnist/2/files",
        "name": "mnist",
        "type": "custom_model",
        "version": "2",
    }


def test_legacy_form_rejects_a_settings_block(cli: Cli, ready: Project) -> None:
    legacy = ready.write(
        "legacy-settings.yml", ready.legacy_yml.read_text() + "settings:\n  mini_batch_size: 3\n"
    )
    result = cli("batch-deployment", "create", "-f", legacy)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {legacy}:20: settings: unknown field; did you mean 'retry_settings'?\n"
    )


@pytest.mark.parametrize(
    ("reference", "version"),
    [("azureml:mnist:1", "1"), ("azureml:mnist@latest", "2"), ("azureml:mnist:2", "2")],
)
def test_model_references(cli: Cli, ready: Project, arm: str, reference: str, version: str) -> None:
    register_model(cli, ready)
    register_model(cli, ready)
    view = cli.ok(
        "batch-deployment", "create", "-f", ready.legacy_yml, "--set", f"model={reference}"
    )
    assert view["model"] == f"{arm}/models/mnist/versions/{version}"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("azureml:mnist:9", "model 'mnist' has no version 9 (versions: 1)"),
        (
            "azureml:nope@latest",
            "model 'nope' not found in workspace <tmp>/ws (list them with: batchml model list)",
        ),
        ("azureml:mnist@best", "unknown label 'best'; the only label is 'latest'"),
        (
            "azureml:mnist",
            "'azureml:mnist' names no version (use azureml:mnist@latest or "
            "azureml:mnist:<version>)",
        ),
    ],
)
def test_bad_model_references(
    cli: Cli, ready: Project, reference: str, message: str, ws: Path
) -> None:
    register_model(cli, ready)
    result = cli(
        "batch-deployment", "create", "-f", ready.legacy_yml, "--set", f"model={reference}"
    )
    assert (result.code, result.out) == (4, "")
    assert cli.masked_text(result.err) == f"ERROR: <tmp>/project/legacy.yml:4: model: {message}\n"
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()


def test_datastore_paths_for_code_and_model(cli: Cli, ready: Project, ws: Path) -> None:
    store = ws / "datastores" / "workspaceblobstore"
    (store / "shared" / "code").mkdir(parents=True)
    (store / "shared" / "code" / "score.py").write_text("def run(b):\n    return b\n")
    (store / "shared" / "model.pkl").write_bytes(b"\x00\x01")
    view = cli.ok(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "code_configuration.code=azureml://datastores/workspaceblobstore/paths/shared/code",
        "model.path=azureml://datastores/workspaceblobstore/paths/shared/model.pkl",
    )
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    assert (folder / "code" / "code" / "score.py").read_text() == "def run(b):\n    return b\n"
    assert (folder / "model" / "model.pkl").read_bytes() == b"\x00\x01"
    assert view["model"] == str(folder / "model")


def test_local_paths_are_relative_to_the_yaml_file(
    cli: Cli, ready: Project, ws: Path, tmp_path: Path
) -> None:
    nested = ready.write("nested/deploy/deployment.yml", ready.deployment_yml.read_text())
    ready.write("nested/deploy/code/score.py", "def run(b):\n    return []\n")
    ready.write("nested/deploy/model/other.txt", "other\n")
    ready.write("nested/deploy/conda.yml", "name: nested\n")
    cli.ok("batch-deployment", "create", "-f", nested)
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    assert (folder / "code" / "code" / "score.py").read_text() == "def run(b):\n    return []\n"
    assert sorted(p.name for p in (folder / "model" / "model").iterdir()) == ["other.txt"]
    assert (folder / "environment" / "conda.yml").read_text() == "name: nested\n"


@pytest.mark.parametrize("remote", ["https://example.com/code", "azureml://registries/r/code"])
def test_remote_code_is_refused(cli: Cli, ready: Project, remote: str) -> None:
    result = cli(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        f"code_configuration.code={remote}",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:10: code_configuration.code: code folder '{remote}' is "
        "remote storage; only job inputs and data assets are read from storage (copy the "
        "files to a local folder (or a datastore path) and give that path)\n"
    )


# create: checks against the workspace and the file system


def test_unknown_endpoint_is_not_found(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml, "-e", "nope-ep")
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        f"ERROR: batch endpoint 'nope-ep' not found in workspace {ws}\n"
        "Hint: list them with: batchml batch-endpoint list\n"
    )


def test_every_workspace_problem_is_reported_at_once(
    cli: Cli, ready: Project, ws: Path, digest: Callable[[Path], dict[str, str]]
) -> None:
    before = digest(ws)
    bad = ready.write(
        "bad.yml",
        """\
        name: good-name
        endpoint_name: mnist-batch
        type: model
        model: azureml:nomodel:1
        compute: azureml:nocompute
        code_configuration:
          code: nocode
          scoring_script: score.py
        settings:
          output_action: summary_only
          output_file_name: x.csv
        """,
    )
    result = cli("batch-deployment", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {bad}:5: compute: compute 'nocompute' not found in workspace {ws} (create it "
        "with: batchml compute create -n nocompute --type amlcompute)",
        f"  {bad}:4: model: model 'nomodel' not found in workspace {ws} (list them with: "
        "batchml model list)",
        f"  {bad}:11: settings.output_file_name: output_file_name need not be specified with "
        "output_action summary_only; remove it",
        f"  {bad}:7: code_configuration.code: code folder not found: {ready.root / 'nocode'}",
        f"  {bad}: environment: is required when code_configuration is given (as in Azure); add "
        "e.g. environment: {image: python:3.11, conda_file: conda.yml}",
    ]
    assert digest(ws) == before


def test_every_schema_mistake_is_reported_at_once(
    cli: Cli, ready: Project, ws: Path, digest: Callable[[Path], dict[str, str]]
) -> None:
    before = digest(ws)
    bad = ready.write(
        "bad.yml",
        """\
        name: 1bad_name
        endpoint_name: mnist-batch
        type: model
        model: azureml:m:1
        compute: azureml:cpu-cluster
        settings:
          mini_batch_size: 0
          output_action: append
          retry_settings:
            max_retries: -1
          logging_level: loud
          instanse_count: 2
          output_file_name: out/predictions.csv
        """,
    )
    result = cli("batch-deployment", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {bad}:1: name: must be 3-32 characters of letters, digits and '-', start with "
        'a letter and end with a letter or digit (got "1bad_name")',
        f"  {bad}:7: settings.mini_batch_size: must be a number of files (1 or more), a size "
        "such as 10MB, 512kb or 1gb, or rows such as '1000 rows' (got 0)",
        f'  {bad}:8: settings.output_action: must be one of append_row, summary_only (got "append")',
        f"  {bad}:10: settings.retry_settings.max_retries: must be at least 0 (got -1)",
        f'  {bad}:11: settings.logging_level: must be one of warning, info, debug (got "loud")',
        f"  {bad}:12: settings.instanse_count: unknown field; did you mean 'instance_count'?",
        f"  {bad}:13: settings.output_file_name: must be a file name without a folder, such as "
        'predictions.csv (got "out/predictions.csv")',
    ]
    assert digest(ws) == before


def test_missing_required_fields(cli: Cli, ready: Project) -> None:
    bad = ready.write("bad.yml", "name: dep-one\ntype: model\n")
    result = cli("batch-deployment", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {bad}: endpoint_name: is required",
        f"  {bad}: model: is required",
        f"  {bad}: compute: is required",
    ]


def test_missing_scoring_script(cli: Cli, ready: Project) -> None:
    result = cli(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "code_configuration.scoring_script=nope.py",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:11: code_configuration.scoring_script: scoring script not "
        f"found: {ready.root / 'code' / 'nope.py'}\n"
    )


def test_scoring_script_outside_the_code_folder(cli: Cli, ready: Project, ws: Path) -> None:
    ready.write("other.py", "def run(b):\n    return b\n")
    result = cli(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "code_configuration.scoring_script=../other.py",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:11: code_configuration.scoring_script: '../other.py' is "
        f"outside the code folder {ready.root / 'code'}; move it there\n"
    )
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()


def test_scoring_script_in_a_subfolder(cli: Cli, ready: Project) -> None:
    ready.write("code/batch/driver.py", "def run(b):\n    return b\n")
    view = cli.ok(
        "batch-deployment",
        "create",
        "-f",
        ready.deployment_yml,
        "--set",
        "code_configuration.scoring_script=batch/driver.py",
    )
    assert view["code_configuration"]["scoring_script"] == "batch/driver.py"


def test_syntax_error_in_the_scoring_script(cli: Cli, ready: Project, ws: Path) -> None:
    ready.write("code/score.py", "def init(:\n    pass\n")
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml)
    assert (result.code, result.out) == (4, "")
    script = ready.root / "code" / "score.py"
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:11: code_configuration.scoring_script: Failed to submit "
        f"deployment mnist-torch due to syntax errors in scoring script {script}. Error on line "
        "1: invalid syntax. Fix the script, or pass --skip-script-validation to skip this check\n"
    )
    assert not (ws / "endpoints" / "mnist-batch" / "deployments").exists()


def test_skip_script_validation(cli: Cli, ready: Project) -> None:
    ready.write("code/score.py", "def init(:\n    pass\n")
    view = cli.ok(
        "batch-deployment", "create", "-f", ready.deployment_yml, "--skip-script-validation"
    )
    assert view["name"] == "mnist-torch"


def test_code_without_environment_is_refused(cli: Cli, ready: Project) -> None:
    text = ready.deployment_yml.read_text()
    start = text.index("environment:\n")
    end = text.index("compute:")
    no_env = ready.write("no-env.yml", text[:start] + text[end:])
    result = cli("batch-deployment", "create", "-f", no_env)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {no_env}: environment: is required when code_configuration is given (as in "
        "Azure); add e.g. environment: {image: python:3.11, conda_file: conda.yml}\n"
    )


def test_custom_model_without_code_is_refused(cli: Cli, ready: Project) -> None:
    bad = ready.write(
        "no-code.yml",
        """\
        name: no-code
        endpoint_name: mnist-batch
        type: model
        model:
          path: model
        compute: azureml:cpu-cluster
        """,
    )
    result = cli("batch-deployment", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {bad}: code_configuration: is required unless the model is an MLflow model\n"
    )


def test_pipeline_deployment_needs_a_component(cli: Cli, ready: Project) -> None:
    pipeline = ready.write(
        "pipeline.yml", "name: pipe-dep\nendpoint_name: mnist-batch\ntype: pipeline\n"
    )
    result = cli("batch-deployment", "create", "-f", pipeline)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {pipeline}: component: is required (or job_definition: "
        "azureml:<pipeline job name>)\n"
    )


def test_unknown_type(cli: Cli, ready: Project) -> None:
    bad = ready.write("bad.yml", ready.deployment_yml.read_text().replace("type: model", "type: x"))
    result = cli("batch-deployment", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {bad}:4: type: must be model or pipeline (or omitted for the legacy form), "
        "got 'x'\n"
    )


def test_missing_compute(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli(
        "batch-deployment", "create", "-f", ready.deployment_yml, "--set", "compute=azureml:gpu"
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {ready.deployment_yml}:15: compute: compute 'gpu' not found in workspace {ws} "
        "(create it with: batchml compute create -n gpu --type amlcompute)\n"
    )


# update


def test_update_with_set_keeps_the_snapshots(
    cli: Cli, deployed: Project, ws: Path, arm: str
) -> None:
    created = state_of(ws)["created_at"]
    original = (deployed.root / "code" / "score.py").read_text()
    deployed.write("code/score.py", "changed = True\n")
    view = cli.ok(
        "batch-deployment",
        "update",
        "-n",
        "mnist-torch",
        "-e",
        "mnist-batch",
        "--set",
        "mini_batch_size=7",
        "description=updated",
    )
    assert cli.mask(view) == deployment_view(arm, mini_batch_size=7, description="updated")
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    assert (folder / "code" / "code" / "score.py").read_text() == original
    assert sorted(p.name for p in folder.iterdir()) == [
        "code",
        "deployment.json",
        "environment",
        "model",
    ]
    assert state_of(ws)["created_at"] == created


def test_update_from_the_file_takes_new_code(cli: Cli, deployed: Project, ws: Path) -> None:
    created = state_of(ws)["created_at"]
    deployed.write("code/score.py", "def run(b):\n    return b\n")
    cli.ok("batch-deployment", "update", "-f", deployed.deployment_yml)
    folder = ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch"
    assert (folder / "code" / "code" / "score.py").read_text() == "def run(b):\n    return b\n"
    assert state_of(ws)["created_at"] == created


def test_update_of_a_missing_deployment(cli: Cli, ready: Project) -> None:
    result = cli(
        "batch-deployment", "update", "-n", "nope", "-e", "mnist-batch", "--set", "description=x"
    )
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        "ERROR: batch deployment 'nope' not found in batch endpoint 'mnist-batch'\n"
        "Hint: list them with: batchml batch-deployment list -e mnist-batch\n"
    )


def test_update_without_file_or_names(cli: Cli, deployed: Project) -> None:
    result = cli("batch-deployment", "update", "--set", "description=x")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: update needs -f/--file, or -n/--name and -e/--endpoint-name with --set\n"
    )


# show / list / delete / list-jobs


def test_show_unknown_deployment(cli: Cli, deployed: Project) -> None:
    result = cli("batch-deployment", "show", "-n", "nope", "-e", "mnist-batch")
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        "ERROR: batch deployment 'nope' not found in batch endpoint 'mnist-batch'\n"
        "Hint: list them with: batchml batch-deployment list -e mnist-batch\n"
    )


def test_show_of_an_unknown_endpoint(cli: Cli, deployed: Project, ws: Path) -> None:
    result = cli("batch-deployment", "show", "-n", "mnist-torch", "-e", "nope")
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines()[0] == f"ERROR: batch endpoint 'nope' not found in workspace {ws}"


def test_show_needs_the_endpoint(cli: Cli, deployed: Project) -> None:
    result = cli("batch-deployment", "show", "-n", "mnist-torch")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == (
        "Error: Missing option '-e' / '--endpoint-name' / '--endpoint'."
    )


def test_list_sorted_by_name(cli: Cli, deployed: Project, arm: str) -> None:
    cli.ok("batch-deployment", "create", "-f", deployed.deployment_yml, "-n", "aaa-dep")
    listed = cli.ok("batch-deployment", "list", "-e", "mnist-batch")
    assert [d["name"] for d in listed] == ["aaa-dep", "mnist-torch"]
    assert cli.mask(listed[1]) == deployment_view(arm)


def test_delete(cli: Cli, deployed: Project, ws: Path) -> None:
    result = cli("batch-deployment", "delete", "-n", "mnist-torch", "-e", "mnist-batch", "-y")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert not (ws / "endpoints" / "mnist-batch" / "deployments" / "mnist-torch").exists()
    assert cli.ok("batch-deployment", "list", "-e", "mnist-batch") == []


def test_delete_the_default_clears_it_with_a_warning(cli: Cli, deployed: Project) -> None:
    cli.ok(
        "batch-endpoint",
        "update",
        "-n",
        "mnist-batch",
        "--set",
        "defaults.deployment_name=mnist-torch",
    )
    result = cli("batch-deployment", "delete", "-n", "mnist-torch", "-e", "mnist-batch", "--yes")
    assert (result.code, result.out) == (0, "")
    assert result.err == (
        "WARNING: 'mnist-torch' was the default deployment of 'mnist-batch'; the endpoint now has "
        "no default (set one with: batchml batch-endpoint update -n mnist-batch --set "
        "defaults.deployment_name=NAME)\n"
    )
    assert default_of(cli) == {"deployment_name": None}


def test_delete_needs_yes(cli: Cli, deployed: Project, ws: Path) -> None:
    result = cli("batch-deployment", "delete", "-n", "mnist-torch", "-e", "mnist-batch")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: delete batch deployment 'mnist-torch' of 'mnist-batch': pass --yes to confirm "
        "(no terminal to ask on)\n"
    )
    assert state_of(ws)["name"] == "mnist-torch"


def test_delete_unknown_deployment(cli: Cli, deployed: Project) -> None:
    result = cli("batch-deployment", "delete", "-n", "nope", "-e", "mnist-batch", "-y")
    assert (result.code, result.out) == (3, "")


def test_list_jobs_of_a_fresh_deployment(cli: Cli, deployed: Project) -> None:
    jobs = cli.ok("batch-deployment", "list-jobs", "-n", "mnist-torch", "-e", "mnist-batch")
    assert jobs == []


def test_list_jobs_of_an_unknown_deployment(cli: Cli, deployed: Project) -> None:
    result = cli("batch-deployment", "list-jobs", "-n", "nope", "-e", "mnist-batch")
    assert (result.code, result.out) == (3, "")


def test_a_conda_file_its_jobs_cannot_build_is_refused_in_the_users_file(
    cli: Cli, ready: Project, ws: Path, monkeypatch: pytest.MonkeyPatch, digest: Any
) -> None:
    monkeypatch.delenv("BATCHML_ENV_MANAGER")  # jobs build their environments (the default)
    conda = ready.write("conda.yml", "dependencies:\n  - python=3.11\n  - mkl\n")
    before = digest(ws)
    result = cli("batch-deployment", "create", "-f", ready.deployment_yml)

    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {conda}:3: dependencies.1: mkl: mkl is a conda-only package with no PyPI "
        "equivalent (PyPI wheels bundle their native libraries); remove it from the conda file\n"
        f"  {ready.deployment_yml}:14: environment.conda_file: its jobs build this conda file "
        "with uv; to run them in batchml's interpreter instead, set settings.env_manager: local\n"
    )
    assert digest(ws) == before
    # Jobs that run in batchml's interpreter build nothing: the file is taken as it is.
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml, "--set", "env_manager=local")
