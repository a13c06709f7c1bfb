"""No-code MLflow deployments: real MLflow models scored by batchml's MLflow scorer.

The models are made once per session: a scikit-learn tree on columns `x` (double) and `n`
(long) that predicts `n >= 3`, saved with and without a signature, and image models that
describe the array they get (`float32 1x8x8x3`), with a tensor signature or none.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from processes import wait_sessions_gone

from batchml.mlflow import DRIVER_DIR, DRIVER_SCRIPT
from batchml.runner import NO_SUCCEEDED_ITEM, JobResult, RunSettings, ScoringSpec, run_job

if TYPE_CHECKING:
    from tests.conftest import Cli

pytest.importorskip("mlflow")
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_worker_left")]

# A pyfunc model of its own flavor (a loader module), not a PythonModel: MLflow warns about
# every PythonModel whose predict() has no type hints, whatever the warning filters say.
DESCRIBE_MODEL = """\
import numpy as np


class Describe:
    def predict(self, model_input, params=None):
        shape = "x".join(str(size) for size in model_input.shape)
        return np.array([f"{model_input.dtype} {shape}"])


def _load_pyfunc(path):
    return Describe()
"""

CUSTOM_SCRIPT = """\
import glob
import os
from pathlib import Path

import mlflow.pyfunc
import pandas as pd


def init():
    global model, folder
    folder = glob.glob(os.environ["AZUREML_MODEL_DIR"] + "/*/")[0]
    model = mlflow.pyfunc.load_model(folder)


def run(mini_batch):
    for path in mini_batch:
        data = pd.read_csv(path)
        data["prediction"] = model.predict(data)
        data["model_folder"] = Path(folder).name
        data.to_parquet(Path(os.environ["AZUREML_BI_OUTPUT_PATH"]) / f"{Path(path).stem}.parquet")
    return mini_batch
"""


@dataclass(frozen=True)
class Models:
    """MLflow model folders, each inside a folder of its own (an AZUREML_MODEL_DIR)."""

    tabular: Path
    unsigned: Path
    image: Path
    flat_image: Path
    unsigned_image: Path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import Schema, TensorSpec
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("mlflow-models")
    rng = np.random.default_rng(0)
    n = np.arange(60, dtype="int64") % 6
    features = pd.DataFrame({"x": rng.random(60), "n": n})
    tree = DecisionTreeClassifier(random_state=0).fit(features, n >= 3)
    code = root / "describe_model.py"
    code.write_text(DESCRIBE_MODEL)

    def image_signature(dtype: type, shape: tuple[int, ...]) -> ModelSignature:
        return ModelSignature(inputs=Schema([TensorSpec(np.dtype(dtype), shape)]))

    # MLflow warns that these models have no input example, and about integer columns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Declared requirements: MLflow would otherwise find them in a subprocess, seconds a model.
        requirements = ["mlflow-skinny", "scikit-learn"]
        for name, signature in (
            ("tabular", infer_signature(features, tree.predict(features))),
            ("unsigned", None),
        ):
            mlflow.sklearn.save_model(
                tree,
                root / name / name,
                signature=signature,
                serialization_format="cloudpickle",
                pip_requirements=requirements,
            )
        for name, signature in (
            ("image", image_signature(np.float32, (-1, -1, -1, 3))),
            ("flat_image", image_signature(np.float64, (-1, 64))),
            ("unsigned_image", None),
        ):
            mlflow.pyfunc.save_model(
                root / name / name,
                loader_module=code.stem,
                code_paths=[str(code)],
                signature=signature,
                pip_requirements=requirements,
            )
    return Models(*(root / name / name for name in Models.__dataclass_fields__))


def run_scorer(
    model: Path, files: list[Path], tmp_path: Path, **settings: Any
) -> tuple[JobResult, list[str]]:
    """Run the built-in scorer on `files` in one worker: the result and the output lines."""
    result = run_job(
        files,
        ScoringSpec(DRIVER_DIR, DRIVER_SCRIPT, model.parent),
        RunSettings(**settings),
        output_dir=tmp_path / "out",
        logs_dir=tmp_path / "logs",
    )
    out = result.output_file
    return result, out.read_text().splitlines() if out is not None else []


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def write_image(folder: Path, name: str, mode: str, size: tuple[int, int]) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.new(mode, size).save(path)
    return path


def error_log(tmp_path: Path) -> str:
    """The workers' error logs (logs/user/error/<node>/processNNN.txt), joined."""
    logs = sorted((tmp_path / "logs" / "user" / "error").glob("*/*.txt"))
    return "".join(log.read_text() for log in logs)


# Through the CLI: a no-code deployment, and a scoring script on the same MLflow model.


@pytest.fixture
def endpoint(cli: Cli, ws: Path, tmp_path: Path, models: Models) -> Path:
    """A workspace with the registered model `tree` (the tabular model) and endpoint `trees`."""
    cli.ok("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
    view = cli.ok("model", "create", "-n", "tree", "-t", "mlflow_model", "-p", models.tabular)
    assert view["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert view["signature"]["inputs"] == [
        {"type": "double", "name": "x", "required": True},
        {"type": "long", "name": "n", "required": True},
    ]
    write(tmp_path, "endpoint.yml", "name: trees\n")
    cli.ok("batch-endpoint", "create", "-f", tmp_path / "endpoint.yml", "-o", "none")
    return tmp_path


def deploy(
    cli: Cli, folder: Path, name: str, code: str = "", output_action: str = "append_row"
) -> None:
    spec = f"""\
        name: {name}
        endpoint_name: trees
        type: model
        model: azureml:tree@latest
        compute: azureml:cpu
        settings:
          mini_batch_size: 2
          max_concurrency_per_instance: 2
          output_action: {output_action}
        """
    path = write(folder, f"{name}.yml", textwrap.dedent(spec) + textwrap.dedent(code))
    cli.ok("batch-deployment", "create", "-f", path, "-o", "none")


def invoke_and_wait(cli: Cli, deployment: str, data: Path) -> dict[str, Any]:
    """Invoke, follow the job to its end, and wait for its runner's processes to be gone."""
    name = cli.ok("batch-endpoint", "invoke", "-n", "trees", "-d", deployment, "--input", data)[
        "name"
    ]
    assert cli("job", "stream", "-n", name).code == 0
    job: dict[str, Any] = cli.ok("job", "show", "-n", name)
    state = json.loads(Path(job["batch"]["logs"]).parent.joinpath("job.json").read_text())
    wait_sessions_gone([state["runner_pid"]])
    return job


def test_csv_and_parquet_files_through_a_no_code_deployment(
    cli: Cli, endpoint: Path, ws: Path
) -> None:
    import pandas as pd

    deploy(cli, endpoint, "tree-mlflow")
    data = endpoint / "data"
    write(data, "a.csv", "x,n\n0.5,1\n0.5,4\n0.25,2\n")
    pd.DataFrame({"x": [0.1, 0.9], "n": [5, 0]}).to_parquet(data / "b.parquet")
    pd.DataFrame({"x": [0.3], "n": [3]}).to_parquet(data / "c.pqt")
    job = invoke_and_wait(cli, "tree-mlflow", data)
    assert job["status"] == "Completed"
    assert job["batch"]["files"] == {"total": 3, "succeeded": 3, "failed": 0}
    assert cli("job", "download", "-n", job["name"], "-p", endpoint / "out").code == 0
    assert (endpoint / "out" / "predictions.csv").read_text().splitlines() == [
        "0,False,a.csv",
        "1,True,a.csv",
        "2,False,a.csv",
        "0,True,b.parquet",
        "1,False,b.parquet",
        "0,True,c.pqt",
    ]


def test_a_custom_script_on_an_mlflow_model(cli: Cli, endpoint: Path) -> None:
    import pandas as pd

    write(endpoint / "code", "score.py", CUSTOM_SCRIPT)
    code = """\
        code_configuration: {code: code, scoring_script: score.py}
        environment: {image: python:3.11}
        """
    deploy(cli, endpoint, "tree-custom", code, output_action="summary_only")
    data = endpoint / "data"
    write(data, "a.csv", "x,n\n0.5,1\n0.5,4\n")
    write(data, "b.csv", "x,n\n0.5,3\n")
    job = invoke_and_wait(cli, "tree-custom", data)
    assert job["status"] == "Completed"
    out = endpoint / "out"
    assert cli("job", "download", "-n", job["name"], "-p", out).code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.parquet", "b.parquet"]
    scored = pd.read_parquet(out / "a.parquet")
    assert scored["prediction"].tolist() == [False, True]
    # glob(AZUREML_MODEL_DIR + "/*/")[0] is the registered model's own folder.
    assert scored["model_folder"].tolist() == ["tabular", "tabular"]


# The scorer on its own (run_job): types, failures per file, images.


def test_a_file_with_a_wrong_column_type_fails_alone(tmp_path: Path, models: Models) -> None:
    data = tmp_path / "data"
    files = [
        write(data, "a-good.csv", "x,n\n0.5,1\n0.5,4\n0.5,5\n"),
        write(data, "b-text.csv", "x,n\n0.5,three\n"),
        write(data, "c-fraction.csv", "x,n\n0.5,3.5\n"),
        write(data, "d-missing.csv", "x\n0.5\n"),
    ]
    result, lines = run_scorer(models.tabular, files, tmp_path, mini_batch_size=4)
    assert result.status == "Completed"
    counts = result.counts
    assert (counts.files_succeeded, counts.files_failed, counts.items_succeeded) == (1, 3, 3)
    assert lines == ["0,False,a-good.csv", "1,True,a-good.csv", "2,True,a-good.csv"]
    errors = error_log(tmp_path)
    assert (
        f"{data}/b-text.csv: column 'n' cannot be read as long: invalid literal for int() with "
        "base 10: 'three'\n" in errors
    )
    assert f"{data}/c-fraction.csv: column 'n' cannot be read as long: 3.5 is not an integer\n" in (
        errors
    )
    assert f"{data}/d-missing.csv: MlflowException: Model is missing inputs ['n']" in errors


def test_a_model_without_a_signature_gets_the_file_as_read(tmp_path: Path, models: Models) -> None:
    files = [write(tmp_path / "data", "a.csv", "x,n\n0.5,3.5\n0.5,2.5\n")]
    result, lines = run_scorer(models.unsigned, files, tmp_path)
    assert result.status == "Completed"
    assert lines == ["0,True,a.csv", "1,False,a.csv"]


@pytest.mark.parametrize(
    ("threshold", "status", "error"),
    [
        (1, "Completed", None),
        (0, "Failed", "error_threshold exceeded: 1 failed files > 0"),
    ],
)
def test_an_unsupported_file_type_counts_against_the_threshold(
    tmp_path: Path, models: Models, threshold: int, status: str, error: str | None
) -> None:
    data = tmp_path / "data"
    files = [write(data, "a.csv", "x,n\n0.5,4\n"), write(data, "b.avro", "avro")]
    files.append(write(data, "c.csv", "x,n\n0.5,0\n"))
    result, lines = run_scorer(
        models.tabular, files, tmp_path, mini_batch_size=2, error_threshold=threshold
    )
    assert (result.status, result.error) == (status, error)
    assert result.counts.files_failed == 1
    if status == "Completed":
        assert lines == ["0,True,a.csv", "0,False,c.csv"]
    assert (
        f"{data}/b.avro: file type 'avro' is not supported; a deployment without a scoring "
        "script reads .csv, .parquet, .pqt, .png, .jpg, .jpeg, .tiff, .bmp, .gif files"
    ) in error_log(tmp_path)


def test_no_file_scored_fails_the_job(tmp_path: Path, models: Models) -> None:
    files = [write(tmp_path / "data", "a.txt", "text")]
    result, _ = run_scorer(models.tabular, files, tmp_path)
    assert result.status == "Failed"
    assert result.error == (
        f"{NO_SUCCEEDED_ITEM} (first error: mini-batch 0, attempt 1: {files[0]}: file type 'txt' "
        "is not supported; a deployment without a scoring script reads .csv, .parquet, .pqt, "
        ".png, .jpg, .jpeg, .tiff, .bmp, .gif files)"
    )


def test_images_follow_the_tensor_signature(tmp_path: Path, models: Models) -> None:
    data = tmp_path / "data"
    files = [
        write_image(data, "gray.png", "L", (8, 8)),
        write_image(data, "photo.jpg", "RGB", (4, 5)),
        write_image(data, "palette.gif", "P", (2, 3)),
    ]
    result, lines = run_scorer(models.image, files, tmp_path)
    assert result.status == "Completed"
    assert lines == [
        "float32 1x8x8x3,gray.png",
        "float32 1x5x4x3,photo.jpg",
        "float32 1x3x2x3,palette.gif",
    ]


def test_an_image_that_does_not_fit_the_tensor_shape_fails(tmp_path: Path, models: Models) -> None:
    data = tmp_path / "data"
    files = [
        write_image(data, "gray.bmp", "L", (8, 8)),
        write_image(data, "rgb.png", "RGB", (8, 8)),
    ]
    result, lines = run_scorer(models.flat_image, files, tmp_path)
    assert (result.status, result.counts.files_failed) == ("Completed", 1)
    assert lines == ["float64 1x64,gray.bmp"]
    assert (
        f"{data}/rgb.png: the image's shape (8, 8, 3) does not fit the signature's tensor shape "
        "(-1, 64)\n"
    ) in error_log(tmp_path)


def test_images_without_a_signature_are_uint8(tmp_path: Path, models: Models) -> None:
    data = tmp_path / "data"
    files = [
        write_image(data, "gray.tiff", "L", (8, 8)),
        write_image(data, "photo.jpeg", "RGB", (4, 5)),
    ]
    result, lines = run_scorer(models.unsigned_image, files, tmp_path)
    assert result.status == "Completed"
    assert lines == ["uint8 8x8,gray.tiff", "uint8 5x4x3,photo.jpeg"]


def test_a_model_saved_with_skops_says_what_is_missing(tmp_path: Path) -> None:
    """MLflow 3 saves scikit-learn models with skops by default; without skops in the job's
    environment, init() says so and what to do (skops is not installed in batchml's)."""
    if importlib.util.find_spec("skops") is not None:
        pytest.skip("skops is installed here")
    model = tmp_path / "model" / "skops-model"
    flavors = {
        "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.skops"},
        "sklearn": {"pickled_model": "model.skops", "serialization_format": "skops"},
    }
    write(model, "MLmodel", yaml.safe_dump({"flavors": flavors}))
    write(model, "model.skops", "not read")
    result, _ = run_scorer(model, [write(tmp_path / "data", "a.csv", "x\n1\n")], tmp_path)

    assert result.status == "Failed"
    assert result.error is not None
    assert (
        f"loading the MLflow model in {model} needs the module skops (its sklearn flavor is "
        f"saved with serialization_format skops), which the job's environment ({sys.prefix}) "
        "does not have: run the job with env_manager=uv, so that the model's own requirements "
        "are installed, or install it there: pip install skops"
    ) in result.error


def _scored_table(cli: Cli, endpoint: Path, name: str, out: str) -> list[str]:
    """The predictions of job `name` once it ended, with 3 files of 2 rows (or fewer)."""
    assert cli("job", "stream", "-n", name).code == 0
    job = cli.ok("job", "show", "-n", name)
    state = json.loads(Path(job["batch"]["logs"]).parent.joinpath("job.json").read_text())
    wait_sessions_gone([state["runner_pid"]])
    assert job["status"] == "Completed"
    assert job["batch"]["files"] == {"total": 3, "succeeded": 3, "failed": 0}
    assert cli("job", "download", "-n", name, "-p", endpoint / out).code == 0
    return (endpoint / out / "predictions.csv").read_text().splitlines()


@pytest.mark.azurite
def test_an_mltable_in_storage_through_a_no_code_deployment_as_the_local_one(
    cli: Cli, ws: Path, endpoint: Path, azurite: Any
) -> None:
    import uuid

    from batchml.services import datastores
    from batchml.store.workspace import Workspace

    deploy(cli, endpoint, "tree-rows")
    table = endpoint / "table"
    write(table, "MLTable", "paths: [{file: a.csv}]\ntransformations: [read_delimited]\n")
    write(table, "a.csv", "x,n\n0.5,1\n0.5,4\n0.25,2\n0.1,5\n0.9,0\n")
    container = f"c{uuid.uuid4().hex[:12]}"
    write(endpoint, "blobs.yml", azurite.datastore_yml("blobs", container))
    cli.ok("datastore", "create", "-f", endpoint / "blobs.yml", "-o", "none")
    _, storage = datastores.filesystem(Workspace(ws), "blobs")
    storage.mkdir(container)
    storage.pipe({f"{container}/t/{path.name}": path.read_bytes() for path in table.iterdir()})
    runs = {}
    for how, value in (("local", str(table)), ("storage", "azureml://datastores/blobs/paths/t")):
        name = cli.ok("batch-endpoint", "invoke", "-n", "trees", "-d", "tree-rows", "--input",
                      value, "--input-type", "mltable", "--mini-batch-size", "2 rows")["name"]  # fmt: skip
        runs[how] = _scored_table(cli, endpoint, str(name), how)

    assert (
        runs["storage"]
        == runs["local"]
        == [
            "0,False,a.csv",
            "1,True,a.csv",
            "0,False,a.csv",
            "1,True,a.csv",
            "0,False,a.csv",
        ]
    )


def test_an_mltable_through_a_no_code_deployment_by_rows(cli: Cli, endpoint: Path) -> None:
    deploy(cli, endpoint, "tree-rows")
    table = endpoint / "table"
    write(table, "MLTable", "paths: [{file: a.csv}]\ntransformations: [read_delimited]\n")
    write(table, "a.csv", "x,n\n0.5,1\n0.5,4\n0.25,2\n0.1,5\n0.9,0\n")
    name = cli.ok("batch-endpoint", "invoke", "-n", "trees", "-d", "tree-rows", "--input", table,
                  "--input-type", "mltable", "--mini-batch-size", "2 rows")["name"]  # fmt: skip
    # Rows counted from 0 in each row range, named by its file.
    assert _scored_table(cli, endpoint, str(name), "out") == [
        "0,False,a.csv",
        "1,True,a.csv",
        "0,False,a.csv",
        "1,True,a.csv",
        "0,False,a.csv",
    ]
