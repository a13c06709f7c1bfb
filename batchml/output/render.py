"""The one renderer: a command's result, filtered by --query, formatted for stdout like `az`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from enum import Enum
from typing import TYPE_CHECKING, Any

from batchml.core.errors import UsageError
from batchml.output.formats import FORMATS
from batchml.output.tables import format_table, format_tsv

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
    if output not in FORMATS:
        choices = ", ".join(repr(name) for name in FORMATS)
        raise UsageError(
            f"argument --output/-o: invalid choice: {output!r} (choose from {choices})"
        )
    result = to_plain(data)
    if query is not None:
        result = query.search(result)
    if result is None or output == "none":
        return ""
    if output in ("json", "jsonc"):
        text = _format_json(result)
        return _highlight(text, "json") if output == "jsonc" and color else text
    if output in ("yaml", "yamlc"):
        text = _format_yaml(result)
        return _highlight(text, "yaml") if output == "yamlc" and color else text
    if output == "table":
        if rows is not None and query is None:
            items = result if isinstance(result, list) else [result]
            return format_table([rows(item) for item in items], sort_keys=False)
        return format_table(result, sort_keys=query is None)
    return format_tsv(result)


def to_plain(value: Any) -> Any:
    """Turn a command's return value into JSON-like data (knack's `todict`, keeping key names).

    Dataclasses and named tuples become dicts (fields starting with `_` left out), enums their
    value, dates ISO strings, durations and paths strings, tuples and sets lists.
    """
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


def _format_json(result: Any) -> str:
    # knack sorts keys even for a --query projection: `az ... -o json` is always sorted.
    return json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


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
