"""A tabular mini-batch's items: row ranges of files, each one string, so that a plan of
tabular mini-batches is a sequence of string items as a plan of files is (the journal, resume,
failures.jsonl and the counts take them as they take file paths).

An item is the file's absolute path, then `#tabular?` and its reading as URL query fields:
`format` (csv, parquet, jsonl), the reader's options, and which rows: `bytes=START-END` (CSV
and JSON lines: a byte range cut at line ends, the header line not in it), `rows=START-END`
(parquet: row numbers), neither (the whole file); and `where` (JSON: the partition_keys values
the rows must have). Values are percent-encoded, so an item holds no `/` past its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

MARK = "#tabular?"


@dataclass(frozen=True)
class RowRange:
    """Rows of one file: `path`, `format`, reading `options` (strings), the byte or row span
    (None: the whole file) and the partition values `where` the rows are filtered by."""

    path: str
    format: str
    options: dict[str, str] = field(default_factory=dict)
    span: tuple[str, int, int] | None = None  # ("bytes" | "rows", start, end)
    where: dict[str, Any] | None = None

    def item(self) -> str:
        """The item string."""
        fields = {"format": self.format, **self.options}
        if self.span is not None:
            kind, start, end = self.span
            fields[kind] = f"{start}-{end}"
        if self.where is not None:
            fields["where"] = json.dumps(self.where, sort_keys=True, separators=(",", ":"))
        return self.path + MARK + urlencode(fields, quote_via=quote, safe="")


def is_row_range(item: str) -> bool:
    """Whether `item` is a row range (else it is a file path)."""
    return MARK in item


def parse(item: str) -> RowRange:
    """The row range an item string names."""
    path, _, query = item.rpartition(MARK)
    fields = dict(parse_qsl(query, keep_blank_values=True))
    span = None
    for kind in ("bytes", "rows"):
        if kind in fields:
            start, _, end = fields.pop(kind).partition("-")
            span = (kind, int(start), int(end))
    where = json.loads(fields.pop("where")) if "where" in fields else None
    return RowRange(path, fields.pop("format"), fields, span, where)
