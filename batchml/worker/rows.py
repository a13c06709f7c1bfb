"""What run() returned: how many items it counts for, and its append_row lines.

Duck-typed, so neither numpy nor pandas is imported here: a DataFrame is anything with
itertuples() and columns, an array anything with ndim and tolist().
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

BAD_RETURN_MESSAGE = (
    "The run() method in the entry script should return a list or a pandas DataFrame. "
    "The length of returned result is considered as succeeded number of items. "
    "run() returned {kind}."
)


@dataclass(frozen=True)
class FileResults:
    """What run() may return to account for each file itself, as batchml's MLflow scorer does.

    rows are what run() would return otherwise (the append_row lines). failed maps each file
    of the mini-batch that failed to one line saying why: each counts as one failed file
    (error_threshold), and the other files succeed, whatever number of rows they gave.
    """

    rows: Any
    failed: Mapping[str, str] = field(default_factory=dict)


def _is_dataframe(value: object) -> bool:
    return hasattr(value, "itertuples") and hasattr(value, "columns")


def _is_array(value: object) -> bool:
    return hasattr(value, "ndim") and hasattr(value, "tolist")


def count_items(result: object) -> int | None:
    """The number of succeeded items run() returned, or None if it returned the wrong type."""
    if isinstance(result, (list, tuple)):
        return len(result)
    if _is_dataframe(result):
        return len(result)  # type: ignore[arg-type]
    if _is_array(result) and getattr(result, "ndim", 0) >= 1:
        return len(result)  # type: ignore[arg-type]
    return None


def describe_bad_return(result: object) -> str:
    """Azure's message for a run() that returned neither a list nor a DataFrame."""
    kind = "None" if result is None else f"a {type(result).__name__}"
    return BAD_RETURN_MESSAGE.format(kind=kind)


# append_row writes one line per item (Azure counts items by lines): a line break inside an
# item is written as the two characters \n or \r, so that it cannot split the item in two.
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r"})


def _format_item(item: Any) -> str:
    # A row is its fields joined by spaces, as Azure's append_row writes them.
    if isinstance(item, (list, tuple)):
        line = " ".join(str(field) for field in item)
    elif _is_array(item) and item.ndim >= 1:
        line = " ".join(str(field) for field in item.tolist())
    else:
        line = str(item)
    return line.translate(_LINE_BREAKS)


def plain_text(result: object) -> str | None:
    """The append_row lines of a list or tuple of plain strings without line breaks, all
    at once (what iter_lines gives, each with its newline), or None for any other result.

    The common result of a run() on small files; joined in one call rather than line by
    line, which is most of a worker's own time when mini-batches take no time."""
    if not isinstance(result, (list, tuple)) or not result:
        return None
    if not all(type(item) is str for item in result):
        return None
    text = "\n".join(result)
    # As many line breaks as separators: no item holds one (which would need escaping).
    if text.count("\n") != len(result) - 1 or "\r" in text:
        return None
    return text + "\n"


def iter_lines(result: Any) -> Iterator[str]:
    """The append_row lines for a result count_items() accepted: one per element or row.

    Fields are separated by spaces, with no header and no index; other objects are written
    with str(). A line break inside an item is written as \\n (or \\r).
    """
    if _is_dataframe(result):
        for row in result.itertuples(index=False, name=None):
            yield _format_item(row)
    elif _is_array(result):
        # tolist() turns numpy scalars into Python ones, whose str() is the plain number.
        for item in result.tolist():
            yield _format_item(item)
    else:
        for item in result:
            yield _format_item(item)
