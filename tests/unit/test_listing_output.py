"""A listing rendered item by item: the same bytes as the whole list rendered at once, in every
format, and the items made only as the renderer writes them; and batchml's JSON text, which
must be json.dumps's, byte for byte."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from enum import Enum
from typing import Any

import pytest

from batchml.core.errors import NotFoundError
from batchml.output import json_text
from batchml.output.formats import FORMATS
from batchml.output.query import compile_query
from batchml.output.render import pieces, render


class Status(str, Enum):
    DONE = "Completed"


ITEMS: list[dict[str, Any]] = [
    {
        "name": f"job-{index}",
        "status": Status.DONE,
        "display_name": 'Café ☕ "quoted"\n\ttabbed \u2028 \x01',
        "counts": {"total": index, "ratio": index / 3, "empty": {}, "none": []},
        "tags": {"b": None, "a": [True, False, [1.5e16, 1e-07]]},
        "text": "a long line " * 12,
    }
    for index in range(4)
]


def _reference(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


@pytest.mark.parametrize(
    "value",
    [
        ITEMS,
        [],
        {},
        [[], {}, [[]], {"a": {}}],
        'x\n"\\\u2028é\x7f\x01',
        [float("nan"), float("inf"), -float("inf"), 10**30, -0.0, 2.5],
        {1: "int key"},
        {True: "bool key"},
        {None: 1},
        {1.5: 1},
        OrderedDict([("z", 1), ("a", (1, 2))]),
        Status.DONE,
        True,
        None,
    ],
)
def test_json_text_is_json_dumps_byte_for_byte(value: Any) -> None:
    assert json_text.dumps(value) == _reference(value)


@pytest.mark.parametrize("value", [ITEMS, [], [1], [[1, [2]], {}]])
def test_json_items_are_the_whole_list_in_pieces(value: list[Any]) -> None:
    assert "".join(json_text.items(value)) == _reference(value)


def test_json_text_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        json_text.dumps({"a": object()})


def _row(item: dict[str, Any]) -> dict[str, Any]:
    return {"Name": item["name"], "Status": item["status"], "Total": item["counts"]["total"]}


@pytest.mark.parametrize("rows", [None, _row])
@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("output", FORMATS)
def test_a_listing_renders_as_its_whole_list(output: str, count: int, rows: Any) -> None:
    whole = render(ITEMS[:count], output, rows=rows)
    assert render(iter(ITEMS[:count]), output, rows=rows) == whole


@pytest.mark.parametrize("output", FORMATS)
def test_a_queried_listing_renders_as_its_whole_list(output: str) -> None:
    query = compile_query("[].{n: name, t: counts.total}")
    whole = render(ITEMS, output, query=query)
    assert render(iter(ITEMS), output, query=query) == whole


@pytest.mark.parametrize(("colored", "plain"), [("jsonc", "json"), ("yamlc", "yaml")])
def test_a_coloured_listing_renders_as_its_whole_list(colored: str, plain: str) -> None:
    assert render(iter(ITEMS), colored, color=True) == render(ITEMS, colored, color=True)


@pytest.mark.parametrize("output", ["json", "jsonc", "yaml", "tsv"])
def test_a_listing_is_written_before_its_next_item_is_made(output: str) -> None:
    made: list[int] = []

    def listing() -> Iterator[dict[str, Any]]:
        for index, item in enumerate(ITEMS):
            made.append(index)
            yield item

    written = pieces(listing(), output)
    text = ""
    for index in range(len(ITEMS)):
        text += next(written)
        assert made == list(range(index + 1))
    assert text + "".join(written) == render(ITEMS, output)


def test_a_listing_printed_as_none_is_made_all_the_same() -> None:
    made: list[str] = []
    listing = (made.append(item["name"]) or item for item in ITEMS)
    assert render(listing, "none") == ""
    assert made == [item["name"] for item in ITEMS]


def _failing(count: int) -> Iterator[dict[str, Any]]:
    yield from ITEMS[:count]
    raise NotFoundError("the workspace went")


@pytest.mark.parametrize("count", [0, 2])
@pytest.mark.parametrize("output", FORMATS)
def test_a_listing_that_fails_part_way_leaves_its_items_so_far_or_nothing(
    output: str, count: int
) -> None:
    written: list[str] = []
    with pytest.raises(NotFoundError):
        for piece in pieces(_failing(count), output, rows=_row):
            written.append(piece)

    # What a shell pipe has read when the error is said: the items before it, whole.
    text = "".join(written)
    if output in ("table", "none") or count == 0:
        assert text == ""
    else:
        assert text == render(ITEMS[:count], output)
