"""append_row lines: one per item, whatever the item holds."""

from __future__ import annotations

import pandas as pd
import pytest

from batchml.worker.rows import iter_lines, plain_text


def test_a_line_break_inside_an_item_is_escaped() -> None:
    items = ["one\ntwo", ("a\r\nb", 1), "plain", "back\\slash"]
    assert list(iter_lines(items)) == ["one\\ntwo", "a\\r\\nb 1", "plain", "back\\slash"]


def test_a_file_name_with_a_newline_stays_on_its_line() -> None:
    frame = pd.DataFrame({"file": ["bad\nname.csv", "good.csv"], "score": [0.5, 0.25]})
    assert list(iter_lines(frame)) == ["bad\\nname.csv 0.5", "good.csv 0.25"]


class _Named(str):
    def __str__(self) -> str:
        return "named"


def test_plain_strings_are_joined_at_once_into_the_lines_iter_lines_gives() -> None:
    for result in (["a 1", "b 2"], ("only",), ["", "x", ""]):
        assert plain_text(result) == "".join(f"{line}\n" for line in iter_lines(result))


@pytest.mark.parametrize(
    "result",
    [[], ["one\ntwo", "x"], ["a\r"], ["a", 1], [("a", 1)], [_Named("x")], "text", None],
)
def test_anything_else_goes_line_by_line(result: object) -> None:
    # Line breaks to escape, other items, str subclasses (str() may differ), not a list.
    assert plain_text(result) is None
