"""A tabular mini-batch as run() gets it: its row ranges (batchml.core.row_ranges) read with
pyarrow and put together as one pandas DataFrame, rows in the order of the items, index 0..n-1.

CSV columns are named by the file's header line (or the first file's, or Column1, Column2, ...
without one); types are inferred per mini-batch (all strings with infer_column_types false),
empty fields are missing values (empty strings with empty_as_string). A `Path` column holds
the file's path when include_path_column is true (a row range staged from storage: the
blob's, as its `shown` option names it). The DataFrame's attrs["row_ranges"] lists
each item with its number of rows (the MLflow scorer names the file of each row with it).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from batchml.core.row_ranges import RowRange, is_row_range, parse

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    import pyarrow as pa

PATH_COLUMN = "Path"


@dataclass(frozen=True)
class MiniBatchContext:
    """The second argument of a partitioned run(input_data, mini_batch_context), as Azure's
    parallel jobs give it: the mini-batch's partition_keys values, by key."""

    partition_key_value: dict[str, Any]
    minibatch_index: int


def context_of(items: Sequence[str], index: int) -> MiniBatchContext | None:
    """The context of a partitioned mini-batch (None for any other)."""
    where = parse(items[0]).where if is_tabular(items) else None
    return MiniBatchContext(where, index) if where is not None else None


def is_tabular(items: Sequence[str]) -> bool:
    """Whether a mini-batch is row ranges (run() then gets a DataFrame), not files."""
    return bool(items) and all(is_row_range(item) for item in items)


def mini_batch_frame(items: Sequence[str]) -> pd.DataFrame:
    """The DataFrame of a tabular mini-batch."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            f"tabular mini-batches need pandas and pyarrow in the job's environment: {exc}"
        ) from None
    frames = [read(parse(item)) for item in items]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.attrs["row_ranges"] = [
        (item, len(part)) for item, part in zip(items, frames, strict=True)
    ]
    return frame


def read(part: RowRange, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of one row range (only `columns`, if given, and then no Path column)."""
    pinned = json.loads(part.options.get("convert", "{}"))
    if columns is not None:  # the planner's read of the partition keys
        pinned = {name: kind for name, kind in pinned.items() if name in columns}
    table = _cast(_table(part, columns, pinned), pinned, part.path)
    frame = table.to_pandas()
    for name, kind in pinned.items():
        if name in frame and kind in _NULLABLE:  # the same dtype, missing values or not
            frame[name] = frame[name].astype(_NULLABLE[kind])
    if part.where is not None:
        keep = None
        for key, value in part.where.items():
            matches = frame[key].isna() if value is None else frame[key] == value
            keep = matches if keep is None else keep & matches
        frame = frame[keep].reset_index(drop=True)
    if columns is None and part.options.get("path_column") == "1":
        frame[PATH_COLUMN] = part.options.get("shown", part.path)  # a blob's, not its cache's
    return frame


def columns(part: RowRange, file: BinaryIO | None = None) -> list[str]:
    """The names of a file's columns, from as little of it as says them: a CSV's header line
    (or its given names), a parquet footer's schema, a JSON lines file's first record; read
    from `file` if given (a seekable one, such as a blob's in storage), else from the path."""
    if part.format == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(part.path if file is None else file).names)
    encoding = part.options.get("encoding", "utf-8")
    if part.format == "csv":
        return _names(part, part.options.get("delimiter", ","), encoding, file)
    with _opened(part, file) as opened:
        first = opened.readline().decode(encoding).strip()
    record = json.loads(first) if first else {}
    return list(record) if isinstance(record, dict) else []


# convert_column_types' names (batchml.core.mltable.COLUMN_TYPES) as pyarrow and pandas types.
_ARROW = {"int": "int64", "float": "float64", "string": "string", "boolean": "bool"}
_NULLABLE = {"int": "Int64", "boolean": "boolean"}


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("ns") if kind == "datetime" else pa.type_for_alias(_ARROW[kind])


def _cast(table: pa.Table, pinned: dict[str, str], path: str) -> pa.Table:
    """`table` with the columns convert_column_types names cast to their types."""
    for name, kind in pinned.items():
        if name not in table.column_names:
            if table.num_rows:  # else an empty range, which may have no columns at all
                raise ValueError(f"convert_column_types: {path} has no column {name}")
            continue
        index = table.column_names.index(name)
        table = table.set_column(index, name, table.column(name).cast(_arrow_type(kind)))
    return table


def _table(part: RowRange, columns: list[str] | None, pinned: dict[str, str]) -> pa.Table:
    if part.format == "parquet":
        return _parquet(part, columns)
    data = _bytes(part)
    encoding = part.options.get("encoding", "utf-8")
    if part.format == "jsonl":
        return _json_lines(data, encoding, part.options.get("invalid") == "drop", columns)
    return _csv(part, data, encoding, columns, pinned)


def _bytes(part: RowRange) -> bytes:
    """The range's bytes (past a CSV header line, for the whole file too)."""
    with open(part.path, "rb") as file:
        if part.span is not None:
            _, start, end = part.span
            file.seek(start)
            return file.read(end - start)
        if part.options.get("header") == "line":
            file.readline()
        return file.read()


def _csv(
    part: RowRange, data: bytes, encoding: str, columns: list[str] | None, pinned: dict[str, str]
) -> pa.Table:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    delimiter = part.options.get("delimiter", ",")
    names = _names(part, delimiter, encoding)
    if encoding == "utf-8-sig":  # a BOM starts the file, so only a range from byte 0
        data = data.removeprefix(b"\xef\xbb\xbf")
    if columns is not None:
        missing = [name for name in columns if name not in names]
        if missing:
            raise ValueError(f"{part.path} has no column {missing[0]} (it has {', '.join(names)})")
    if not data.strip():
        return pa.table({name: pa.array([], pa.string()) for name in columns or names})
    types = {} if part.options.get("types", "1") == "1" else dict.fromkeys(names, pa.string())
    # Pinned columns are parsed from their text as their type, not inferred then cast.
    types.update({name: _arrow_type(kind) for name, kind in pinned.items() if name in names})
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(
            column_names=names, encoding="utf-8" if encoding == "utf-8-sig" else encoding
        ),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types=types or None,
            strings_can_be_null=part.options.get("empty", "0") == "0",
            include_columns=columns,
        ),
    )


def _names(
    part: RowRange, delimiter: str, encoding: str, file: BinaryIO | None = None
) -> list[str]:
    """The CSV's column names: given, the header line's, or Column1... as many as fields."""
    if "names" in part.options:
        return list(json.loads(part.options["names"]))
    with _opened(part, file) as opened:
        line = opened.readline().decode(encoding)
    fields = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    if part.options.get("header") == "line":
        return fields
    return [f"Column{index}" for index in range(1, len(fields) + 1)]


def _opened(part: RowRange, file: BinaryIO | None) -> contextlib.AbstractContextManager[BinaryIO]:
    """`file` (left open), else the part's file opened."""
    return contextlib.nullcontext(file) if file is not None else open(part.path, "rb")


def _json_lines(data: bytes, encoding: str, drop: bool, columns: list[str] | None) -> pa.Table:
    import pyarrow as pa
    from pyarrow import json as pajson

    text = data.decode(encoding)
    if drop:
        records = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        table = pa.Table.from_pylist(records)
    elif not text.strip():
        table = pa.table({})
    else:
        table = pajson.read_json(io.BytesIO(text.encode("utf-8")))
    if columns is None:
        return table
    missing = [name for name in columns if name not in table.column_names]
    if missing and table.num_rows:
        raise ValueError(f"a JSON lines record has no field {missing[0]}")
    return table.select(columns) if not missing else pa.table({name: [] for name in columns})


def _parquet(part: RowRange, columns: list[str] | None) -> pa.Table:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(part.path)
    if part.span is None:
        return file.read(columns=columns)
    _, start, end = part.span
    groups, first, at = [], None, 0
    for index in range(file.metadata.num_row_groups):
        rows = file.metadata.row_group(index).num_rows
        if at < end and at + rows > start:
            groups.append(index)
            first = at if first is None else first
        at += rows
    if not groups:
        return file.schema_arrow.empty_table()
    table = file.read_row_groups(groups, columns=columns)
    assert first is not None
    return table.slice(start - first, end - start)
