"""Mini-batches of rows for tabular inputs (batchml.core.row_ranges says what an item is).

An `mltable` input is always split by rows; a `uri_folder` or `uri_file` is when its
mini_batch_size is rows ("1000 rows") or partition_keys are set (its files then .csv,
.parquet/.pqt or .jsonl). A
mini-batch never spans two files, except with partition_keys: then it is one per distinct
combination of the keys' values, every file's rows with it. Otherwise each file is cut:

- by size ("10MB"; a count of files, as the deployment's default 10, means 1MB for an mltable,
  Azure's tabular default): CSV and JSON lines into byte ranges cut at the first line end past
  each bound (planning reads one line per cut, not the rows); parquet into runs of row groups
  whose compressed size fits the bound, a bigger row group alone.
- by rows ("1000 rows"): CSV and JSON lines by their line ends (planning scans the file's bytes
  for them once), parquet by row numbers.

A record's line breaks end it, inside quotes too (as Azure's read_delimited with
support_multi_line false, its default). Planning is deterministic: a resume plans the same
mini-batches from the same files (changed files change the plan, and the journal refuses it).
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from batchml.core import mltable
from batchml.core.errors import NotFoundError, UsageError
from batchml.core.row_ranges import RowRange, is_row_range, parse
from batchml.runner.line_cuts import byte_cuts, file_reader, line_end
from batchml.store.input_list import walk

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from batchml.core.batch_job import DataInput
    from batchml.core.run_settings import RunSettings
    from batchml.runner.line_cuts import Read
    from batchml.store.blob_ranges import Blob
    from batchml.store.workspace import Workspace

DEFAULT_BYTES = 1000**2
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pqt": "parquet", ".jsonl": "jsonl"}
_SCAN = 16 * 1024 * 1024
_PROBE = 64 * 1024  # what invoke reads of a blob at a time for its columns


@dataclass(frozen=True)
class _Source:
    """A file of the table and how to read it (a RowRange with no span yet); `blob`, the blob
    it is for a table in storage (`path` then the blob's path in its account)."""

    path: str
    format: str
    options: dict[str, str]
    blob: Blob | None = field(default=None, compare=False)


class RowBatches(list[tuple[str, ...]]):
    """A plan of row ranges; `blobs`, by path, those of a table in storage (else empty)."""

    def __init__(self, batches: Iterable[tuple[str, ...]], blobs: dict[str, Blob]) -> None:
        super().__init__(batches)
        self.blobs = blobs


def plan(data: DataInput, settings: RunSettings, workspace: Workspace | None = None) -> RowBatches:
    """The job's mini-batches of row ranges, in the order of the table's files (a table in
    storage read through `workspace`'s datastores)."""
    try:
        sources = list(_sources(data, workspace))
        blobs = {source.path: source.blob for source in sources if source.blob is not None}
        if settings.partition_keys:
            return RowBatches(_partitions(sources, settings.partition_keys), blobs)
        rows = settings.mini_batch_rows
        bound = settings.mini_batch_bytes or DEFAULT_BYTES
        if blobs:  # each cut a ranged read: a few files at once
            from batchml.store.blob_ranges import each

            splits: Iterable[list[RowRange]] = each(
                lambda source: _split(source, rows, bound), sources
            )
        else:
            splits = (_split(source, rows, bound) for source in sources)
        return RowBatches(((part.item(),) for split in splits for part in split), blobs)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise UsageError(f"cannot split the tabular input {data.path} into rows: {exc}") from None


def check(data: DataInput, settings: RunSettings, workspace: Workspace | None = None) -> None:
    """Refuse at invoke, before any job exists, what planning would refuse later:
    partition_keys naming a column the table's first file lacks (a table in storage read
    through `workspace`'s datastores: its first file's header or footer, by ranges); a
    folder or file at an http server that ignores ranges (an MLTable's: open_table)."""
    if not data.in_rows(settings):
        return
    if not settings.partition_keys:
        if data.remote is not None and data.type != "mltable":
            from batchml.runner.table_storage import check_ranges

            assert workspace is not None
            check_ranges(workspace, data)
        return
    from batchml.worker.tabular import columns

    first = next(_sources(data, workspace), None)
    if first is None:  # an empty folder: invoke says so itself
        return
    shown = first.blob.shown if first.blob is not None else first.path
    try:
        with _columns_file(first) as file:
            there = columns(RowRange(first.path, first.format, first.options), file)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the columns of {shown}: {exc}") from None
    for key in settings.partition_keys:
        if key not in there:
            raise UsageError(
                f"partition_keys: the tabular input {data.path} has no column {key} "
                f"({shown} has {', '.join(there) or 'no columns'})",
                hint="name columns the table has in partition_keys",
            )


@contextlib.contextmanager
def _columns_file(source: _Source) -> Iterator[BinaryIO | None]:
    """A blob's bytes as a buffered file read by ranged downloads (None for a local file)."""
    if source.blob is None:
        yield None
        return
    from batchml.store import remote

    with remote.storage_errors(source.blob.shown):
        yield io.BufferedReader(source.blob.file(), _PROBE)


def check_table(folder: Path) -> None:
    """Refuse, before any job exists, an MLTable in `folder` that a job could not read: its
    file, its transformations, its paths (files that are not there)."""
    _table_sources(mltable.load(folder))


def file_of(item: str) -> str:
    """The file an item reads: the file of a row range, else the item itself."""
    return parse(item).path if is_row_range(item) else item


def item_bytes(item: str, blobs: dict[str, Blob] | None = None) -> int:
    """About how many bytes of its file a row range holds (a byte range's length; a parquet
    row range's share of its file; a whole file's size), as a dry run's plan shows them
    (`blobs`: the plan's, for a table in storage)."""
    part = parse(item)
    if part.span is not None and part.span[0] == "bytes":
        return part.span[2] - part.span[1]
    blob = (blobs or {}).get(part.path)
    size = blob.size if blob is not None else os.stat(part.path).st_size
    if part.span is None:
        return size
    _, start, end = part.span
    import pyarrow.parquet as pq

    total = pq.ParquetFile(blob.file() if blob is not None else part.path).metadata.num_rows
    return size * (end - start) // total if total else 0


def _sources(data: DataInput, workspace: Workspace | None = None) -> Iterator[_Source]:
    """The table's files in order, one at a time (invoke's check looks at the first only)."""
    if data.remote is not None:
        from batchml.runner.table_storage import open_table

        assert workspace is not None
        table, blobs = open_table(workspace, data)
        if table is not None:
            yield from _table_sources(table, blobs)
            return
        files: Iterable[str] = (blob.path for blob in blobs)
        by_path, folder = {blob.path: blob for blob in blobs}, ""
    elif data.type == "mltable":
        yield from _table_sources(mltable.load(Path(data.local)))
        return
    elif data.type == "uri_file":
        files, by_path = [os.path.basename(data.local)], {}
        folder = os.path.dirname(data.local)
    else:
        files, folder, by_path = walk(data.local), data.local, {}  # walked in order
    for relative in files:
        suffix = os.path.splitext(relative)[1].lower()
        if suffix not in SUFFIXES:
            raise UsageError(
                f"{os.path.join(folder, relative)} is not a .csv, .parquet, .pqt or .jsonl "
                "file; mini-batches of rows (a mini_batch_size in rows, partition_keys) need "
                "tabular files only"
            )
        options = _CSV_DEFAULTS if SUFFIXES[suffix] == "csv" else {"path_column": "0"}
        path = os.path.join(folder, relative)
        yield _Source(path, SUFFIXES[suffix], options, by_path.get(path))


_CSV_DEFAULTS = {
    "delimiter": ",",
    "header": "line",
    "encoding": "utf-8",
    "types": "1",
    "empty": "0",
    "path_column": "0",
}


def _table_sources(table: mltable.Table, blobs: list[Blob] | None = None) -> list[_Source]:
    """The sources of an MLTable's files: on this machine, or `blobs` in storage."""
    if blobs is None:
        files = list(dict.fromkeys(path for item in table.paths for path in _files(table, item)))
    else:
        files = [blob.path for blob in blobs]
    if not files:
        raise mltable.no_files(table)
    by_path = {blob.path: blob for blob in blobs or []}

    pinned = {"convert": json.dumps(table.types, sort_keys=True)} if table.types else {}

    def source(path: str, format: str, options: dict[str, str]) -> _Source:
        return _Source(path, format, {**options, **pinned}, by_path.get(path))

    options = table.options
    path_column = "1" if options["include_path_column"] else "0"
    if table.format == "parquet":
        return [source(path, "parquet", {"path_column": path_column}) for path in files]
    encoding = mltable.ENCODINGS[options["encoding"]]
    if table.format == "jsonl":
        read = {"encoding": encoding, "invalid": options["invalid_lines"]}
        return [source(path, "jsonl", {**read, "path_column": path_column}) for path in files]
    base = {
        "delimiter": options["delimiter"],
        "encoding": encoding,
        "types": "1" if options["infer_column_types"] else "0",
        "empty": "1" if options["empty_as_string"] else "0",
        "path_column": path_column,
    }
    header = options["header"]
    if header == "no_header":
        return [source(path, "csv", {**base, "header": "none"}) for path in files]
    sources = [source(files[0], "csv", {**base, "header": "line"})]
    if header == "from_first_file":
        # The other files hold no header line: their columns are the first file's.
        names = json.dumps(_header(sources[0], base["delimiter"], encoding))
        later = {**base, "header": "none", "names": names}
        return sources + [source(path, "csv", later) for path in files[1:]]
    return sources + [source(path, "csv", {**base, "header": "line"}) for path in files[1:]]


def _files(table: mltable.Table, item: mltable.TablePath) -> list[str]:
    """The files one `paths` item names, relative ones at the MLTable's folder."""
    path = os.path.abspath(os.path.join(table.folder, item.value))
    if item.kind == "pattern":
        return sorted(found for found in glob.glob(path, recursive=True) if os.path.isfile(found))
    if item.kind == "folder":
        if not os.path.isdir(path):
            raise NotFoundError(
                f"the MLTable in {table.folder}: paths folder {item.value} not found"
            )
        return [os.path.join(path, relative) for relative in walk(path)]  # in order
    if not os.path.isfile(path):
        raise NotFoundError(f"the MLTable in {table.folder}: paths file {item.value} not found")
    return [path]


@contextlib.contextmanager
def _opened(source: _Source) -> Iterator[tuple[Read, int, Iterable[bytes]]]:
    """(read(offset, length), size, the whole file's bytes in chunks) of a source's file: on
    disk, or a blob read by ranged downloads."""
    if source.blob is not None:
        yield source.blob.read, source.blob.size, source.blob.chunks()
        return
    with open(source.path, "rb") as file:
        read = file_reader(file)
        size = file.seek(0, os.SEEK_END)
        yield read, size, (read(offset, _SCAN) for offset in range(0, size, _SCAN))


def _header(source: _Source, delimiter: str, encoding: str) -> list[str]:
    with _opened(source) as (read, size, _):
        line = read(0, line_end(read, 0, size)).decode(encoding)
    return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


def _split(source: _Source, rows: int | None, bound: int) -> list[RowRange]:
    if source.format == "parquet":
        spans = _parquet_spans(source, rows, bound)
        return [RowRange(source.path, "parquet", source.options, ("rows", *span)) for span in spans]
    options = source.options
    with _opened(source) as (read, end, chunks):
        start = line_end(read, 0, end) if options.get("header") == "line" else 0
        cuts = _line_cuts(chunks, start, end, rows) if rows else byte_cuts(read, start, end, bound)
    if source.blob is not None and start:  # staging puts the header line before each range
        options = {**options, "head": str(start)}
    edges = [start, *cuts, end] if end > start else [start, end]
    spans = [(a, b) for a, b in itertools.pairwise(edges) if b > a] or [(start, end)]
    return [RowRange(source.path, source.format, options, ("bytes", *s)) for s in spans]


def _line_cuts(chunks: Iterable[bytes], start: int, end: int, rows: int) -> list[int]:
    """Offsets past every `rows`-th line end from `start` (`chunks`: the file from byte 0)."""
    import numpy as np

    cuts: list[int] = []
    seen = 0  # line ends since the last cut
    offset = 0
    for chunk in chunks:
        ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10) + offset + 1
        ends = ends[ends > start]
        picked = ends[rows - seen - 1 :: rows]
        cuts.extend(int(cut) for cut in picked if cut < end)
        seen = (seen + len(ends)) % rows
        offset += len(chunk)
    return cuts


def _parquet_spans(source: _Source, rows: int | None, bound: int) -> list[tuple[int, int]]:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(source.blob.file() if source.blob else source.path).metadata
    total = metadata.num_rows
    if rows:
        return [(start, min(start + rows, total)) for start in range(0, total, rows)] or [(0, 0)]
    spans: list[tuple[int, int]] = []
    start = held = at = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        size = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        if at > start and held + size > bound:
            spans.append((start, at))
            start, held = at, 0
        held += size
        at += group.num_rows
    return [*spans, (start, total)]


def _partitions(sources: list[_Source], keys: list[str]) -> list[tuple[str, ...]]:
    """One mini-batch per distinct combination of the keys' values, in their sorted order: the
    row ranges (whole files, filtered) of each file that holds it (a blob read from the input
    cache, where planning puts it whole and staging then finds it)."""
    from batchml.worker.tabular import read

    holders: dict[str, list[str]] = {}
    cache = None
    for source in sources:
        if source.blob is None:
            frame = read(RowRange(source.path, source.format, source.options), columns=keys)
        else:
            from batchml.store.blob_ranges import cached_range
            from batchml.store.input_cache import InputCache

            cache = cache or InputCache()
            local = cached_range(cache, source.blob, None)
            try:
                frame = read(RowRange(local, source.format, source.options), columns=keys)
            except ValueError as exc:  # it names the blob, not the cache
                raise ValueError(str(exc).replace(local, source.blob.shown)) from None
        for values in frame.drop_duplicates().itertuples(index=False, name=None):
            where = {key: _plain(value, key) for key, value in zip(keys, values, strict=True)}
            part = RowRange(source.path, source.format, source.options, where=where)
            holders.setdefault(json.dumps(where, sort_keys=True, default=str), []).append(
                part.item()
            )
    return [tuple(holders[key]) for key in sorted(holders)]


def _plain(value: Any, key: str) -> Any:
    """A column value as JSON holds it (numpy scalars as Python ones, missing as None)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    plain = value.item() if hasattr(value, "item") else value
    if not isinstance(plain, (str, int, float, bool)):
        raise UsageError(
            f"partition_keys: column {key} holds {type(value).__name__} values; batchml "
            "partitions by columns of text, numbers or booleans"
        )
    return plain
