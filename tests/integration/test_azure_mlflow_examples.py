"""Azure's batch examples that use MLflow (tests/integration/azure/, its README says what is
Azure's and what stands in), run as their deploy-and-run.sh runs them, with batchml's commands
and no MLflow variable set by hand: the scoring script's and the steps' MLflow calls land in the
job's runs (read back with MLflow's own client), and the model the training pipeline registers
is a batchml model that deploys and scores."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from processes import wait_sessions_gone
from projects import Jobs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import pandas as pd

    from tests.conftest import Cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(m) is None
            for m in ("mlflow", "sqlalchemy", "alembic", "sklearn", "pandas")
        ),
        reason="needs the mlflow extra, scikit-learn and pandas",
    ),
]

EXAMPLES = Path(__file__).parent / "azure"
HEART = [
    ("age", 29, 78), ("sex", 0, 2), ("cp", 1, 5), ("trestbps", 94, 201), ("chol", 126, 565),
    ("fbs", 0, 2), ("restecg", 0, 3), ("thalach", 71, 203), ("exang", 0, 2), ("slope", 1, 4),
    ("ca", 0, 4),
]  # fmt: skip


@pytest.fixture
def example(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Jobs]]:
    """example(name): a copy of Azure's example `name` (the prepare link followed), the
    current directory, with tracking on."""
    monkeypatch.delenv("BATCHML_TRACKING")
    made: list[Jobs] = []

    def copy(name: str) -> Jobs:
        root = tmp_path / name
        shutil.copytree(EXAMPLES / name, root)
        monkeypatch.chdir(root)
        made.append(Jobs(cli, root, ws))
        return made[-1]

    yield copy
    for jobs in made:
        wait_sessions_gone(jobs.runners)


def heart(rows: int, seed: int, target: bool = True) -> pd.DataFrame:
    """Stand-in for the UCI heart disease data: its columns, values in their ranges."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.integers(low, high, rows) for name, low, high in HEART})
    df.insert(9, "oldpeak", rng.integers(0, 63, rows) / 10)
    df["thal"] = rng.choice(["fixed", "normal", "reversible"], rows)
    if target:
        df["target"] = ((df.age > 55) | (df.cp == 4)).astype(int)
    return df


def written(path: Path, df: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def run_of(jobs: Jobs, name: str) -> Any:
    """The MLflow run of job `name`, as `job show` names it."""
    return jobs.tracking_client().get_run(jobs.show(name)["services"]["Tracking"]["run_id"])


def test_huggingface_text_summarization(example: Callable[[str], Jobs], cli: Cli) -> None:
    hf = example("huggingface-text-summarization")
    texts = [
        f"Bill {i}: the people of the State of California do enact as follows" for i in range(4)
    ]
    Path("data").mkdir()
    for index in range(2):  # stand-ins for billsum-*.csv, with the columns Azure's have
        with open(f"data/billsum-{index}.csv", "w", newline="") as file:
            rows = csv.writer(file)
            rows.writerow(["", "text", "summary", "title"])
            rows.writerows([i, texts[i], "s", "t"] for i in range(index * 2, index * 2 + 2))
    Path("model").mkdir()
    Path("model/config.json").write_text('{"max_length": 4}')  # the stand-in for BART

    cli.ok("model", "create", "--name", "bart-text-summarization", "--path", "model", "-o", "none")
    cli.ok("compute", "create", "-n", "gpu-cluster", "--type", "amlcompute", "--size",
           "STANDARD_NV6", "--min-instances", "0", "--max-instances", "2", "-o", "none")  # fmt: skip
    endpoint = "text-summarization"
    cli.ok("batch-endpoint", "create", "--file", "endpoint.yml", "--name", endpoint, "-o", "none")
    cli.ok("batch-deployment", "create", "--file", "deployment.yml", "--endpoint-name", endpoint,
           "--set-default", "-o", "none")  # fmt: skip
    name = cli.ok("batch-endpoint", "invoke", "--name", endpoint, "--input", "data",
                  "--input-type", "uri_folder")["name"]  # fmt: skip
    job = hf.wait(name)

    assert job["status"] == "Completed", job.get("error")
    output = hf.ws / "datastores/workspaceblobstore/azureml" / name / "score/predictions.csv"
    assert sorted(output.read_text().splitlines()) == [f"Bill {i}: the people" for i in range(4)]
    run = run_of(hf, name)
    assert run.info.status == "FINISHED"
    # init()'s log_param in each of the two workers, run()'s log_metric per mini-batch (file).
    assert run.data.params == {"device": "cpu", "model": "Summarizer"}
    history = hf.tracking_client().get_metric_history(run.info.run_id, "rows_per_second")
    assert len(history) == 2


def build_stand_ins(root: Path) -> tuple[Any, Any]:
    """Stand-ins for the example's model/ (an XGBoost MLflow model) and transformations/:
    transformations learnt by its prepare component's own code, and a scikit-learn classifier
    trained on data they prepared, saved with MLflow; both returned too."""
    import joblib
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    path = root / "components/prepare/src/prepare.py"
    spec = importlib.util.spec_from_file_location("prepare", path)
    assert spec is not None and spec.loader is not None
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    continuous, discrete = prepare.continuous_features, prepare.discrete_features
    # Not preprocess_heart_disease_data(): it turns autolog on, in this process.
    transformations = prepare.build_preprocessing_pipeline("ordinal", continuous, discrete)
    train = heart(60, seed=1)
    features = pd.DataFrame(
        transformations.fit_transform(train.drop(columns=["target"])),
        columns=continuous + discrete,  # the ordinal encoder keeps the names
    )
    (root / "transformations").mkdir()
    joblib.dump(transformations, root / "transformations" / prepare.transform_filename)
    model = LogisticRegression().fit(features, train["target"])
    signature = infer_signature(features, model.predict(features))
    mlflow.sklearn.save_model(
        model, root / "model", signature=signature, serialization_format="cloudpickle"
    )
    return transformations, model


def test_batch_scoring_with_preprocessing(example: Callable[[str], Jobs], cli: Cli) -> None:
    import pandas as pd

    pre = example("batch-scoring-with-preprocessing")
    transformations, model = build_stand_ins(pre.root)
    unlabeled = heart(10, seed=2, target=False)
    written(pre.root / "data/unlabeled/heart.csv", unlabeled)

    cli.ok("environment", "create", "-f", "environment/xgboost-sklearn-py38.yml", "-o", "none")
    cli.ok("model", "create", "--name", "heart-classifier", "--type", "mlflow_model", "--path",
           "model", "-o", "none")  # fmt: skip
    cli.ok("model", "create", "--name", "heart-classifier-transforms", "--type", "custom_model",
           "--path", "transformations", "-o", "none")  # fmt: skip
    cli.ok("component", "create", "-f", "components/prepare/prepare.yml", "-o", "none")
    cli.ok("component", "create", "-f", "components/score/score.yml", "-o", "none")
    cli.ok("compute", "create", "-n", "batch-cluster", "--type", "amlcompute", "-o", "none")
    endpoint = "uci-classifier-score"
    cli.ok("batch-endpoint", "create", "--name", endpoint, "-f", "endpoint.yml", "-o", "none")
    cli.ok("batch-deployment", "create", "--endpoint", endpoint, "-f", "deployment.yml",
           "--set-default", "-o", "none")  # fmt: skip
    name = cli.ok("batch-endpoint", "invoke", "-n", endpoint, "--f", "inputs.yml")["name"]
    job = pre.wait(name, 240)

    assert job["status"] == "Completed", job.get("error")
    scores = pre.ws / "datastores/workspaceblobstore/azureml" / name / "scores/heart.csv"
    with open(scores, newline="") as file:
        scored = list(csv.DictReader(file))
    prepared = pd.DataFrame(transformations.transform(unlabeled), columns=model.feature_names_in_)
    expected = model.predict(prepared).tolist()
    assert [int(float(row["prediction"])) for row in scored] == expected  # score_mode append
    children = cli.ok("job", "list", "--parent-job-name", name, "--query", "[].name")
    assert sorted(children) == [f"{name}-preprocess_job", f"{name}-score_job"]
    client = pre.tracking_client()
    parent = run_of(pre, name)
    runs = client.search_runs([parent.info.experiment_id])
    # prepare.py's `mlflow.start_run(nested=True)` is its step's run, not one more.
    assert sorted((r.info.run_name, r.info.status) for r in runs) == [
        (name, "FINISHED"),
        *((child, "FINISHED") for child in sorted(children)),
    ]


def test_training_with_components_registers_a_model_that_deploys(
    example: Callable[[str], Jobs], cli: Cli
) -> None:
    train = example("training-with-components")
    written(train.root / "data/train/heart.csv", heart(60, seed=1))

    cli.ok("environment", "create", "-f", "environment/xgboost-sklearn-py38.yml", "-o", "none")
    cli.ok("data", "create", "--name", "heart-classifier-train", "--type", "uri_folder", "--path",
           "data/train", "-o", "none")  # fmt: skip
    cli.ok("compute", "create", "-n", "batch-cluster", "--type", "amlcompute", "-o", "none")
    endpoint = "uci-classifier-train"
    cli.ok("batch-endpoint", "create", "--name", endpoint, "-f", "endpoint.yml", "-o", "none")
    cli.ok("batch-deployment", "create", "--endpoint", endpoint, "-f",
           "deployment-onehot/deployment.yml", "-o", "none")  # fmt: skip
    name = cli.ok("batch-endpoint", "invoke", "-n", endpoint, "-d", "uci-classifier-train-onehot",
                  "--f", "inputs.yml")["name"]  # fmt: skip
    job = train.wait(name, 240)

    assert job["status"] == "Completed", job.get("error")
    prepared_run = run_of(train, f"{name}-preprocess_job")
    trained_run = run_of(train, f"{name}-train_job")
    # The steps' `mlflow.start_run(nested=True)` and autolog landed in the steps' runs.
    assert prepared_run.data.params["imputer__strategy"] == "median"
    assert {"accuracy", "recall"} <= set(trained_run.data.metrics)
    assert trained_run.data.params["n_estimators"] == "10"
    model = cli.ok("model", "show", "-n", "heart-classifier", "-l", "latest")
    assert (model["version"], model["type"]) == ("1", "mlflow_model")
    assert model["properties"]["mlflow.run_id"] == trained_run.info.run_id
    assert cli.ok("model", "list", "--query", "[].name") == ["heart-classifier"]

    # Deployed by name, as Azure's heart-classifier-mlflow example deploys its model: a
    # no-code deployment scoring the data the pipeline prepared (its target column ignored).
    deployment = {
        "name": "classifier-mlflow",
        "endpoint_name": "heart-classifier",
        "type": "model",
        "model": "azureml:heart-classifier@latest",
        "compute": "azureml:batch-cluster",
        "settings": {"output_action": "append_row", "output_file_name": "predictions.csv"},
    }
    Path("score-endpoint.yml").write_text("name: heart-classifier\n")
    Path("score-deployment.yml").write_text(yaml.safe_dump(deployment))
    cli.ok("batch-endpoint", "create", "-f", "score-endpoint.yml", "-o", "none")
    cli.ok(
        "batch-deployment", "create", "-f", "score-deployment.yml", "--set-default", "-o", "none"
    )
    prepared = f"azureml://datastores/workspaceblobstore/paths/azureml/{name}-preprocess_job/prepared_data/"
    scoring = cli.ok("batch-endpoint", "invoke", "-n", "heart-classifier", "--input", prepared)
    scored = train.wait(scoring["name"])

    assert scored["status"] == "Completed", scored.get("error")
    output = train.ws / "datastores/workspaceblobstore/azureml" / scoring["name"] / "score"
    rows = (output / "predictions.csv").read_text().splitlines()
    assert len(rows) == 60
    assert {row.split(",")[1] for row in rows} <= {"0", "1", "0.0", "1.0"}
