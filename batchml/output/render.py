"""The one renderer: a command's result, filtered by --query, formatted for stdout like `az`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time
from enum import Enum
from typing import TYPE_CHECKING, Any

from batchml.core.errors import UsageError
from batchml.output import json_text
from batchml.output.formats import FORMATS
from batchml.output.tables import format_table, format_tsv, tsv_row

if TYPE_CHECKING:
    from batchml.output.query import Query


def render(
    data: Any,
    output: str,
    *,
    query: Query | None = None,
    color: bool = False,
    rows: Callable[[Any], dict[str, Any]] | None = None,
) -> str:
    """Return the text to print for `data` in the `output` format ("" prints nothing).

    As in knack, a result that is None (before or after the query) prints nothing at all,
    whatever the format. `color` only matters for jsonc and yamlc. `rows` is the command's
    table transformer (knack's table_transformer): one row of `-o table` per item, used when
    no --query shaped the result.
    """
    return "".join(pieces(data, output, query=query, color=color, rows=rows))


def pieces(
    data: Any,
    output: str,
    *,
    query: Query | None = None,
    color: bool = False,
    rows: Callable[[Any], dict[str, Any]] | None = None,
) -> Iterator[str]:
    """The text of `render`, in pieces to write as they come. A command's result that is an
    iterator is a list whose items are made as the renderer asks for them: json, yaml, tsv
    and none write each item as it comes and keep none of them, so that a listing's memory
    does not grow with it; a table keeps its rows only (its widths need every row), and
    --query and colour need the whole list (a JMESPath expression is applied to all of it)."""
    if output not in FORMATS:
        choices = ", ".join(repr(name) for name in FORMATS)
        raise UsageError(
            f"argument --output/-o: invalid choice: {output!r} (choose from {choices})"
        )
    if isinstance(data, Iterator):
        if query is None and not (color and output in ("jsonc", "yamlc")):
            yield from _streamed(data, output, rows)
            return
        data = list(data)
    result = to_plain(data)
    if query is not None:
        result = query.search(result)
    if result is None or output == "none":
        return
    if output in ("json", "jsonc"):
        text = json_text.dumps(result) + "\n"
        yield _highlight(text, "json") if output == "jsonc" and color else text
    elif output in ("yaml", "yamlc"):
        text = _format_yaml(result)
        yield _highlight(text, "yaml") if output == "yamlc" and color else text
    elif output == "table":
        if rows is not None and query is None:
            items = result if isinstance(result, list) else [result]
            yield format_table([rows(item) for item in items], sort_keys=False)
        else:
            yield format_table(result, sort_keys=query is None)
    else:
        yield format_tsv(result)


def _streamed(
    data: Iterator[Any], output: str, rows: Callable[[Any], dict[str, Any]] | None
) -> Iterator[str]:
    """The pieces of a list made item by item, as `pieces` has them with no query or colour.
    A list whose making fails part-way leaves what was written whole, for the error to follow:
    the items before it (a JSON array closed after them; YAML blocks and TSV rows are whole
    as they are written), or nothing (a table, or no item yet)."""
    plain = (to_plain(item) for item in data)
    if output in ("json", "jsonc"):
        opened = False
        try:
            for piece in json_text.items(plain):
                opened = True
                yield piece
        except Exception:  # said by the caller; the array written so far is closed first
            if opened:
                yield "\n]\n"
            raise
        yield "\n"
    elif output in ("yaml", "yamlc"):
        empty = True
        for item in plain:
            empty = False
            yield _format_yaml([item])  # a block sequence is its items' blocks, one after another
        if empty:
            yield "[]\n"
    elif output == "table":
        # Without the command's rows, the items themselves (no listing of batchml is so).
        table = list(plain) if rows is None else [rows(item) for item in plain]
        yield format_table(table, sort_keys=rows is None)
    elif output == "tsv":
        yield from map(tsv_row, plain)
    else:
        for _item in plain:  # made all the same: what they say on stderr is said
            pass


def to_plain(value: Any) -> Any:
    """Turn a command's return value into JSON-like data (knack's `todict`, keeping key names).

    Dataclasses and named tuples become dicts (fields starting with `_` left out), enums their
    value, dates ISO strings, durations and paths strings, tuples and sets lists.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # first, without the ABC checks below: most of a listing is these
    if kind is dict:
        return {key: to_plain(item) for key, item in value.items()}
    if kind is list:
        return [to_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, Enum):
        return to_plain(value.value)
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)) and not hasattr(value, "_asdict"):
        return [to_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [to_plain(item) for item in sorted(value, key=str)]
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        # Fields, not vars(): a slotted dataclass has no __dict__.
        names = [name for name in value.__dataclass_fields__ if name[:1] != "_"]
        return {name: to_plain(getattr(value, name)) for name in names}
    if hasattr(value, "_asdict"):
        return to_plain(value._asdict())
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    # timedelta, paths and anything else without a JSON form: its text, as json's default=str.
    return str(value)


def _format_yaml(result: Any) -> str:
    import yaml

    # knack round-trips through JSON because safe_dump refuses the OrderedDicts a query makes;
    # safe_dump then sorts keys (its default).
    plain = json.loads(json.dumps(result, ensure_ascii=False))
    text: str = yaml.safe_dump(plain, default_flow_style=False, allow_unicode=True)
    return text


def _highlight(text: str, lexer: str) -> str:
    """Colour JSON or YAML for a terminal with ANSI codes; the plain text is unchanged."""
    from io import StringIO

    from rich.console import Console
    from rich.syntax import Syntax

    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="standard", soft_wrap=True)
    console.print(Syntax(text, lexer, theme="ansi_dark").highlight(text), end="")
    return buffer.getvalue()
