"""The `table` and `tsv` formats, with knack's rules (knack/output.py _TableOutput, _TsvOutput).

The table layout is tabulate's "simple" format with `disable_numparse=True`, which knack uses:
left-aligned columns two spaces apart, each at least two wider than its header, a row of dashes
under the headers, trailing spaces trimmed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

# knack drops these from automatic tables: long ARM ids and types would crowd out everything else.
SKIP_KEYS = ("id", "type", "etag")
COLUMN_GAP = "  "
HEADER_PADDING = 2


def format_table(result: Any, *, sort_keys: bool) -> str:
    """Render a result as a table; `sort_keys` is True when no --query shaped the result."""
    items = result if isinstance(result, list) else [result]
    entries = [_table_row(item, sort_keys) for item in items]
    headers: list[str] = []
    for entry in entries:
        headers.extend(key for key in entry if key not in headers)
    if not headers:
        return "\n"
    grid = [[_cell_text(entry.get(header)) for header in headers] for entry in entries]
    widths = [
        max([len(header) + HEADER_PADDING] + [_text_width(cells[col]) for cells in grid])
        for col, header in enumerate(headers)
    ]
    # As tabulate: once any cell spans lines, a row of empty cells takes no line at all.
    min_height = 0 if any(_is_multiline(cell) for cells in grid for cell in cells) else 1
    lines = _layout(headers, widths, min_height=1)
    lines.append(COLUMN_GAP.join("-" * width for width in widths))
    for cells in grid:
        lines.extend(_layout(cells, widths, min_height=min_height))
    return "\n".join(lines) + "\n"


def _table_row(item: Any, sort_keys: bool) -> dict[str, Any]:
    """One table row: a dict's scalar values, a list's items as Column1.., or a lone Result."""
    if isinstance(item, dict):
        keys = sorted(item) if sort_keys else list(item)
        return {
            _capitalize_first_char(key): item[key]
            for key in keys
            if key not in SKIP_KEYS
            and item[key] is not None
            and not isinstance(item[key], (list, dict, set))
        }
    if isinstance(item, list):
        return {f"Column{index}": value for index, value in enumerate(item, start=1)}
    return {"Result": item}


def _capitalize_first_char(key: str) -> str:
    return key[:1].upper() + key[1:]


def _cell_text(value: Any) -> str:
    """A value as tabulate shows it without number parsing: str(), None empty, outer blanks cut."""
    return "" if value is None else str(value).strip()


def _text_width(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _is_multiline(text: str) -> bool:
    return "\n" in text or "\r" in text


def _layout(cells: list[str], widths: list[int], *, min_height: int) -> list[str]:
    """Lines of one row; a cell with line breaks makes the row taller, top-aligned."""
    cell_lines = [cell.splitlines() for cell in cells]
    height = max([min_height] + [len(lines) for lines in cell_lines])
    return [
        COLUMN_GAP.join(
            (lines[index] if index < len(lines) else "").ljust(width)
            for lines, width in zip(cell_lines, widths, strict=True)
        ).rstrip()
        for index in range(height)
    ]


def format_tsv(result: Any) -> str:
    """Render a result as tab-separated rows: one per item of a top-level list, else one."""
    items = result if isinstance(result, list) else [result]
    return "".join(tsv_row(item) for item in items)


def tsv_row(item: Any) -> str:
    """One line of TSV: an item of a list, or the whole of any other result."""
    return _tsv_fields(item) + "\n"


def _tsv_fields(item: Any) -> str:
    if isinstance(item, OrderedDict):
        # A --query projection: keep the order the user wrote.
        return "\t".join(_tsv_field(value) for value in item.values())
    if isinstance(item, dict):
        return "\t".join(_tsv_field(value) for _, value in sorted(item.items()))
    if isinstance(item, list):
        return "\t".join(_tsv_field(value) for value in item)
    if isinstance(item, bool):
        return str(item).lower()
    return _tsv_field(item)


def _tsv_field(value: Any) -> str:
    """A value inside a row: a list shows its length, a dict an empty field, others str()."""
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return value if isinstance(value, str) else str(value)
