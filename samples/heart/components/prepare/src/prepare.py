"""The prepare step: scale the numeric columns and encode the categorical ones of every CSV file.

With --transformations_path, applies the transformations found there (learned before, on the
training data) and copies them to --transformations_output_path. Without it, learns them from
all the CSV files of --data_path together: a StandardScaler on the numeric columns and an
ordinal or one-hot encoding (--categorical_encoding) of the others.

Writes one prepared CSV per input CSV, with the same file name, to --prepared_data_path, and
the transformations to --transformations_output_path:
  transformations.joblib    the fitted scikit-learn ColumnTransformer
  transformations.json      what it does: encoding, columns, categories, output columns
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

TRANSFORMATIONS_FILE = "transformations.joblib"
DESCRIPTION_FILE = "transformations.json"
# Categories with a natural order, which the ordinal encoding keeps (others: sorted).
CATEGORY_ORDER = {"size": ["small", "medium", "large"]}


def learn(frame: pd.DataFrame, encoding: str) -> ColumnTransformer:
    """A ColumnTransformer fitted on `frame`: numeric columns scaled, the others encoded."""
    numeric = list(frame.select_dtypes("number").columns)
    categorical = [column for column in frame.columns if column not in numeric]
    categories = [
        CATEGORY_ORDER.get(column) or sorted(frame[column].dropna().astype(str).unique())
        for column in categorical
    ]
    if encoding == "ordinal":
        encoder: OrdinalEncoder | OneHotEncoder = OrdinalEncoder(
            categories=categories, handle_unknown="use_encoded_value", unknown_value=-1
        )
    else:
        encoder = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)
    transformations = ColumnTransformer(
        [("numeric", StandardScaler(), numeric), ("categorical", encoder, categorical)],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return transformations.fit(frame)


def describe(transformations: ColumnTransformer, encoding: str, fitted_on: dict) -> dict:
    """What the transformations do, for people and for `batchml model show`."""
    _, _, numeric = transformations.transformers_[0]
    _, encoder, categorical = transformations.transformers_[1]
    return {
        "categorical_encoding": encoding,
        "numeric_columns": {"columns": list(numeric), "scaling": "standard (mean 0, std 1)"},
        "categorical_columns": {
            column: list(values)
            for column, values in zip(categorical, encoder.categories_, strict=True)
        },
        "output_columns": list(transformations.get_feature_names_out()),
        "fitted_on": fitted_on,
        "scikit-learn": sklearn.__version__,
    }


def find(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/<one subfolder>/name` (a registered model's own folder)."""
    candidates = [folder / name, *sorted(folder.glob(f"*/{name}"))]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(f"prepare: no {name} in {folder} (nor in a subfolder of it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", type=Path, required=True, help="folder of CSV files")
    parser.add_argument(
        "--transformations_path", type=Path, help="transformations to apply (default: learn)"
    )
    parser.add_argument(
        "--categorical_encoding",
        choices=["ordinal", "onehot"],
        default="ordinal",
        help="encoding of the categorical columns when learning the transformations",
    )
    parser.add_argument("--prepared_data_path", type=Path, required=True)
    parser.add_argument("--transformations_output_path", type=Path, required=True)
    args = parser.parse_args()

    files = sorted(args.data_path.glob("*.csv"))
    if not files:
        raise SystemExit(f"prepare: no CSV files in {args.data_path}")
    frames = {path.name: pd.read_csv(path) for path in files}
    rows = sum(len(frame) for frame in frames.values())
    print(f"prepare: {len(files)} CSV files, {rows} rows, from {args.data_path}")
    args.prepared_data_path.mkdir(parents=True, exist_ok=True)
    args.transformations_output_path.mkdir(parents=True, exist_ok=True)

    if args.transformations_path:
        source = find(args.transformations_path, TRANSFORMATIONS_FILE)
        transformations = joblib.load(source)
        description = json.loads((source.parent / DESCRIPTION_FILE).read_text())
        encoding = description["categorical_encoding"]
        print(f"prepare: applying the transformations of {source.parent} ({encoding} encoding)")
        if args.categorical_encoding != encoding:
            print(
                f"prepare: --categorical_encoding {args.categorical_encoding} is ignored: "
                "the given transformations decide the encoding"
            )
        shutil.copytree(source.parent, args.transformations_output_path, dirs_exist_ok=True)
    else:
        encoding = args.categorical_encoding
        transformations = learn(pd.concat(frames.values(), ignore_index=True), encoding)
        description = describe(transformations, encoding, {"files": list(frames), "rows": rows})
        joblib.dump(transformations, args.transformations_output_path / TRANSFORMATIONS_FILE)
        (args.transformations_output_path / DESCRIPTION_FILE).write_text(
            json.dumps(description, indent=2) + "\n"
        )
        print(
            f"prepare: learned the transformations ({encoding} encoding) and wrote them to "
            f"{args.transformations_output_path}"
        )
    print(f"prepare: numeric columns scaled: {len(description['numeric_columns']['columns'])}")
    for column, values in description["categorical_columns"].items():
        print(f"prepare: categorical column {column} ({encoding}): {', '.join(values)}")

    for name, frame in frames.items():
        ignored = [c for c in frame.columns if c not in transformations.feature_names_in_]
        prepared = transformations.transform(frame)
        prepared.to_csv(args.prepared_data_path / name, index=False)
        note = f"; columns not transformed, dropped: {', '.join(ignored)}" if ignored else ""
        print(f"prepare: {name}: {len(prepared)} rows, {prepared.shape[1]} columns{note}")
    print(f"prepare: prepared data in {args.prepared_data_path}")


if __name__ == "__main__":
    main()
