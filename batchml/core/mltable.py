"""An `MLTable` file, as Azure ML defines it (reference-yaml-mltable): the paths of a table's
files and the one read transformation that says how to read them.

batchml reads `paths` of `file`, `folder` and `pattern` (glob) items relative to the MLTable's
folder (a pattern matches files as glob.glob(recursive=True) does: on this machine it is
glob's, in storage `matches` over the container's listing), one of the transformations in READERS with the parameters it lists, and any number of
`convert_column_types` (columns and a COLUMN_TYPES name, applied to every mini-batch so that
its types do not depend on its rows); any other transformation or parameter is refused by name (a usage error: the table is not read at all
rather than read differently from Azure). Where the files are is batchml.runner.tabular's work.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchml.core.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

FILE_NAME = "MLTable"
PATH_KINDS = ("file", "folder", "pattern")
HEADERS = ("no_header", "from_first_file", "all_files_different_headers", "all_files_same_headers")
# Encodings a byte range can be cut in at a newline byte (not utf16/utf32), as Python names them.
ENCODINGS = {
    "utf8": "utf-8",
    "utf8bom": "utf-8-sig",
    "ascii": "ascii",
    "latin1": "latin-1",
    "iso88591": "latin-1",
    "windows1252": "cp1252",
}
# Each read transformation and the parameters batchml honours (with their Azure defaults).
READERS: dict[str, dict[str, Any]] = {
    "read_delimited": {
        "delimiter": ",",
        "header": "all_files_same_headers",
        "encoding": "utf8",
        "include_path_column": False,
        "infer_column_types": True,
        "empty_as_string": False,
        "support_multi_line": False,
    },
    "read_parquet": {"include_path_column": False},
    "read_json_lines": {"include_path_column": False, "invalid_lines": "error", "encoding": "utf8"},
}
FORMATS = {"read_delimited": "csv", "read_parquet": "parquet", "read_json_lines": "jsonl"}
CONVERT = "convert_column_types"
_WILDCARD = re.compile(r"[*?[]")  # what makes a pattern's component a wildcard, as in glob
COLUMN_TYPES = ("int", "float", "string", "boolean", "datetime")


@dataclass(frozen=True)
class TablePath:
    """One item of `paths`: its kind (file, folder or pattern) and its value as written."""

    kind: str
    value: str


@dataclass(frozen=True)
class Table:
    """A parsed MLTable: its folder, its paths, its format (csv, parquet, jsonl) and the read
    transformation's parameters, defaults filled in."""

    folder: str
    paths: list[TablePath]
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # column: a COLUMN_TYPES name


def no_files(table: Table) -> NotFoundError:
    """The error of an MLTable whose paths name no file (patterns that match nothing)."""
    return NotFoundError(f"the MLTable in {table.folder} names no files")


def pattern_folder(parts: Sequence[str]) -> int:
    """How many of a glob pattern's components (a normalised posix path's) are literal
    folders before its first wildcard, the last component never counted: the folder to list."""
    literal = next((i for i, part in enumerate(parts) if _WILDCARD.search(part)), len(parts))
    return min(literal, len(parts) - 1)


def matches(parts: Sequence[str], names: Sequence[str]) -> bool:
    """Whether a file's path (its components `names`) matches a glob pattern's components
    `parts` as glob.glob(recursive=True) matches files: `*`, `?` and `[...]` (`[!...]`)
    within a component, `**` alone as a component any number of folders (none too); a name
    that starts with "." only by a component that starts with one, never by `**`."""
    if not parts:
        return not names
    part, rest = parts[0], parts[1:]
    if part == "**":
        for skipped in range(len(names) + 1):
            if matches(rest, names[skipped:]):
                return True
            if skipped < len(names) and names[skipped].startswith("."):
                return False
        return False
    if not names:
        return False
    name = names[0]
    if not _WILDCARD.search(part):
        return name == part and matches(rest, names[1:])
    if name.startswith(".") and not part.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, part) and matches(rest, names[1:])


def load(folder: Path) -> Table:
    """The MLTable file in `folder`; a UsageError naming the file and the field if it is not
    one batchml can read."""
    from batchml.core import spec as specs

    path = folder / FILE_NAME
    if not path.is_file():
        raise UsageError(
            f"{folder} has no {FILE_NAME} file; an mltable input is a folder with one",
            hint="pass --input-type uri_folder to score the folder's files as they are",
        )
    return parse(specs.load_file(path).data, str(path), str(folder.absolute()))


def parse(data: Any, source: str, folder: str) -> Table:
    """An MLTable's content (`data`, read from `source`) as a Table."""

    def refuse(where: str, message: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{source}: {where}: {message}", hint=hint)

    if not isinstance(data, dict):
        raise refuse("(file)", "must be a mapping with paths and transformations")
    if data.get("type", "mltable") != "mltable":
        raise refuse("type", f"must be mltable, not {data.get('type')!r}")
    extra = sorted(set(data) - {"$schema", "type", "paths", "transformations"})
    if extra:
        raise refuse(extra[0], "is not supported; an MLTable has paths and transformations")
    paths = [_path(item, index, refuse) for index, item in enumerate(data.get("paths") or [])]
    if not paths:
        raise refuse("paths", "must list at least one file, folder or pattern")
    steps = data.get("transformations") or []
    if not isinstance(steps, list):
        raise refuse("transformations", "must be a list")
    supported = ", ".join(READERS)
    readers = []
    types: dict[str, str] = {}
    for index, step in enumerate(steps):
        name, params = _step(step)
        if name == CONVERT:
            conversions = step.get(CONVERT) if isinstance(step, dict) else None
            types.update(_types(conversions, f"transformations[{index}].{CONVERT}", refuse))
            continue
        if name not in READERS:
            raise refuse(
                f"transformations[{index}]",
                f"{name} is not supported; batchml reads tables with {supported} only",
            )
        readers.append((index, name, params))
    if len(readers) != 1:
        raise refuse("transformations", f"must hold exactly one of {supported}")
    index, name, params = readers[0]
    options = _options(name, params, f"{index}", refuse)
    return Table(folder, paths, FORMATS[name], options, types)


def _types(conversions: Any, where: str, refuse: Any) -> dict[str, str]:
    """{column: type} of a convert_column_types step: a list of {columns, column_type}."""
    if not isinstance(conversions, list):
        raise refuse(where, "must be a list of {columns, column_type}")
    types: dict[str, str] = {}
    for index, conversion in enumerate(conversions):
        at = f"{where}[{index}]"
        if not isinstance(conversion, dict) or set(conversion) != {"columns", "column_type"}:
            raise refuse(at, "must have exactly columns and column_type")
        columns, column_type = conversion["columns"], conversion["column_type"]
        if isinstance(columns, str):
            columns = [columns]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise refuse(f"{at}.columns", "must be a column name or a list of them")
        if isinstance(column_type, dict):
            form = ", ".join(map(str, column_type)) or "{}"
            raise refuse(
                f"{at}.column_type",
                f"{{{form}: ...}} is not supported; batchml takes {', '.join(COLUMN_TYPES)} "
                "(with their default parsing)",
            )
        if column_type not in COLUMN_TYPES:
            raise refuse(
                f"{at}.column_type",
                f"must be one of {', '.join(COLUMN_TYPES)}, not {column_type!r}",
            )
        types.update(dict.fromkeys(columns, column_type))
    return types


def _path(item: Any, index: int, refuse: Any) -> TablePath:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in PATH_KINDS:
        raise refuse(f"paths[{index}]", f"must have exactly one key of {', '.join(PATH_KINDS)}")
    kind, value = next(iter(item.items()))
    if not isinstance(value, str) or not value:
        raise refuse(f"paths[{index}].{kind}", "must be a path")
    if "://" in value:
        # A table's files are read through one storage (its folder's): a URL here could
        # name another account, datastore or server, each with its own credentials.
        raise refuse(
            f"paths[{index}].{kind}",
            f"{value} is a URL; batchml reads an MLTable's paths relative to its folder (a "
            "local MLTable's may also be absolute paths on this machine), not URLs",
            hint="put the MLTable file in the storage folder with the table's files, its paths "
            "relative to it, and pass that folder: --input <folder URL> --input-type mltable",
        )
    return TablePath(kind, value)


def _step(step: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(step, str):
        return step, {}
    if isinstance(step, dict) and len(step) == 1:
        name, params = next(iter(step.items()))
        return str(name), params if isinstance(params, dict) else {"": params}
    return repr(step), {}


def _options(name: str, params: dict[str, Any], index: str, refuse: Any) -> dict[str, Any]:
    defaults = READERS[name]
    where = f"transformations[{index}].{name}"
    for key in params:
        if key not in defaults:
            raise refuse(
                f"{where}.{key}",
                f"is not supported; {name} takes {', '.join(defaults)}",
            )
    options = {**defaults, **params}
    if options.get("support_multi_line"):
        raise refuse(
            f"{where}.support_multi_line",
            "true is not supported: batchml splits files at line breaks, so a record may not "
            "span lines",
        )
    checks = {
        "header": HEADERS,
        "encoding": tuple(ENCODINGS),
        "invalid_lines": ("error", "drop"),
    }
    for key, allowed in checks.items():
        if key in options and options[key] not in allowed:
            raise refuse(
                f"{where}.{key}", f"must be one of {', '.join(allowed)}, not {options[key]!r}"
            )
    delimiter = options.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise refuse(f"{where}.delimiter", f"must be one character, not {delimiter!r}")
    return options
