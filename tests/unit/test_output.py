"""The renderer and --query: exact outputs, matching what knack (the engine of `az`) prints."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import datetime, timedelta
from enum import Enum
from pathlib import PurePosixPath
from typing import Any

import pytest

from batchml.core.errors import UsageError
from batchml.output.formats import FORMATS
from batchml.output.query import compile_query
from batchml.output.render import render

ENDPOINTS: list[dict[str, Any]] = [
    {
        "name": "mnist-batch",
        "id": "/workspaces/local/batchEndpoints/mnist-batch",
        "type": "batch_endpoint",
        "provisioning_state": "Succeeded",
        "defaults": {"deployment_name": "mnist-torch"},
        "tags": {"team": "vision"},
        "auth_mode": "local",
        "description": None,
    },
    {
        "name": "heart-classifier",
        "id": "/workspaces/local/batchEndpoints/heart-classifier",
        "type": "batch_endpoint",
        "provisioning_state": "Creating",
        "defaults": {"deployment_name": None},
        "tags": {},
        "auth_mode": "local",
        "description": "Predicts heart disease",
    },
]

JOB = {"name": "myjob", "status": "Completed", "display_name": "Café ☕ run"}


def q(expression: str) -> Any:
    return compile_query(expression)


# json


def test_json_dict_sorts_keys_with_two_space_indent() -> None:
    assert render({"b": 1, "a": [True, None, 2.5]}, "json") == (
        '{\n  "a": [\n    true,\n    null,\n    2.5\n  ],\n  "b": 1\n}\n'
    )


def test_json_list() -> None:
    assert render([{"name": "a"}, {"name": "b"}], "json") == (
        '[\n  {\n    "name": "a"\n  },\n  {\n    "name": "b"\n  }\n]\n'
    )


def test_json_keeps_unicode_unescaped() -> None:
    assert render(JOB, "json") == (
        '{\n  "display_name": "Café ☕ run",\n  "name": "myjob",\n  "status": "Completed"\n}\n'
    )


def test_json_empty_list_prints_brackets() -> None:
    assert render([], "json") == "[]\n"


@pytest.mark.parametrize("output", FORMATS)
def test_none_result_prints_nothing_in_every_format(output: str) -> None:
    assert render(None, output) == ""


def test_query_that_selects_nothing_prints_nothing() -> None:
    assert render(JOB, "json", query=q("missing")) == ""


def test_json_of_a_projection_is_sorted_like_knack() -> None:
    result = render(ENDPOINTS[0], "json", query=q("{Name:name, Defaults:defaults}"))
    assert result == (
        '{\n  "Defaults": {\n    "deployment_name": "mnist-torch"\n  },\n'
        '  "Name": "mnist-batch"\n}\n'
    )


def test_jsonc_without_color_is_json() -> None:
    assert render(ENDPOINTS, "jsonc") == render(ENDPOINTS, "json")


def test_yamlc_without_color_is_yaml() -> None:
    assert render(ENDPOINTS, "yamlc") == render(ENDPOINTS, "yaml")


@pytest.mark.parametrize(("colored", "plain"), [("jsonc", "json"), ("yamlc", "yaml")])
def test_color_adds_only_ansi_codes(colored: str, plain: str) -> None:
    text = render(ENDPOINTS, colored, color=True)
    assert "\x1b[" in text
    assert re.sub(r"\x1b\[[0-9;]*m", "", text) == render(ENDPOINTS, plain)


def test_color_is_ignored_by_plain_formats() -> None:
    assert render(JOB, "json", color=True) == render(JOB, "json")


# yaml


def test_yaml_block_style_sorted_keys_unicode() -> None:
    data = {"name": "myjob", "display_name": "Café ☕", "tags": {"b": 1, "a": [1, 2]}, "x": None}
    assert render(data, "yaml") == (
        "display_name: Café ☕\nname: myjob\ntags:\n  a:\n  - 1\n  - 2\n  b: 1\nx: null\n"
    )


def test_yaml_of_a_projection() -> None:
    result = render(ENDPOINTS, "yaml", query=q("[].{Name:name, State:provisioning_state}"))
    assert (
        result
        == "- Name: mnist-batch\n  State: Succeeded\n- Name: heart-classifier\n  State: Creating\n"
    )


def test_yaml_of_a_scalar_ends_the_document() -> None:
    assert render(JOB, "yaml", query=q("name")) == "myjob\n...\n"


# none


def test_none_prints_nothing() -> None:
    assert render(ENDPOINTS, "none") == ""


# tsv


def test_tsv_scalar_query_for_shell_capture() -> None:
    assert render(JOB, "tsv", query=q("name")) == "myjob\n"


def test_tsv_list_of_names_one_per_line() -> None:
    assert render(ENDPOINTS, "tsv", query=q("[].name")) == "mnist-batch\nheart-classifier\n"


def test_tsv_projection_keeps_the_written_order() -> None:
    result = render(ENDPOINTS, "tsv", query=q("[].{s:provisioning_state, n:name}"))
    assert result == "Succeeded\tmnist-batch\nCreating\theart-classifier\n"


def test_tsv_plain_dict_values_sorted_by_key() -> None:
    row = {"zeta": "z", "alpha": "a", "mid": 3}
    assert render(row, "tsv") == "a\t3\tz\n"


def test_tsv_nested_values_bools_and_nulls() -> None:
    row = {"a_dict": {"k": "v"}, "b_list": [1, 2, 3], "c_bool": True, "d_none": None, "e": 1.5}
    # Inside a row knack writes str(value): a dict is an empty field, a list its length.
    assert render(row, "tsv") == "\t3\tTrue\tNone\t1.5\n"


def test_tsv_top_level_bool_is_lowercase() -> None:
    assert render([True, False, "x", 0], "tsv") == "true\nfalse\nx\n0\n"


def test_tsv_list_rows() -> None:
    result = render(ENDPOINTS, "tsv", query=q("[].[name, auth_mode, tags]"))
    assert result == "mnist-batch\tlocal\t\nheart-classifier\tlocal\t\n"


def test_tsv_empty_list_prints_nothing() -> None:
    assert render([], "tsv") == ""


# table


def test_table_of_endpoints_drops_nested_null_and_arm_keys() -> None:
    # Keys are sorted within a row; a column first seen in a later row goes last (tabulate).
    assert render(ENDPOINTS, "table") == (
        "Auth_mode    Name              Provisioning_state    Description\n"
        "-----------  ----------------  --------------------  ----------------------\n"
        "local        mnist-batch       Succeeded\n"
        "local        heart-classifier  Creating              Predicts heart disease\n"
    )


def test_table_of_a_projection_keeps_query_order_and_names() -> None:
    result = render(
        ENDPOINTS, "table", query=q("[].{Name:name, Defaults:defaults.deployment_name}")
    )
    assert result == (
        "Name              Defaults\n"
        "----------------  -----------\n"
        "mnist-batch       mnist-torch\n"
        "heart-classifier\n"
    )


def test_table_projection_of_a_nested_dict_drops_the_column() -> None:
    result = render(ENDPOINTS[0], "table", query=q("{Name:name, Defaults:defaults}"))
    assert result == "Name\n-----------\nmnist-batch\n"


def test_table_capitalises_only_the_first_letter() -> None:
    row = {"camelCase": True, "snake_case": 0, "flag": False}
    assert render(row, "table") == (
        "CamelCase    Flag    Snake_case\n"
        "-----------  ------  ------------\n"
        "True         False   0\n"
    )


def test_table_of_scalars_is_a_result_column() -> None:
    assert render(ENDPOINTS, "table", query=q("[].name")) == (
        "Result\n----------------\nmnist-batch\nheart-classifier\n"
    )


def test_table_of_lists_numbers_the_columns() -> None:
    result = render(ENDPOINTS, "table", query=q("[].[name, provisioning_state]"))
    assert result == (
        "Column1           Column2\n"
        "----------------  ---------\n"
        "mnist-batch       Succeeded\n"
        "heart-classifier  Creating\n"
    )


def test_table_multiline_cell_makes_a_taller_row() -> None:
    rows = [{"name": "a", "error": "line one\nline two"}, {"name": "bb", "error": "ok"}]
    assert render(rows, "table") == (
        "Error     Name\n--------  ------\nline one  a\nline two\nok        bb\n"
    )


def test_table_with_no_columns_prints_an_empty_line() -> None:
    assert render([], "table") == "\n"
    assert render({"tags": {"a": "b"}}, "table") == "\n"


# data a command may return


class Status(str, Enum):
    COMPLETED = "Completed"


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    status: Status
    inputs: tuple[str, ...]
    created: datetime
    timeout: timedelta
    output: PurePosixPath
    _cache: int = 0


def test_dataclasses_enums_and_tuples_become_plain_data() -> None:
    job = Job(
        name="myjob",
        status=Status.COMPLETED,
        inputs=("a.csv", "b.csv"),
        created=datetime(2024, 5, 1, 12, 30),
        timeout=timedelta(seconds=90),
        output=PurePosixPath("outputs/predictions.csv"),
    )
    assert render(job, "json") == (
        '{\n  "created": "2024-05-01T12:30:00",\n  "inputs": [\n    "a.csv",\n    "b.csv"\n  ],\n'
        '  "name": "myjob",\n  "output": "outputs/predictions.csv",\n  "status": "Completed",\n'
        '  "timeout": "0:01:30"\n}\n'
    )
    assert render([job], "tsv", query=q("[].status")) == "Completed\n"


# errors


@pytest.mark.parametrize("expression", ["[].name[", "", "{Name:name", "foo bar"])
def test_bad_query_is_a_usage_error(expression: str) -> None:
    with pytest.raises(UsageError) as info:
        compile_query(expression)
    assert info.value.exit_code == 2
    assert info.value.message == f"argument --query: invalid jmespath_type value: {expression!r}"
    assert info.value.hint is not None


def test_query_failing_on_the_data_is_a_usage_error() -> None:
    query = compile_query("length(description)")
    with pytest.raises(UsageError, match=r"^Invalid jmespath query supplied for `--query`: "):
        render(ENDPOINTS[0], "json", query=query)


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"invalid choice: 'xml'"):
        render(JOB, "xml")


def test_importing_the_package_loads_no_heavy_modules() -> None:
    code = (
        "import sys, batchml.output.render, batchml.output.query;"
        "print(sorted(m for m in ('jmespath', 'yaml', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
