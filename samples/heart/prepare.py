"""Make the sample's data, transformations and MLflow model from scikit-learn's bundled breast
cancer data (no download).

The 569 tumors have 30 numeric measurements; the `mean area` measurement is replaced by a
categorical column `size` (small: below 500, medium: below 800, large), so that the prepare
step has a column to encode. 70% of the rows train, 30% are held out.

Writes, under --out (default: this folder):
  transformations/                  the prepare component's transformations, learned by running
                                    components/prepare/src/prepare.py on the training rows
  model/                            an MLflow model (sklearn and python_function flavors) of a
                                    logistic regression trained on the PREPARED training rows:
                                    it expects scaled and encoded columns, not the raw data
  data/unlabeled/breast-cancer-N.csv  the held-out rows, raw and without their label, in --files
                                    CSV files
  labels.csv                        file,row,label for those rows (0 malignant, 1 benign)
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

SEED = 0
HERE = Path(__file__).resolve().parent
PREPARE = HERE / "components" / "prepare" / "src" / "prepare.py"


def load() -> tuple[pd.DataFrame, pd.Series]:
    """The features, with snake_case names and `size` in place of `mean_area`, and the label."""
    features, target = load_breast_cancer(return_X_y=True, as_frame=True)
    features.columns = [name.replace(" ", "_") for name in features.columns]
    size = pd.cut(
        features["mean_area"],
        [0, 500, 800, np.inf],
        right=False,
        labels=["small", "medium", "large"],
    ).astype(str)
    features.insert(features.columns.get_loc("mean_area"), "size", size)
    return features.drop(columns="mean_area"), target


def run_prepare(data: Path, prepared: Path, transformations: Path, *options: str) -> None:
    """Run the prepare component's script, as the pipeline's first step does."""
    command = [
        sys.executable,
        str(PREPARE),
        "--data_path",
        str(data),
        *options,
        "--prepared_data_path",
        str(prepared),
        "--transformations_output_path",
        str(transformations),
    ]
    subprocess.run(command, check=True, stdout=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--files", type=int, default=3, help="CSV files to split the data into")
    parser.add_argument(
        "--categorical-encoding",
        choices=["ordinal", "onehot"],
        default="ordinal",
        help="the encoding the transformations learn (the model is trained on it)",
    )
    args = parser.parse_args()

    features, target = load()
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.3, random_state=SEED, stratify=target
    )

    transformations_dir = args.out / "transformations"
    shutil.rmtree(transformations_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        # Learn the transformations and prepare the training rows with the component itself.
        (work / "train").mkdir()
        x_train.to_csv(work / "train" / "breast-cancer-train.csv", index=False)
        run_prepare(
            work / "train",
            work / "train-prepared",
            transformations_dir,
            "--categorical_encoding",
            args.categorical_encoding,
        )
        prepared_train = pd.read_csv(work / "train-prepared" / "breast-cancer-train.csv")
        # The held-out rows, prepared as the pipeline will: for the accuracy printed below.
        (work / "test").mkdir()
        x_test.to_csv(work / "test" / "breast-cancer-test.csv", index=False)
        run_prepare(
            work / "test",
            work / "test-prepared",
            work / "test-transformations",
            "--transformations_path",
            str(transformations_dir),
        )
        prepared_test = pd.read_csv(work / "test-prepared" / "breast-cancer-test.csv")

    model = LogisticRegression(max_iter=1000, random_state=SEED)
    model.fit(prepared_train, y_train)
    accuracy = model.score(prepared_test, y_test)

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
            signature=infer_signature(prepared_train, model.predict(prepared_train)),
            serialization_format="cloudpickle",
        )

    data_dir = args.out / "data" / "unlabeled"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    labels = []
    for index, rows in enumerate(np.array_split(np.arange(len(x_test)), args.files)):
        name = f"breast-cancer-{index}.csv"
        x_test.iloc[rows].to_csv(data_dir / name, index=False)
        labels += [(name, row, int(y_test.iloc[i])) for row, i in enumerate(rows)]
    with open(args.out / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("file", "row", "label"), *labels])

    print(
        f"prepare: {len(x_test)} rows in {args.files} files in {data_dir}, transformations "
        f"({args.categorical_encoding}) in {transformations_dir}, MLflow model in {model_dir} "
        f"(test accuracy after the prepare step {accuracy:.3f})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
