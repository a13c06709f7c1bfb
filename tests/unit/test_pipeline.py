"""Components and pipeline graphs as pure logic (batchml.core.pipeline and command_line):
command lines and their optional fragments, bindings, literal values, graph checks and step
order. Every message is asserted as the user sees it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from batchml.core import command_line, pipeline
from batchml.core.errors import Problem, UsageError
from batchml.core.pipeline import (
    Data,
    Literal,
    OutputPath,
    ParentInput,
    ParentOutput,
    StepOutput,
)


def at(field: str, message: str) -> Problem:
    """A problem placed where its field is, as the resolver would place it (file:line); here
    a fixed file name."""
    return Problem(f"pipeline.yml[{field}]", None, field, message)


def lines(problems: list[Problem]) -> list[str]:
    """Problems as the user sees them."""
    return [str(problem) for problem in problems]


# -- render ----------------------------------------------------------------------------------

PREPARE = (
    "python prepare.py --data ${{inputs.data}}"
    " $[[--transformations ${{inputs.transformations}}]]"
    " $[[--encoding ${{inputs.encoding}}]]"
    " --out ${{outputs.prepared}}"
)


def test_render_keeps_a_fragment_whose_input_is_present_without_its_brackets() -> None:
    inputs = {"data": "/in", "transformations": "/tr", "encoding": "ordinal"}
    assert command_line.render(PREPARE, inputs, {"prepared": "/out"}) == (
        "python prepare.py --data /in --transformations /tr --encoding ordinal --out /out"
    )


def test_render_drops_a_fragment_whose_input_is_absent() -> None:
    inputs = {"data": "/in", "transformations": None, "encoding": "onehot"}
    assert command_line.render(PREPARE, inputs, {"prepared": "/out"}) == (
        "python prepare.py --data /in  --encoding onehot --out /out"
    )


def test_render_drops_every_fragment_of_an_absent_input_and_a_missing_key_is_absent() -> None:
    assert command_line.render(PREPARE, {"data": "/in"}, {"prepared": "/out"}) == (
        "python prepare.py --data /in   --out /out"
    )


@pytest.mark.parametrize(
    ("inputs", "rendered"),
    [
        ({"low": 1, "high": 9}, "clip --range 1 9 --x"),
        ({"low": 1, "high": None}, "clip  --x"),
        ({"low": None, "high": 9}, "clip  --x"),
        ({}, "clip  --x"),
    ],
)
def test_render_a_fragment_naming_two_inputs_needs_both(
    inputs: dict[str, Any], rendered: str
) -> None:
    command = "clip $[[--range ${{inputs.low}} ${{inputs.high}}]] --x"
    assert command_line.render(command, inputs, {}) == rendered


def test_render_writes_booleans_and_numbers_as_python_prints_them() -> None:
    command = (
        "run --flag ${{inputs.flag}} --off ${{inputs.off}} --n ${{inputs.n}} "
        "--ratio ${{inputs.ratio}} $[[--big ${{inputs.big}}]]"
    )
    inputs = {"flag": True, "off": False, "n": 3, "ratio": 0.25, "big": 1e-05}
    assert command_line.render(command, inputs, {}) == (
        "run --flag True --off False --n 3 --ratio 0.25 --big 1e-05"
    )


def test_render_a_false_or_zero_value_is_present() -> None:
    command = "run $[[--flag ${{inputs.flag}}]] $[[--n ${{inputs.n}}]] $[[--s '${{inputs.s}}']]"
    assert command_line.render(command, {"flag": False, "n": 0, "s": ""}, {}) == (
        "run --flag False --n 0 --s ''"
    )


def test_render_accepts_spaces_inside_the_braces_and_outputs_in_fragments() -> None:
    command = "run ${{ inputs.data }} $[[--out ${{outputs.out}}]]"
    assert command_line.render(command, {"data": "/in"}, {"out": "/o"}) == "run /in --out /o"
    assert command_line.render(command, {"data": "/in"}, {}) == "run /in "


def test_render_a_multi_line_fragment() -> None:
    command = "run $[[\n  --data ${{inputs.data}}\n]] end"
    assert command_line.render(command, {"data": "/in"}, {}) == "run \n  --data /in\n end"
    assert command_line.render(command, {}, {}) == "run  end"


def test_render_refuses_a_required_name_without_a_value() -> None:
    with pytest.raises(UsageError) as info:
        command_line.render("run ${{inputs.data}} ${{outputs.out}}", {"data": "/in"}, {})
    assert info.value.message == "the command needs outputs.out, which has no value"
    assert info.value.exit_code == 2


def test_render_substitutes_a_value_only_once() -> None:
    command = "echo $[[--a '${{inputs.a}}']] --b ${{inputs.b}}"
    inputs = {"a": "${{inputs.b}}", "b": "B"}
    assert command_line.render(command, inputs, {}) == "echo --a '${{inputs.b}}' --b B"


# -- command_names / check_command ------------------------------------------------------------


def test_command_names_says_which_names_sit_in_a_fragment() -> None:
    assert command_line.command_names(PREPARE) == [
        ("inputs", "data", False),
        ("inputs", "transformations", True),
        ("inputs", "encoding", True),
        ("outputs", "prepared", False),
    ]


def component(command: str, **inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "command",
        "command": command,
        "inputs": inputs,
        "outputs": {"out": {"type": "uri_folder"}},
    }


def test_check_command_accepts_a_well_formed_command() -> None:
    checked = component(
        "run ${{inputs.data}} $[[--opt ${{inputs.opt}}]] --mode ${{inputs.mode}} "
        "--o ${{outputs.out}}",
        data={"type": "uri_folder"},
        opt={"type": "string", "optional": True},
        mode={"type": "string", "optional": True, "default": "append"},
    )
    assert lines(command_line.check_command(checked, at)) == []


def test_check_command_names_an_undeclared_input_and_output() -> None:
    checked = component(
        "run ${{inputs.data}} ${{inputs.dta}} ${{outputs.result}}", data={"type": "uri_folder"}
    )
    assert lines(command_line.check_command(checked, at)) == [
        "pipeline.yml[command]: command: ${{inputs.dta}} is not declared (it has: data)",
        "pipeline.yml[command]: command: ${{outputs.result}} is not declared (it has: out)",
    ]


def test_check_command_names_a_section_that_is_neither_inputs_nor_outputs() -> None:
    checked = component("run ${{parent.inputs.data}}")
    assert lines(command_line.check_command(checked, at)) == [
        "pipeline.yml[command]: command: ${{parent.inputs.data}} is neither an input nor an output"
    ]


def test_check_command_with_no_inputs_declared() -> None:
    checked = {"type": "command", "command": "run ${{inputs.x}}"}
    assert lines(command_line.check_command(checked, at)) == [
        "pipeline.yml[command]: command: ${{inputs.x}} is not declared (it has none)"
    ]


def test_check_command_refuses_an_optional_input_outside_a_fragment() -> None:
    checked = component("run --opt ${{inputs.opt}}", opt={"type": "string", "optional": True})
    assert lines(command_line.check_command(checked, at)) == [
        "pipeline.yml[command]: command: the optional input opt is used outside $[[ ... ]]; "
        "wrap the part that needs it: $[[--opt ${{inputs.opt}}]]"
    ]


def test_check_command_allows_an_optional_input_with_a_default_outside_a_fragment() -> None:
    checked = component(
        "run --opt ${{inputs.opt}}", opt={"type": "string", "optional": True, "default": "x"}
    )
    assert lines(command_line.check_command(checked, at)) == []


@pytest.mark.parametrize("name", ["path", "PATH", "home", "Shell", "ld_library_path"])
def test_check_command_refuses_a_reserved_input_name(name: str) -> None:
    checked = component(f"run ${{{{inputs.{name}}}}}", **{name: {"type": "string"}})
    assert lines(command_line.check_command(checked, at)) == [
        f"pipeline.yml[inputs.{name}]: inputs.{name}: '{name}' is a reserved name; rename it"
    ]


def test_check_command_prefixes_where_the_component_sits() -> None:
    checked = component("run ${{inputs.nope}}")
    assert lines(command_line.check_command(checked, at, "jobs.prep.component.")) == [
        "pipeline.yml[jobs.prep.component.command]: jobs.prep.component.command: "
        "${{inputs.nope}} is not declared (it has none)"
    ]


# -- bindings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "binding"),
    [
        ("${{parent.inputs.input_data}}", ParentInput("input_data")),
        ("  ${{ parent.inputs.x }} ", ParentInput("x")),
        ("${{parent.jobs.prep.outputs.prepared}}", StepOutput("prep", "prepared")),
        ({"path": "${{parent.inputs.x}}", "type": "uri_folder"}, ParentInput("x")),
        ({"path": "${{parent.jobs.a.outputs.o}}"}, StepOutput("a", "o")),
        (
            {"path": "azureml:transforms@latest", "type": "custom_model"},
            Data("azureml:transforms@latest", "custom_model"),
        ),
        (
            {"path": "data", "type": "uri_folder", "mode": "download"},
            Data("data", "uri_folder", "download"),
        ),
        ("append", Literal("append")),
        (3, Literal(3)),
        (0.5, Literal(0.5)),
        (False, Literal(False)),
    ],
)
def test_input_binding(value: Any, binding: pipeline.InputBinding) -> None:
    assert pipeline.input_binding(value) == binding


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "${{parent.outputs.scores}}",
            "'${{parent.outputs.scores}}' is not a binding batchml knows; use "
            "${{parent.inputs.NAME}} or ${{parent.jobs.STEP.outputs.NAME}}",
        ),
        (
            "--x ${{parent.inputs.a}}",
            "'--x ${{parent.inputs.a}}' is not a binding batchml knows; use "
            "${{parent.inputs.NAME}} or ${{parent.jobs.STEP.outputs.NAME}}",
        ),
        ({"type": "uri_folder"}, "a data input needs a path"),
    ],
)
def test_input_binding_refuses(value: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        pipeline.input_binding(value)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "binding"),
    [
        (None, None),
        ({"mode": "upload"}, None),
        ("${{parent.outputs.scores}}", ParentOutput("scores")),
        ({"path": "${{parent.outputs.scores}}", "mode": "upload"}, ParentOutput("scores")),
        ("/tmp/out", OutputPath("/tmp/out")),
        (
            {"path": "azureml://datastores/workspaceblobstore/paths/o", "type": "uri_folder"},
            OutputPath("azureml://datastores/workspaceblobstore/paths/o", "uri_folder"),
        ),
        ({"path": "out", "mode": "upload"}, OutputPath("out", None, "upload")),
    ],
)
def test_output_binding(value: Any, binding: pipeline.OutputBinding) -> None:
    assert pipeline.output_binding(value) == binding


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "${{parent.inputs.x}}",
            "'${{parent.inputs.x}}' is not a binding batchml knows; use ${{parent.outputs.NAME}}",
        ),
        ({"path": 3}, "an output path must be a string, got 3"),
    ],
)
def test_output_binding_refuses(value: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        pipeline.output_binding(value)
    assert info.value.message == message


# -- check_literal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "value", "converted"),
    [
        ({"type": "integer"}, 3, 3),
        ({"type": "integer"}, "3", 3),
        ({"type": "integer"}, 3.0, 3),
        ({"type": "number"}, "2.5", 2.5),
        ({"type": "number"}, 2, 2),
        ({"type": "number"}, "2", 2.0),
        ({"type": "boolean"}, True, True),
        ({"type": "boolean"}, "false", False),
        ({"type": "boolean"}, "TRUE", True),
        ({"type": "string"}, "append", "append"),
        ({"type": "string"}, 5, "5"),
        ({"type": "string"}, True, "True"),
        ({}, "x", "x"),
        ({"type": "string", "enum": ["append", "prediction"]}, "prediction", "prediction"),
        ({"type": "integer", "enum": [1, 2]}, "2", 2),
        ({"type": "integer", "min": 1, "max": 5}, 1, 1),
        ({"type": "integer", "min": 1, "max": 5}, 5, 5),
        ({"type": "number", "min": 0, "max": 1}, "0.5", 0.5),
    ],
)
def test_check_literal_converts(port: dict[str, Any], value: Any, converted: Any) -> None:
    result = pipeline.check_literal("n", port, value)
    assert result == converted
    assert type(result) is type(converted)


@pytest.mark.parametrize(
    ("port", "value", "message"),
    [
        ({"type": "integer"}, 3.5, "input n: 3.5 is not a valid integer"),
        ({"type": "integer"}, "x", "input n: 'x' is not a valid integer"),
        ({"type": "integer"}, "3.0", "input n: '3.0' is not a valid integer"),
        ({"type": "integer"}, True, "input n: True is not a valid integer"),
        ({"type": "number"}, "many", "input n: 'many' is not a valid number"),
        ({"type": "number"}, False, "input n: False is not a valid number"),
        ({"type": "boolean"}, "yes", "input n: 'yes' is not a valid boolean"),
        ({"type": "boolean"}, 1, "input n: 1 is not a valid boolean"),
        (
            {"type": "string", "enum": ["append", "prediction"]},
            "replace",
            "input n: 'replace' is not one of append, prediction",
        ),
        ({"type": "integer", "enum": [1, 2]}, 3, "input n: 3 is not one of 1, 2"),
        ({"type": "integer", "min": 1, "max": 5}, 0, "input n: 0 is below the minimum 1"),
        ({"type": "integer", "min": 1, "max": 5}, "6", "input n: 6 is above the maximum 5"),
        ({"type": "number", "min": 0.5}, 0.25, "input n: 0.25 is below the minimum 0.5"),
        ({"type": "number", "max": 1}, 1.5, "input n: 1.5 is above the maximum 1"),
    ],
)
def test_check_literal_refuses(port: dict[str, Any], value: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        pipeline.check_literal("n", port, value)
    assert info.value.message == message
    assert info.value.exit_code == 2


# -- check_pipeline ----------------------------------------------------------------------------

PREP = {
    "type": "command",
    "command": "prep",
    "inputs": {
        "data": {"type": "uri_folder"},
        "transformations": {"type": "custom_model", "optional": True},
        "encoding": {"type": "string", "optional": True, "default": "ordinal"},
        "limit": {"type": "integer", "default": 1, "max": 3},
    },
    "outputs": {"prepared": {"type": "uri_folder"}},
}
SCORE = {
    "type": "command",
    "command": "score",
    "inputs": {"data": {"type": "uri_folder"}, "mode": {"type": "string"}},
    "outputs": {"scores": {"type": "uri_folder"}},
}


def scoring() -> dict[str, Any]:
    """A valid two-step pipeline: prep reads the pipeline's data, score reads prep's output."""
    return {
        "type": "pipeline",
        "inputs": {
            "input_data": {"type": "uri_folder"},
            "score_mode": {"type": "string", "default": "append"},
        },
        "outputs": {"scores": {"type": "uri_folder"}},
        "jobs": {
            "prep": {
                "type": "command",
                "component": copy.deepcopy(PREP),
                "inputs": {
                    "data": "${{parent.inputs.input_data}}",
                    "transformations": {"path": "azureml:tr@latest", "type": "custom_model"},
                },
            },
            "score": {
                "type": "command",
                "component": copy.deepcopy(SCORE),
                "inputs": {
                    "data": "${{parent.jobs.prep.outputs.prepared}}",
                    "mode": "${{parent.inputs.score_mode}}",
                },
                "outputs": {"scores": "${{parent.outputs.scores}}"},
            },
        },
    }


def problems(change: Callable[[dict[str, Any]], object]) -> list[str]:
    graph = scoring()
    change(graph)
    return lines(pipeline.check_pipeline(graph, at))


def test_check_pipeline_accepts_a_valid_pipeline() -> None:
    assert lines(pipeline.check_pipeline(scoring(), at)) == []


def test_check_pipeline_unknown_parent_input() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["inputs"]["data"] = "${{parent.inputs.input}}"

    assert problems(change) == [
        "pipeline.yml[jobs.prep.inputs.data]: jobs.prep.inputs.data: the pipeline has no input "
        "input (it has: input_data, score_mode)"
    ]


def test_check_pipeline_parent_input_of_another_kind() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["inputs"]["data"] = "${{parent.inputs.score_mode}}"
        g["jobs"]["score"]["inputs"]["mode"] = "${{parent.inputs.input_data}}"

    assert problems(change) == [
        "pipeline.yml[jobs.prep.inputs.data]: jobs.prep.inputs.data: is a uri_folder input, but "
        "the pipeline input score_mode is a string",
        "pipeline.yml[jobs.score.inputs.mode]: jobs.score.inputs.mode: is a string input, but "
        "the pipeline input input_data is a uri_folder",
    ]


def test_check_pipeline_step_output_bound_to_a_literal_input() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["score"]["inputs"]["mode"] = "${{parent.jobs.prep.outputs.prepared}}"

    assert problems(change) == [
        "pipeline.yml[jobs.score.inputs.mode]: jobs.score.inputs.mode: is a string input; a step "
        "output is a folder or file, not a value"
    ]


def test_check_pipeline_unknown_step() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["score"]["inputs"]["data"] = "${{parent.jobs.nope.outputs.x}}"

    assert problems(change) == [
        "pipeline.yml[jobs.score.inputs.data]: jobs.score.inputs.data: there is no step nope "
        "(it has: prep, score)"
    ]


def test_check_pipeline_unknown_step_output() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["score"]["inputs"]["data"] = "${{parent.jobs.prep.outputs.prepped}}"

    assert problems(change) == [
        "pipeline.yml[jobs.score.inputs.data]: jobs.score.inputs.data: step prep has no output "
        "prepped (it has: prepared)"
    ]


def test_check_pipeline_unknown_component_input() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["score"]["inputs"]["model"] = {"path": "azureml:m@latest", "type": "mlflow_model"}

    assert problems(change) == [
        "pipeline.yml[jobs.score.inputs.model]: jobs.score.inputs.model: the component has no "
        "input model (it has: data, mode)"
    ]


def test_check_pipeline_unknown_component_output() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["outputs"] = {"transformed": None}

    assert problems(change) == [
        "pipeline.yml[jobs.prep.outputs.transformed]: jobs.prep.outputs.transformed: the "
        "component has no output transformed (it has: prepared)"
    ]


def test_check_pipeline_unbound_required_input() -> None:
    def change(g: dict[str, Any]) -> None:
        del g["jobs"]["score"]["inputs"]["mode"]
        # optional, and with a default: neither needs a binding
        del g["jobs"]["prep"]["inputs"]["transformations"]

    assert problems(change) == [
        "pipeline.yml[jobs.score.inputs.mode]: jobs.score.inputs.mode: is required by the "
        "component; bind it"
    ]


def test_check_pipeline_parent_output_bound_twice() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["outputs"] = {"prepared": {"path": "${{parent.outputs.scores}}"}}

    assert problems(change) == [
        "pipeline.yml[jobs.score.outputs.scores]: jobs.score.outputs.scores: outputs.scores is "
        "already bound by step prep"
    ]


def test_check_pipeline_parent_output_not_bound() -> None:
    def change(g: dict[str, Any]) -> None:
        g["outputs"]["report"] = {"type": "uri_file"}

    assert problems(change) == [
        "pipeline.yml[outputs.report]: outputs.report: no step writes it; bind a step output to "
        "${{parent.outputs.report}}"
    ]


def test_check_pipeline_step_output_bound_to_an_unknown_parent_output() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["score"]["outputs"]["scores"] = "${{parent.outputs.score}}"

    assert problems(change) == [
        "pipeline.yml[jobs.score.outputs.scores]: jobs.score.outputs.scores: the pipeline has no "
        "output score (it has: scores)",
        "pipeline.yml[outputs.scores]: outputs.scores: no step writes it; bind a step output to "
        "${{parent.outputs.scores}}",
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("limit", 5, "5 is above the maximum 3"),
        ("limit", "many", "'many' is not a valid integer"),
        ("data", "data", "is a uri_folder input; give {path: ..., type: ...}"),
        (
            "encoding",
            {"path": "x", "type": "uri_file"},
            "is a string input; give a value, not a path",
        ),
    ],
)
def test_check_pipeline_literal_that_does_not_fit(name: str, value: Any, message: str) -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["inputs"][name] = value

    assert problems(change) == [
        f"pipeline.yml[jobs.prep.inputs.{name}]: jobs.prep.inputs.{name}: {message}"
    ]


def test_check_pipeline_reports_every_problem_at_once() -> None:
    def change(g: dict[str, Any]) -> None:
        g["jobs"]["prep"]["inputs"]["data"] = "${{parent.inputs.nope}}"
        g["jobs"]["score"]["inputs"]["data"] = "${{parent.jobs.nope.outputs.x}}"

    assert problems(change) == [
        "pipeline.yml[jobs.prep.inputs.data]: jobs.prep.inputs.data: the pipeline has no input "
        "nope (it has: input_data, score_mode)",
        "pipeline.yml[jobs.score.inputs.data]: jobs.score.inputs.data: there is no step nope "
        "(it has: prep, score)",
    ]


CHAIN = {
    "type": "command",
    "command": "c",
    "inputs": {"data": {"type": "uri_folder"}},
    "outputs": {"out": {"type": "uri_folder"}},
}
SOURCE = {"type": "command", "command": "c", "outputs": {"out": {"type": "uri_folder"}}}


def step(reads: str | None) -> dict[str, Any]:
    """A step of CHAIN reading `reads`' output; of SOURCE if it reads nothing."""
    if reads is None:
        return {"type": "command", "component": SOURCE}
    return {
        "type": "command",
        "component": CHAIN,
        "inputs": {"data": f"${{{{parent.jobs.{reads}.outputs.out}}}}"},
    }


def test_check_pipeline_two_step_cycle() -> None:
    graph = {"jobs": {"prep": step("score"), "score": step("prep")}}
    assert lines(pipeline.check_pipeline(graph, at)) == [
        "pipeline.yml[jobs]: jobs: the steps form a cycle: prep -> score -> prep "
        "(prep.inputs.data = ${{parent.jobs.score.outputs.out}}; "
        "score.inputs.data = ${{parent.jobs.prep.outputs.out}})"
    ]


def test_check_pipeline_three_step_cycle() -> None:
    graph = {"jobs": {"a": step("c"), "b": step("a"), "c": step("b"), "d": step(None)}}
    assert lines(pipeline.check_pipeline(graph, at)) == [
        "pipeline.yml[jobs]: jobs: the steps form a cycle: a -> c -> b -> a "
        "(a.inputs.data = ${{parent.jobs.c.outputs.out}}; "
        "c.inputs.data = ${{parent.jobs.b.outputs.out}}; "
        "b.inputs.data = ${{parent.jobs.a.outputs.out}})"
    ]


def test_check_pipeline_a_step_reading_itself() -> None:
    graph = {"jobs": {"loop": step("loop")}}
    assert lines(pipeline.check_pipeline(graph, at)) == [
        "pipeline.yml[jobs]: jobs: the steps form a cycle: loop -> loop "
        "(loop.inputs.data = ${{parent.jobs.loop.outputs.out}})"
    ]


def test_check_pipeline_a_cycle_behind_an_acyclic_start() -> None:
    graph = {"jobs": {"start": step(None), "x": step("y"), "y": step("x"), "end": step("x")}}
    assert lines(pipeline.check_pipeline(graph, at)) == [
        "pipeline.yml[jobs]: jobs: the steps form a cycle: x -> y -> x "
        "(x.inputs.data = ${{parent.jobs.y.outputs.out}}; "
        "y.inputs.data = ${{parent.jobs.x.outputs.out}})"
    ]


# -- dependencies / order -------------------------------------------------------------------------


def test_dependencies_in_the_order_a_step_names_them() -> None:
    job = {
        "inputs": {
            "a": "${{parent.jobs.second.outputs.out}}",
            "b": "${{parent.inputs.x}}",
            "c": {"path": "${{parent.jobs.first.outputs.out}}"},
            "d": "${{parent.jobs.second.outputs.other}}",
            "e": 3,
        }
    }
    assert pipeline.dependencies(job) == ["second", "first"]


def test_order_is_declaration_order_when_steps_are_free() -> None:
    jobs = {"zeta": step(None), "alpha": step(None), "mid": step(None)}
    assert pipeline.order(jobs) == ["zeta", "alpha", "mid"]


def test_order_puts_a_step_after_those_it_reads() -> None:
    jobs = {"score": step("prep"), "prep": step(None), "report": step("score")}
    assert pipeline.order(jobs) == ["prep", "score", "report"]


def test_order_takes_the_first_ready_step_in_declaration_order() -> None:
    jobs = {"z": step("b"), "a": step(None), "b": step("a"), "c": step(None)}
    assert pipeline.order(jobs) == ["a", "b", "z", "c"]


def test_order_of_the_scoring_pipeline() -> None:
    graph = scoring()
    graph["jobs"] = {"score": graph["jobs"]["score"], "prep": graph["jobs"]["prep"]}
    assert pipeline.order(graph["jobs"]) == ["prep", "score"]
