"""JSON text as `json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)` writes it,
byte for byte, about twice as fast: with `indent`, the standard library gives up its C encoder
for a Python one built of generators, which costs `job list --all-results` more than reading
the jobs. Here one recursive function appends to a list; strings are escaped by json's own C
function. `items` encodes a list one item at a time, for a renderer that writes as it goes.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the C function, when the interpreter has it
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

_INDENT = "  "
_INFINITY = float("inf")


def dumps(value: Any) -> str:
    """The JSON text of `value`, without a final newline."""
    parts: list[str] = []
    _encode(value, parts, "\n")
    return "".join(parts)


def items(values: Iterable[Any]) -> Iterator[str]:
    """The text of `dumps(list(values))` in pieces, one item at a time."""
    first = True
    for value in values:
        parts = ["[\n  " if first else ",\n  "]
        _encode(value, parts, "\n  ")
        first = False
        yield "".join(parts)
    yield "[]" if first else "\n]"


def _encode(value: Any, parts: list[str], indent: str) -> None:
    """Append the text of `value`, whose line breaks are followed by `indent`'s spaces."""
    kind = type(value)
    if kind is str:
        parts.append(encode_basestring(value))
    elif kind is dict:
        _encode_dict(value, parts, indent)
    elif kind is list:
        _encode_list(value, parts, indent)
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):  # a str enum, as json's encoder takes it
        parts.append(encode_basestring(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float(value))
    elif isinstance(value, dict):  # an OrderedDict of a --query projection
        _encode_dict(value, parts, indent)
    elif isinstance(value, (list, tuple)):
        _encode_list(value, parts, indent)
    else:
        raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _encode_dict(value: dict[Any, Any], parts: list[str], indent: str) -> None:
    if not value:
        parts.append("{}")
        return
    inner = indent + _INDENT
    opening = "{" + inner
    between = "," + inner
    for index, key in enumerate(sorted(value)):
        name = key if type(key) is str else _key(key)
        parts.append((between if index else opening) + encode_basestring(name) + ": ")
        _encode(value[key], parts, inner)
    parts.append(indent + "}")


def _encode_list(value: list[Any] | tuple[Any, ...], parts: list[str], indent: str) -> None:
    if not value:
        parts.append("[]")
        return
    inner = indent + _INDENT
    opening = "[" + inner
    between = "," + inner
    for index, item in enumerate(value):
        parts.append(between if index else opening)
        _encode(item, parts, inner)
    parts.append(indent + "]")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (_INFINITY, -_INFINITY):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    """A key that is not a string, as json turns it into one (or refuses it)."""
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
