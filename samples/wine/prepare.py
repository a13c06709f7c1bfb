"""Make the sample's data and MLflow model from scikit-learn's bundled wine data (no download).

Writes, under --out (default: this folder):
  model/                         an MLflow model (sklearn and python_function flavors) of a
                                 classifier of the wine's cultivar, with a column signature
  data/wine-unlabeled-N.csv      the held-out rows, without their label, in --files CSV files
  labels.csv                     file,row,label for those rows (kept out of data/, which is scored)
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow.sklearn
import numpy as np
from mlflow.models import infer_signature
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0


def model_requirements() -> list[str]:
    """What the no-code deployment's jobs build their environment from (the model's
    requirements.txt): the versions this model was made with. mlflow-skinny, not the `mlflow`
    MLflow would write, as the scorer needs only MLflow's pyfunc loader; pyarrow for parquet."""
    packages = ("mlflow-skinny", "cloudpickle", "pandas", "pyarrow", "scikit-learn")
    return [f"{name}=={version(name)}" for name in packages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--files", type=int, default=3, help="CSV files to split the data into")
    args = parser.parse_args()

    features, target = load_wine(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=SEED, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(x_train, y_train)
    accuracy = model.score(x_test, y_test)

    model_dir = args.out / "model"
    shutil.rmtree(model_dir, ignore_errors=True)
    # cloudpickle, MLflow 2's default format, needs no package beyond mlflow-skinny; MLflow
    # warns about loading pickles, which is what it is for here.
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.sklearn.save_model(
            model,
            model_dir,
            signature=infer_signature(x_train, model.predict(x_train)),
            serialization_format="cloudpickle",
            pip_requirements=model_requirements(),
        )

    data_dir = args.out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("wine-unlabeled-*.csv"):
        stale.unlink()
    labels = []
    for index, rows in enumerate(np.array_split(np.arange(len(x_test)), args.files)):
        name = f"wine-unlabeled-{index}.csv"
        x_test.iloc[rows].to_csv(data_dir / name, index=False)
        labels += [(name, row, int(y_test.iloc[i])) for row, i in enumerate(rows)]
    with open(args.out / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("file", "row", "label"), *labels])

    print(
        f"prepare: {len(x_test)} rows in {args.files} files in {data_dir}, MLflow model in "
        f"{model_dir} (test accuracy {accuracy:.3f})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
