"""Spec loading, `--set` typing and overrides, and validation messages (batchml.core.spec)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError, Problem, UsageError

NAME_RULE = (
    "must be 3-32 characters of letters, digits and '-', start with a letter and end with a "
    "letter or digit"
)


def spec_of(text: str, tmp_path: Path, name: str = "spec.yml") -> specs.Spec:
    path = tmp_path / name
    path.write_text(text)
    return specs.load_file(path)


def problems(spec: specs.Spec, schema: str) -> list[str]:
    with pytest.raises(InvalidSpecError) as info:
        specs.validate(spec, schema)
    assert info.value.exit_code == 4
    lines = [str(problem) for problem in info.value.problems]
    assert info.value.message == "\n".join(lines)
    return lines


# --set typing


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5", 5),
        ("-1", -1),
        ("1.5", 1.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ('{"a": 1, "b": [true]}', {"a": 1, "b": [True]}),
        ("[1, 2]", [1, 2]),
        ('"5"', "5"),
        ("abc", "abc"),
        ("True", "True"),
        ("5x", "5x"),
        ("", ""),
        ("azureml:model:1", "azureml:model:1"),
        ("{not json", "{not json"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ],
)
def test_set_values_are_typed_as_json_else_strings(raw: str, value: Any) -> None:
    parsed = specs.parse_set_value(raw)
    assert parsed == value
    assert type(parsed) is type(value)
    assert not (isinstance(parsed, float) and math.isnan(parsed))


def test_apply_sets_nested_new_and_replaced_keys() -> None:
    spec = specs.Spec({"a": {"b": 1}, "model": "azureml:m:1"}, "command line", Path("."))
    specs.apply_sets(spec, ["a.c=2", "model.path=p", "new.deep.key=v", "url=x=y", "a.b=3"])
    assert spec.data == {
        "a": {"b": 3, "c": 2},
        "model": {"path": "p"},
        "new": {"deep": {"key": "v"}},
        "url": "x=y",
    }


def test_apply_sets_with_aliases() -> None:
    spec = specs.Spec({"settings": {"mini_batch_size": 1}}, "command line", Path("."))
    aliases = {"mini_batch_size": "settings.mini_batch_size", "retry_settings": "settings.retry"}
    specs.apply_sets(spec, ["mini_batch_size=5", "retry_settings.timeout=9", "other=1"], aliases)
    assert spec.data == {
        "settings": {"mini_batch_size": 5, "retry": {"timeout": 9}},
        "other": 1,
    }


@pytest.mark.parametrize("assignment", ["novalue", "=5", ""])
def test_apply_sets_needs_key_equals_value(assignment: str) -> None:
    spec = specs.Spec({}, "command line", Path("."))
    with pytest.raises(UsageError) as info:
        specs.apply_sets(spec, [assignment])
    assert info.value.message == (
        f"--set takes key=value (e.g. description=demo); got '{assignment}'"
    )
    assert info.value.exit_code == 2


# loading


def test_load_file(tmp_path: Path) -> None:
    spec = spec_of("name: ep-one\ntags:\n  a: 1\n", tmp_path)
    assert spec.data == {"name": "ep-one", "tags": {"a": 1}}
    assert (spec.source, spec.base_dir) == (str(tmp_path / "spec.yml"), tmp_path)
    assert spec.text == "name: ep-one\ntags:\n  a: 1\n"


def test_load_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    assert spec_of("", tmp_path).data == {}


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"^file not found: .*nope\.yml$"):
        specs.load_file(tmp_path / "nope.yml")


def test_load_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        specs.load_file(tmp_path)
    assert info.value.message == f"{tmp_path} is a folder; -f/--file takes a YAML file"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "name: a\n  bad: indent\n",
            2,
            "a 'key:' where a value was expected: this line is indented more than the key above "
            "it, or the line above lacks its ':', or a value holding ': ' needs quotes",
        ),
        (
            "settings:\n    a: 1\n  b: 2\n",
            3,
            "the indentation does not line up (column 3): the keys of one mapping, and the items "
            "of one list, must start in the same column",
        ),
        ("name: a\n\tb: 1\n", 2, "a tab: YAML indents with spaces only"),
        ('name: "a\nb: 1\n', 3, "a quote opened at line 1 is never closed"),
    ],
)
def test_bad_yaml_is_said_in_words_at_its_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    with pytest.raises(InvalidSpecError) as info:
        spec_of(text, tmp_path)
    assert [str(problem) for problem in info.value.problems] == [
        f"{tmp_path / 'spec.yml'}:{line}: not valid YAML: {words}"
    ]


def test_load_scalar_document(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpecError) as info:
        spec_of("just text\n", tmp_path)
    assert [str(problem) for problem in info.value.problems] == [
        f"{tmp_path / 'spec.yml'}: the file must hold a YAML mapping (key: value lines)"
    ]


def test_from_flags_drops_unset_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = specs.from_flags({"name": "m", "version": None, "path": "p"})
    assert (spec.data, spec.source, spec.base_dir, spec.text) == (
        {"name": "m", "path": "p"},
        "command line",
        tmp_path,
        None,
    )


# validation


def test_valid_spec_returns_a_copy(tmp_path: Path) -> None:
    spec = spec_of("name: ep-one\ntags: {a: 1}\n", tmp_path)
    data = specs.validate(spec, "batchEndpoint.schema.json")
    assert data == spec.data
    data["tags"]["a"] = 2
    assert spec.data["tags"]["a"] == 1


def test_every_mistake_is_reported_in_line_order(tmp_path: Path) -> None:
    spec = spec_of(
        """\
name: ab
endpoint_name: mnist-batch
type: model
model: azureml:m:1
compute: ""
resources:
  instance_count: 0
settings:
  max_concurrency_per_instance: "2"
  retry_settings:
    timeout: 0
    retries: 3
  environment_variables: [A]
  logging_level: Info
""",
        tmp_path,
    )
    file = tmp_path / "spec.yml"
    assert problems(spec, "modelBatchDeployment.schema.json") == [
        f'{file}:1: name: {NAME_RULE} (got "ab")',
        f"{file}:5: compute: '' should be non-empty",
        f"{file}:7: resources.instance_count: must be at least 1 (got 0)",
        f'{file}:9: settings.max_concurrency_per_instance: must be an integer (got "2")',
        f"{file}:11: settings.retry_settings.timeout: must be at least 1 (got 0)",
        f"{file}:12: settings.retry_settings.retries: unknown field; did you mean 'max_retries'?",
        f'{file}:13: settings.environment_variables: must be a mapping (got ["A"])',
    ]


def test_missing_fields_have_no_line(tmp_path: Path) -> None:
    spec = spec_of("description: x\n", tmp_path)
    file = tmp_path / "spec.yml"
    assert problems(spec, "batchEndpoint.schema.json") == [f"{file}: name: is required"]


def test_command_line_specs_name_their_source() -> None:
    spec = specs.Spec({"name": "x", "type": "uri_file", "extra": 1}, "command line", Path("."))
    assert problems(spec, "data.schema.json") == [
        "command line: extra: unknown field; allowed: $schema, description, name, path, "
        "properties, tags, type, version",
        "command line: path: is required",
    ]


def test_non_mapping_top_level_and_list_items(tmp_path: Path) -> None:
    spec = specs.Spec({"name": "ep-one", "tags": {"a": [1]}}, "command line", Path("."))
    assert problems(spec, "batchEndpoint.schema.json") == [
        "command line: tags.a: must be a string or a number or true or false (got [1])"
    ]


@pytest.mark.parametrize(
    "name",
    ["abc", "a-b", "A1-b2", "mnist-batch", "x" * 32, "a--b", "Abc"],
)
def test_valid_resource_names(name: str) -> None:
    spec = specs.Spec({"name": name}, "command line", Path("."))
    assert specs.validate(spec, "batchEndpoint.schema.json") == {"name": name}


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 33, "1abc", "-abc", "abc-", "a_b", "a.bc", "ab c", "", "é-abc"],
)
def test_invalid_resource_names(name: str) -> None:
    spec = specs.Spec({"name": name}, "command line", Path("."))
    assert problems(spec, "batchEndpoint.schema.json") == [
        f'command line: name: {NAME_RULE} (got "{name}")'
    ]


@pytest.mark.parametrize(
    ("field", "line"),
    [
        (["name"], 1),
        (["settings"], 2),
        (["settings", "retry_settings", "timeout"], 4),
        (["settings", "missing"], 2),
        (["list", 1], 7),
        (["absent"], None),
    ],
)
def test_location_of_a_field(tmp_path: Path, field: list[Any], line: int | None) -> None:
    spec = spec_of(
        "name: x\nsettings:\n  retry_settings:\n    timeout: 3\nlist:\n  - a\n  - b\n", tmp_path
    )
    file = tmp_path / "spec.yml"
    assert specs.location(spec, field) == (f"{file}:{line}" if line else str(file))


def test_location_without_text_is_the_source() -> None:
    spec = specs.Spec({"name": "x"}, "command line", Path("."))
    assert specs.location(spec, ["name"]) == "command line"


# Problems: one structured problem, one collector


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        (Problem("a.yml", 3, "settings.x", "bad"), "a.yml:3: settings.x: bad"),
        (Problem("a.yml", None, "name", "is required"), "a.yml: name: is required"),
        (Problem("a.yml", 2, None, "not valid YAML: oops"), "a.yml:2: not valid YAML: oops"),
        (Problem(None, None, None, "workers must be at least 1"), "workers must be at least 1"),
    ],
)
def test_a_problem_shows_what_is_known_of_where_it_is(problem: Problem, shown: str) -> None:
    assert str(problem) == shown


def test_a_problem_is_placed_at_its_line(tmp_path: Path) -> None:
    spec = spec_of("name: x\nsettings:\n  mini_batch_size: 0\n", tmp_path)
    assert specs.problem(spec, ["settings", "mini_batch_size"], "too small") == Problem(
        str(tmp_path / "spec.yml"), 3, "settings.mini_batch_size", "too small"
    )


def test_problems_in_order_sort_by_line_within_each_file() -> None:
    problems = specs.Problems()
    problems.found += [
        Problem("b.yml", 9, "x", "1"),
        Problem("a.yml", 4, "y", "2"),
        Problem("b.yml", 2, "z", "3"),
        Problem("a.yml", None, "w", "4"),
    ]
    assert [p.message for p in problems.in_order()] == ["3", "1", "4", "2"]


def test_attempt_keeps_placed_problems_and_places_the_others(tmp_path: Path) -> None:
    spec = spec_of("name: x\ncode: src\n", tmp_path)
    placed = Problem("other.yml", 5, "command", "is not declared")

    def invalid() -> None:
        raise InvalidSpecError([placed, Problem(None, None, None, "bad script")], hint="fix it")

    def missing() -> None:
        raise NotFoundError("code folder not found: src", hint="create it")

    problems = specs.Problems()
    assert problems.attempt(spec, ["code"], invalid) is None
    assert problems.attempt(spec, ["code"], missing) is None
    assert problems.attempt(spec, ["code"], lambda: 7) == 7
    file = tmp_path / "spec.yml"
    with pytest.raises(InvalidSpecError) as info:
        problems.raise_if_any()
    assert info.value.message.splitlines() == [
        "other.yml:5: command: is not declared",
        f"{file}:2: code: bad script (fix it)",
        f"{file}:2: code: code folder not found: src (create it)",
    ]


def test_no_problems_raise_nothing() -> None:
    specs.Problems().raise_if_any()
