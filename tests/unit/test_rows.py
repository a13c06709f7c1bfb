"""append_row lines: one per item, whatever the item holds."""

from __future__ import annotations

import pandas as pd

from batchml.worker.rows import iter_lines


def test_a_line_break_inside_an_item_is_escaped() -> None:
    items = ["one\ntwo", ("a\r\nb", 1), "plain", "back\\slash"]
    assert list(iter_lines(items)) == ["one\\ntwo", "a\\r\\nb 1", "plain", "back\\slash"]


def test_a_file_name_with_a_newline_stays_on_its_line() -> None:
    frame = pd.DataFrame({"file": ["bad\nname.csv", "good.csv"], "score": [0.5, 0.25]})
    assert list(iter_lines(frame)) == ["bad\\nname.csv 0.5", "good.csv 0.25"]
