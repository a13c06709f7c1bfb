"""The MLflow scorer's pure parts: how files are read for a signature and predictions written."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from batchml.mlflow.inputs import kind_of, read_table
from batchml.mlflow.predictions import image_line, table_lines

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("prediction", "lines"),
    [
        (np.array([1, 0]), ["0,1,a.csv", "1,0,a.csv"]),
        (pd.Series(["yes", "no"]), ["0,yes,a.csv", "1,no,a.csv"]),
        (pd.DataFrame({"p": [0.5, 0.25]}), ["0,0.5,a.csv", "1,0.25,a.csv"]),
        (
            pd.DataFrame({"label": ["a", "b"], "score": [0.5, 1.0]}),
            [
                '0,"{""label"": ""a"", ""score"": 0.5}",a.csv',
                '1,"{""label"": ""b"", ""score"": 1.0}",a.csv',
            ],
        ),
        (np.array([[0.25, 0.75], [1.0, 0.0]]), ['0,"[0.25, 0.75]",a.csv', '1,"[1.0, 0.0]",a.csv']),
        ([3, "x,y"], ["0,3,a.csv", '1,"x,y",a.csv']),
    ],
)
def test_table_lines(prediction: object, lines: list[str]) -> None:
    assert table_lines(prediction, 2, "/data/a.csv") == lines


def test_table_lines_need_a_prediction_per_row() -> None:
    with pytest.raises(ValueError, match=r"^predict\(\) returned 1 predictions for 2 rows$"):
        table_lines(np.array([1]), 2, "/data/a.csv")


@pytest.mark.parametrize(
    ("prediction", "value"),
    [
        (np.array([7]), "7"),
        (np.array([[0.5, 0.5]]), '"[0.5, 0.5]"'),
        (pd.DataFrame({"p": ["cat"]}), "cat"),
        ({"probs": np.array([0.5])}, '"{""probs"": [0.5]}"'),
        ("seven", "seven"),
    ],
)
def test_image_line(prediction: object, value: str) -> None:
    # A batch of one image: a one-value result is that value; a name with a comma is quoted.
    assert image_line(prediction, "/data/b,c.png") == f'{value},"b,c.png"'


@pytest.mark.parametrize("name", ["a.CSV", "b.Parquet", "c.pqt", "d.PNG", "e.jpeg", "f.tiff"])
def test_supported_file_types_ignore_case(name: str) -> None:
    assert kind_of(name) in ("tabular", "image")


@pytest.mark.parametrize(("name", "kind"), [("a.avro", "avro"), ("README", "(none)")])
def test_other_file_types_are_not_supported(name: str, kind: str) -> None:
    with pytest.raises(ValueError, match=rf"^file type '{re.escape(kind)}' is not supported; "):
        kind_of(name)


def test_columns_are_read_as_the_signature_types(tmp_path: Path) -> None:
    from mlflow.types.schema import ColSpec, Schema

    path = tmp_path / "a.csv"
    path.write_text("d,n,s,t,extra\n1,2.0,7,2024-01-02,x\n3,4.0,8,2024-05-06,y\n")
    schema = Schema(
        [
            ColSpec("double", "d"),
            ColSpec("long", "n"),
            ColSpec("string", "s"),
            ColSpec("datetime", "t"),
            ColSpec("double", "absent"),
        ]
    )
    frame = read_table(str(path), schema)
    assert {column: str(frame[column].dtype) for column in ("d", "n")} == {
        "d": "float64",
        "n": "int64",
    }
    assert frame["t"].dt.month.tolist() == [1, 5]
    assert frame["s"].tolist() == ["7", "8"]
    assert frame["extra"].tolist() == ["x", "y"]
