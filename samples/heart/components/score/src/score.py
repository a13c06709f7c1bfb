"""The score step: predict every CSV file of --data_path with the MLflow model of --model_path.

Writes one CSV per input CSV, with the same file name, to --scores_path: with --score_mode
append, the input columns and a `prediction` column; with --score_mode prediction, the
`prediction` column only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd


def model_folder(path: Path) -> Path:
    """`path` if it holds an MLmodel file, else its one subfolder that does (a registered
    model's own folder)."""
    if (path / "MLmodel").is_file():
        return path
    found = sorted(path.glob("*/MLmodel"))
    if len(found) != 1:
        raise SystemExit(f"score: no MLflow model (an MLmodel file) in {path}")
    return found[0].parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", type=Path, required=True, help="an MLflow model folder")
    parser.add_argument("--data_path", type=Path, required=True, help="folder of CSV files")
    parser.add_argument("--score_mode", choices=["append", "prediction"], default="append")
    parser.add_argument("--scores_path", type=Path, required=True)
    args = parser.parse_args()

    folder = model_folder(args.model_path)
    model = mlflow.pyfunc.load_model(str(folder))
    print(f"score: loaded the MLflow model of {folder}")
    files = sorted(args.data_path.glob("*.csv"))
    if not files:
        raise SystemExit(f"score: no CSV files in {args.data_path}")
    args.scores_path.mkdir(parents=True, exist_ok=True)

    counts: dict[str, int] = {}
    for path in files:
        frame = pd.read_csv(path)
        predictions = np.asarray(model.predict(frame)).ravel()
        if args.score_mode == "append":
            scores = frame.assign(prediction=predictions)
        else:
            scores = pd.DataFrame({"prediction": predictions})
        scores.to_csv(args.scores_path / path.name, index=False)
        values, numbers = np.unique(predictions, return_counts=True)
        for value, number in zip(values, numbers, strict=True):
            counts[str(value)] = counts.get(str(value), 0) + int(number)
        print(f"score: {path.name}: {len(frame)} rows scored")
    total = sum(counts.values())
    summary = ", ".join(f"{value}: {number}" for value, number in sorted(counts.items()))
    print(
        f"score: {total} rows in {len(files)} files, score mode {args.score_mode}; "
        f"predictions {summary}; written to {args.scores_path}"
    )


if __name__ == "__main__":
    main()
