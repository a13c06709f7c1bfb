"""Tabular mini-batches at their seams: byte cuts on line ends (a bound on a line end, a line
longer than the bound, no last line end, CRLF, a header-only file), row cuts across the
planner's read chunks, the item strings, MLTable parsing and its refusals."""

from __future__ import annotations

import os
import textwrap
from typing import TYPE_CHECKING

import pytest

from batchml.core import mltable
from batchml.core.batch_job import DataInput
from batchml.core.errors import NotFoundError, UsageError
from batchml.core.row_ranges import RowRange, is_row_range, parse
from batchml.core.run_settings import RunSettings
from batchml.runner import tabular
from batchml.worker.tabular import is_tabular, mini_batch_frame

if TYPE_CHECKING:
    from pathlib import Path


def plan(folder: Path, size: str, table: str | None = None, **settings: object) -> list[str]:
    """The items of a one-item-per-mini-batch plan of `folder` (an MLTable one with `table`)."""
    if table is not None:
        (folder / "MLTable").write_text(textwrap.dedent(table))
        data = DataInput("mltable", str(folder), str(folder))
    else:
        data = DataInput("uri_folder", str(folder), str(folder))
    batches = tabular.plan(data, RunSettings(mini_batch_size=size, **settings))
    return [item for batch in batches for item in batch]


def spans(items: list[str]) -> list[tuple[int, int]]:
    found = []
    for item in items:
        span = parse(item).span
        assert span is not None
        found.append((span[1], span[2]))
    return found


def rows(items: list[str]) -> list[list[object]]:
    return [mini_batch_frame([item]).values.tolist() for item in items]


def test_a_bound_on_a_line_end_cuts_there(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"a\n11\n22\n33\n")  # header 2 bytes, then 3-byte lines
    items = plan(tmp_path, "3b")
    assert spans(items) == [(2, 5), (5, 8), (8, 11)]
    assert rows(items) == [[[11]], [[22]], [[33]]]


def test_a_line_longer_than_the_bound_is_one_mini_batch(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"a\n1\n" + b"x" * 50 + b"\n2\n3")  # no last line end
    items = plan(tmp_path, "2b")
    assert spans(items) == [(2, 4), (4, 55), (55, 57), (57, 58)]
    assert rows(items) == [[[1]], [["x" * 50]], [[2]], [[3]]]


def test_crlf_lines_and_a_header_only_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"x,y\r\n1,2\r\n3,4\r\n")
    (tmp_path / "b.csv").write_bytes(b"x,y\n")
    items = plan(tmp_path, "1 rows")
    assert spans(items) == [(5, 10), (10, 15), (4, 4)]
    assert rows(items[:2]) == [[[1, 2]], [[3, 4]]]
    empty = mini_batch_frame([items[2]])
    assert (list(empty.columns), len(empty)) == (["x", "y"], 0)


def test_row_cuts_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "_SCAN", 7)  # lines of 4 bytes fall across 7-byte chunks
    lines = [f"{i:03d}\n" for i in range(20)]
    (tmp_path / "t.csv").write_text("n\n" + "".join(lines))
    items = plan(tmp_path, "3 rows")
    assert [len(mini_batch_frame([item])) for item in items] == [3] * 6 + [2]
    assert [row for part in rows(items) for row in part] == [[i] for i in range(20)]


def test_no_header_and_from_first_file(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1;x\n2;y\n")
    items = plan(
        tmp_path,
        "1mb",
        "paths: [{file: a.csv}]\ntransformations:\n  - read_delimited: {delimiter: ';', header: "
        "no_header, infer_column_types: false}\n",
    )
    frame = mini_batch_frame(items)
    assert list(frame.columns) == ["Column1", "Column2"]
    assert frame.values.tolist() == [["1", "x"], ["2", "y"]]

    (tmp_path / "b.csv").write_text("id,name\n1,a\n")
    (tmp_path / "c.csv").write_text("2,b\n")
    items = plan(
        tmp_path,
        "1mb",
        "paths: [{pattern: '[bc].csv'}]\ntransformations:\n"
        "  - read_delimited: {header: from_first_file, include_path_column: true}\n",
    )
    frame = mini_batch_frame(items)
    assert frame[["id", "name"]].values.tolist() == [[1, "a"], [2, "b"]]
    assert frame["Path"].tolist() == [str(tmp_path / "b.csv"), str(tmp_path / "c.csv")]


def test_an_item_holds_any_path(tmp_path: Path) -> None:
    path = str(tmp_path / "a #b?c=d&e %41 é.csv")
    part = RowRange(path, "csv", {"delimiter": "&", "names": '["x/y", "z"]'}, ("bytes", 3, 9))
    item = part.item()
    assert "/" not in item.rpartition("#tabular?")[2]
    assert parse(item) == part
    assert is_row_range(item) and is_tabular([item])
    assert not is_tabular([path]) and not is_tabular([])
    where = RowRange(path, "parquet", {}, where={"k": "a/b", "n": None})
    assert parse(where.item()) == where


def test_mini_batch_size_in_rows() -> None:
    assert RunSettings(mini_batch_size="1000 rows").mini_batch_rows == 1000
    assert RunSettings(mini_batch_size=" 5 ROW ").mini_batch_rows == 5
    assert RunSettings(mini_batch_size="10mb").mini_batch_rows is None
    with pytest.raises(Exception, match="or rows such as '1000 rows'"):
        RunSettings(mini_batch_size="0 rows")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "paths: [{file: a.csv}]\ntransformations: [{read_delimited: {}}, {take: 5}]\n",
            "transformations[1]: take is not supported; batchml reads tables with "
            "read_delimited, read_parquet, read_json_lines only",
        ),
        (
            "paths: [{file: a.csv}]\ntransformations: [read_delta_lake]\n",
            "transformations[0]: read_delta_lake is not supported",
        ),
        (
            "paths: [{file: a.csv}]\ntransformations: [{read_parquet: {x: 1}}]\n",
            "transformations[0].read_parquet.x: is not supported; read_parquet takes "
            "include_path_column",
        ),
        (
            "paths: [{file: a.csv}]\ntransformations: [{read_delimited: {encoding: utf16}}]\n",
            "transformations[0].read_delimited.encoding: must be one of utf8, utf8bom, ascii",
        ),
        (
            "paths: [{file: a.csv}]\n"
            "transformations: [{read_delimited: {support_multi_line: true}}]\n",
            "transformations[0].read_delimited.support_multi_line: true is not supported",
        ),
        (
            "paths: [{file: 'azureml://datastores/d/paths/a.csv'}]\n"
            "transformations: [read_parquet]\n",
            "paths[0].file: azureml://datastores/d/paths/a.csv is a URL; batchml reads an "
            "MLTable's paths relative to its folder",
        ),
        ("paths: []\ntransformations: [read_parquet]\n", "paths: must list at least one"),
        ("paths: [{file: a.csv}]\n", "transformations: must hold exactly one of"),
    ],
)
def test_mltable_refusals(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "MLTable").write_text(text)
    with pytest.raises(UsageError) as raised:
        mltable.load(tmp_path)
    assert raised.value.message.startswith(f"{tmp_path / 'MLTable'}: {message}")


def test_a_url_in_mltable_paths_is_refused_with_the_way_to_read_the_table(
    tmp_path: Path,
) -> None:
    (tmp_path / "MLTable").write_text(
        "paths: [{file: a.csv}, {folder: 'https://example.com/t/'}]\n"
        "transformations: [read_parquet]\n"
    )
    with pytest.raises(UsageError) as raised:
        mltable.load(tmp_path)
    assert (raised.value.message, raised.value.hint) == (
        f"{tmp_path / 'MLTable'}: paths[1].folder: https://example.com/t/ is a URL; batchml "
        "reads an MLTable's paths relative to its folder (a local MLTable's may also be "
        "absolute paths on this machine), not URLs",
        "put the MLTable file in the storage folder with the table's files, its paths "
        "relative to it, and pass that folder: --input <folder URL> --input-type mltable",
    )


def test_a_folder_without_an_mltable_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="has no MLTable file"):
        mltable.load(tmp_path)


def test_a_non_tabular_file_in_a_folder_split_by_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UsageError, match=r"notes.txt is not a .csv, .parquet, .pqt or .jsonl"):
        plan(tmp_path, "10 rows")


def test_a_uri_file_split_by_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n2\n3\n")
    data = DataInput("uri_file", str(tmp_path / "a.csv"), str(tmp_path / "a.csv"))
    settings = RunSettings(mini_batch_size="2 rows")
    assert data.in_rows(settings)
    assert not data.in_rows(RunSettings(mini_batch_size="2mb"))
    batches = tabular.plan(data, settings)
    assert [len(mini_batch_frame(batch)) for batch in batches] == [2, 1]


def test_an_mltable_path_that_is_not_there_is_refused_up_front(tmp_path: Path) -> None:
    (tmp_path / "MLTable").write_text(
        "paths: [{file: gone.csv}]\ntransformations: [read_parquet]\n"
    )
    with pytest.raises(NotFoundError, match=r"paths file gone\.csv not found"):
        tabular.check_table(tmp_path)
    (tmp_path / "MLTable").write_text(
        "paths: [{pattern: '*.csv'}]\ntransformations: [read_parquet]\n"
    )
    with pytest.raises(NotFoundError, match="names no files"):
        tabular.check_table(tmp_path)


def test_partition_keys_of_dates_are_refused(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"day": pd.to_datetime(["2024-01-01"]), "v": [1]}).to_parquet(
        tmp_path / "a.parquet"
    )
    with pytest.raises(UsageError, match="partition_keys: column day holds Timestamp values"):
        plan(tmp_path, "10", partition_keys=["day"])


CONVERTED = """\
    paths: [{file: t.csv}]
    transformations:
      - read_delimited: {header: all_files_same_headers}
      - convert_column_types:
          - {columns: [id, code], column_type: int}
          - {columns: code, column_type: string}
          - {columns: [ok], column_type: boolean}
          - {columns: [at], column_type: datetime}
          - {columns: [x], column_type: float}
    """


def test_convert_column_types_gives_every_mini_batch_the_same_dtypes(tmp_path: Path) -> None:
    # Inferred per mini-batch, the first range's id is int64 and the second's float64 (a
    # missing value), code loses its leading zeros, x is int64 then float64.
    (tmp_path / "t.csv").write_text(
        "id,code,ok,at,x\n1,007,true,2024-01-02,1\n2,010,false,2024-01-03,2\n"
        ",011,,2024-01-04 10:00:00,2.5\n4,012,true,,3\n"
    )
    items = plan(tmp_path, "2 rows", CONVERTED)

    frames = [mini_batch_frame([item]) for item in items]

    dtypes = [{name: str(dtype) for name, dtype in frame.dtypes.items()} for frame in frames]
    assert (
        dtypes
        == [{"id": "Int64", "code": "str", "ok": "boolean", "at": "datetime64[ns]", "x": "float64"}]
        * 2
    )
    assert frames[0]["code"].tolist() == ["007", "010"]
    assert frames[1]["id"].isna().tolist() == [True, False]
    assert frames[1]["ok"].isna().tolist() == [True, False]


def test_without_convert_column_types_types_are_inferred_per_mini_batch(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,x\n1,1\n,2.5\n")
    frames = [mini_batch_frame([item]) for item in plan(tmp_path, "1 rows")]
    assert [str(frame["x"].dtype) for frame in frames] == ["int64", "float64"]


@pytest.mark.parametrize(
    ("conversion", "message"),
    [
        (
            "{columns: [at], column_type: {datetime: {formats: ['%d/%m/%Y']}}}",
            "convert_column_types[0].column_type: {datetime: ...} is not supported; batchml "
            "takes int, float, string, boolean, datetime",
        ),
        (
            "{columns: [ok], column_type: {boolean: {true_values: [y]}}}",
            "convert_column_types[0].column_type: {boolean: ...} is not supported",
        ),
        (
            "{columns: [a], column_type: decimal}",
            "convert_column_types[0].column_type: must be one of int, float",
        ),
        ("{columns: [a]}", "convert_column_types[0]: must have exactly columns and column_type"),
    ],
)
def test_convert_column_types_refusals(tmp_path: Path, conversion: str, message: str) -> None:
    (tmp_path / "MLTable").write_text(
        "paths: [{file: a.csv}]\n"
        f"transformations: [read_delimited, {{convert_column_types: [{conversion}]}}]\n"
    )
    with pytest.raises(UsageError) as raised:
        mltable.load(tmp_path)
    assert raised.value.message.startswith(
        f"{tmp_path / 'MLTable'}: transformations[1].{message}"
    ), raised.value.message


def test_convert_column_types_casts_parquet_and_json_lines_columns(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"id": [1, 2], "x": [3, 4]}).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "t.jsonl").write_text('{"id": 1, "x": 3}\n{"id": 2, "x": 4}\n')
    conversion = "- convert_column_types: [{columns: [x], column_type: float}, {columns: id, column_type: string}]\n"
    for folder, reader in ((tmp_path, "read_parquet"), (tmp_path / "j", "read_json_lines")):
        paths = "[{file: t.parquet}]" if reader == "read_parquet" else "[{file: t.jsonl}]"
        table = f"paths: {paths}\ntransformations:\n- {reader}\n{conversion}"
        frame = mini_batch_frame(plan(folder, "1 rows", table))

        assert (str(frame["id"].dtype), str(frame["x"].dtype)) == ("str", "float64"), reader
        assert frame.values.tolist() == [["1", 3.0], ["2", 4.0]], reader


GLOB_TREE = [
    "a.csv", "b.CSV", ".hidden.csv", "x[1].csv", "n/c.csv", "n/d.txt", "n/m/e.csv",
    "n/.h/f.csv", ".dot/g.csv", "q/r/s/t.csv", "ab", "n/m/.i.csv",
]  # fmt: skip


@pytest.mark.parametrize(
    "pattern",
    [
        "*.csv", "**/*.csv", "**", "n/**", "n/**/*.csv", "**/m/*", "?.csv", "[ab].*",
        "[!a].csv", "x[[]1].csv", ".*", "n/.*/*.csv", "**/.*.csv", "*/*/*", "n/*/e.csv",
        "a.csv", "n", "gone/*.csv", "*[", "a*", "q/**/t.csv", "**/**/*.csv", ".dot/*",
    ],
)  # fmt: skip
def test_a_pattern_matches_a_listing_as_glob_matches_files(tmp_path: Path, pattern: str) -> None:
    import glob

    for relative in GLOB_TREE:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    found = glob.glob(str(tmp_path / pattern), recursive=True)
    # (glob gives a file twice for two ways of matching it; the planner keeps it once)
    local = sorted({os.path.relpath(path, tmp_path) for path in found if os.path.isfile(path)})

    parts = f"{tmp_path}/{pattern}".split("/")
    literal = mltable.pattern_folder(parts)
    folder = "/".join(parts[:literal])
    listed = [f"{tmp_path}/{relative}" for relative in GLOB_TREE]
    under = [path[len(folder) + 1 :] for path in listed if path.startswith(folder + "/")]
    matched = sorted(path for path in under if mltable.matches(parts[literal:], path.split("/")))

    assert [os.path.relpath(f"{folder}/{path}", tmp_path) for path in matched] == local
