"""Spec files with limits: size, alias expansion, duplicate keys, dates, tags, encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchml.core import spec as specs
from batchml.core import yaml_text
from batchml.core.errors import InvalidSpecError

LAUGHS = "\n".join(
    ["name: lol", "tags:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"  {chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


def problems_of(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "spec.yml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    with pytest.raises(InvalidSpecError) as caught:
        specs.load_file(path)
    return [str(line).replace(str(path), "spec.yml") for line in caught.value.problems]


def test_billion_laughs_is_refused_at_its_line(tmp_path: Path) -> None:
    assert len(LAUGHS) < 400
    assert problems_of(tmp_path, LAUGHS) == [
        "spec.yml:8: the document expands to more than 100,000 values (aliases that repeat "
        "aliases); write it out or simplify it"
    ]


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_text("base: &b {a: 1}\nuse: *b\nmerged:\n  <<: *b\n  c: 2\n")
    assert specs.load_file(path).data == {
        "base": {"a": 1},
        "use": {"a": 1},
        "merged": {"a": 1, "c": 2},
    }


def test_a_file_larger_than_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    text = "description: " + "x" * yaml_text.MAX_BYTES + "\n"
    size = len(text)
    assert problems_of(tmp_path, text) == [
        f"spec.yml: the file is {size:,} bytes; a spec may be at most 1,048,576 bytes"
    ]


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = "name: a\nsettings:\n  max_retries: 1\n  timeout: 3\n  max_retries: 2\n"
    assert problems_of(tmp_path, text) == [
        "spec.yml:5: 'max_retries' is given twice in one mapping (first at line 3); keep one"
    ]


def test_the_same_key_in_two_mappings_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_text("a: {name: 1}\nb: {name: 2}\n")
    assert specs.load_file(path).data == {"a": {"name": 1}, "b": {"name": 2}}


def test_dates_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_text("description: 2024-01-01\nwhen: 2001-12-14t21:59:43.10-05:00\n")
    assert specs.load_file(path).data == {
        "description": "2024-01-01",
        "when": "2001-12-14t21:59:43.10-05:00",
    }


@pytest.mark.parametrize(
    ("value", "tag"),
    [("!!set {a, b}", "set"), ("!!binary aGVsbG8=", "binary"), ("!!omap [a: 1]", "omap")],
)
def test_tags_json_cannot_hold_are_refused(tmp_path: Path, value: str, tag: str) -> None:
    assert problems_of(tmp_path, f"name: x\ntags: {value}\n") == [
        f"spec.yml:2: the YAML tag '{tag}' is not supported"
    ]


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path, b"name: x\ndescription: caf\xe9\n") == [
        "spec.yml:2: not UTF-8 text (byte 24)"
    ]


def test_deep_nesting_is_not_a_recursion_error(tmp_path: Path) -> None:
    depth = 5000
    path = tmp_path / "spec.yml"
    path.write_text("a: " + "[" * depth + "]" * depth + "\n")
    # PyYAML's own scanner recurses: what it cannot read is a clear error, not a traceback.
    assert problems_of(tmp_path, path.read_text()) == [
        "spec.yml: the document is nested too deeply"
    ]
