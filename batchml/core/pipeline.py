"""Components and pipeline graphs, as pure logic: ports, literal values, bindings, step order
(command lines are in core/command_line.py).

A command component declares typed `inputs` and `outputs`. A pipeline component wires command
steps: a step input binds to `${{parent.inputs.x}}`, `${{parent.jobs.step.outputs.o}}`, a
literal or `{path, type}`; a step output may bind to `${{parent.outputs.o}}`, as in Azure's
expression syntax (https://learn.microsoft.com/azure/machine-learning/reference-yaml-core-syntax,
"Binding inputs and outputs between steps in a pipeline job").

Everything here works on validated spec dicts (schemas/commandComponent, pipelineComponent) and
returns Problems naming the step and the binding; `at(field, message)` makes the Problem of a
field, placed where the field is in its file.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchml.core.errors import Problem, UsageError

if TYPE_CHECKING:
    from batchml.core.spec import ProblemAt

LITERAL_TYPES = ("string", "integer", "number", "boolean")
DATA_TYPES = ("uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model")
MODEL_TYPES = ("mlflow_model", "custom_model")

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_PARENT_INPUT = re.compile(r"^parent\.inputs\.(\w+)$")
_STEP_OUTPUT = re.compile(r"^parent\.jobs\.(\w+)\.outputs\.(\w+)$")
_PARENT_OUTPUT = re.compile(r"^parent\.outputs\.(\w+)$")


# -- bindings ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParentInput:
    name: str


@dataclass(frozen=True)
class StepOutput:
    step: str
    output: str


@dataclass(frozen=True)
class ParentOutput:
    name: str


@dataclass(frozen=True)
class Literal:
    value: str | int | float | bool


@dataclass(frozen=True)
class Data:
    """A data or model input given by path: a reference, a datastore URI or a local path."""

    path: str
    type: str | None = None
    mode: str | None = None


@dataclass(frozen=True)
class OutputPath:
    """An output given a place of its own."""

    path: str
    type: str | None = None
    mode: str | None = None


InputBinding = ParentInput | StepOutput | Literal | Data
OutputBinding = ParentOutput | OutputPath | None


def _expression(value: str) -> str | None:
    """The inside of a string that is exactly one `${{ ... }}`, else None."""
    match = EXPRESSION.fullmatch(value.strip())
    return match[1] if match else None


def input_binding(value: Any) -> InputBinding:
    """What a step input is bound to. Raises UsageError for an expression it cannot use."""
    if isinstance(value, dict):
        path = value.get("path")
        inner = input_binding(path) if isinstance(path, str) and "${{" in path else None
        if inner is not None:
            return inner
        if path is None:
            raise UsageError("a data input needs a path")
        return Data(str(path), value.get("type"), value.get("mode"))
    if isinstance(value, str) and "${{" in value:
        expression = _expression(value)
        if expression is not None and (match := _PARENT_INPUT.match(expression)):
            return ParentInput(match[1])
        if expression is not None and (match := _STEP_OUTPUT.match(expression)):
            return StepOutput(match[1], match[2])
        raise UsageError(
            f"'{value}' is not a binding batchml knows; use ${{{{parent.inputs.NAME}}}} or "
            "${{parent.jobs.STEP.outputs.NAME}}"
        )
    return Literal(value)


def output_binding(value: Any) -> OutputBinding:
    """What a step output is bound to: a pipeline output, a path of its own, or nothing."""
    path = value.get("path") if isinstance(value, dict) else value
    if path is None:
        return None
    if not isinstance(path, str):
        raise UsageError(f"an output path must be a string, got {path!r}")
    if "${{" in path:
        expression = _expression(path)
        match = _PARENT_OUTPUT.match(expression) if expression is not None else None
        if match is None:
            raise UsageError(
                f"'{path}' is not a binding batchml knows; use ${{{{parent.outputs.NAME}}}}"
            )
        return ParentOutput(match[1])
    extra = value if isinstance(value, dict) else {}
    return OutputPath(path, extra.get("type"), extra.get("mode"))


# -- ports and literal values ------------------------------------------------------------------
def has_default(port: Mapping[str, Any]) -> bool:
    return port.get("default") is not None


def check_literal(name: str, port: Mapping[str, Any], value: Any) -> str | int | float | bool:
    """A literal input value converted to its port's type; UsageError naming the input if it
    does not fit (type, enum, min, max)."""
    try:
        return _fit(port, value)
    except UsageError as exc:
        raise UsageError(f"input {name}: {exc.message}") from None


def _fit(port: Mapping[str, Any], value: Any) -> str | int | float | bool:
    """`check_literal` without the input's name: the message says only what does not fit."""
    kind = port.get("type", "string")
    converted: str | int | float | bool
    try:
        if kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            converted = int(value)
        elif kind == "number":
            if isinstance(value, bool):
                raise ValueError
            converted = float(value) if not isinstance(value, int) else value
        elif kind == "boolean":
            converted = _boolean(value)
        else:
            converted = value if isinstance(value, str) else as_text(value)
    except (TypeError, ValueError):
        raise UsageError(f"{value!r} is not a valid {kind}") from None
    allowed = port.get("enum")
    if allowed and converted not in allowed and str(converted) not in map(str, allowed):
        raise UsageError(f"{converted!r} is not one of {', '.join(map(str, allowed))}")
    if kind in ("integer", "number") and not isinstance(converted, (str, bool)):
        low, high = port.get("min"), port.get("max")
        if low is not None and converted < low:
            raise UsageError(f"{converted} is below the minimum {low}")
        if high is not None and converted > high:
            raise UsageError(f"{converted} is above the maximum {high}")
    return converted


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError


def as_text(value: Any) -> str:
    """A value as it appears on a command line: booleans as Python prints them (True), as
    Azure's runtime does."""
    return str(value)


# -- pipeline graphs --------------------------------------------------------------------------
def check_pipeline(pipeline: Mapping[str, Any], at: ProblemAt) -> list[Problem]:
    """Problems of a pipeline component whose steps' components are resolved (each step's
    `component` a command component dict, or None if it could not be read): bindings to unknown
    inputs, steps or outputs, literal values that do not fit, required inputs left unbound, and
    cycles. Each names the step and the binding."""
    jobs: Mapping[str, Any] = pipeline.get("jobs") or {}
    parent_inputs = pipeline.get("inputs") or {}
    parent_outputs = pipeline.get("outputs") or {}
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(at(field, message))

    bound_outputs: dict[str, str] = {}
    for step, job in jobs.items():
        component = job["component"] or _unknown(job)
        ports = component.get("inputs") or {}
        for name, value in (job.get("inputs") or {}).items():
            field = f"jobs.{step}.inputs.{name}"
            if name not in ports:
                problem(field, f"the component has no input {name} ({known(ports)})")
            elif message := _check_input(ports[name], value, jobs, parent_inputs):
                problem(field, message)
        for name, port in ports.items():
            if name not in (job.get("inputs") or {}) and _required(port):
                problem(f"jobs.{step}.inputs.{name}", "is required by the component; bind it")
        outputs = component.get("outputs") or {}
        for name, value in (job.get("outputs") or {}).items():
            field = f"jobs.{step}.outputs.{name}"
            if name not in outputs:
                problem(field, f"the component has no output {name} ({known(outputs)})")
                continue
            try:
                binding = output_binding(value)
            except UsageError as exc:
                problem(field, exc.message)
                continue
            if not isinstance(binding, ParentOutput):
                continue
            if binding.name not in parent_outputs:
                problem(
                    field, f"the pipeline has no output {binding.name} ({known(parent_outputs)})"
                )
            elif binding.name in bound_outputs:
                problem(
                    field,
                    f"outputs.{binding.name} is already bound by step {bound_outputs[binding.name]}",
                )
            else:
                bound_outputs[binding.name] = step
    for name in parent_outputs:
        if name not in bound_outputs:
            problem(
                f"outputs.{name}",
                f"no step writes it; bind a step output to ${{{{parent.outputs.{name}}}}}",
            )
    if not problems and (cycle := _cycle(jobs)):
        problem("jobs", f"the steps form a cycle: {cycle}")
    return problems


def _unknown(job: Mapping[str, Any]) -> dict[str, Any]:
    """A stand-in for a step's component that could not be read (a problem reported where it
    was read): ports of no known type, as the step binds them, so that its bindings are still
    checked."""
    return {
        "inputs": {name: {"optional": True} for name in job.get("inputs") or {}},
        "outputs": {name: {} for name in job.get("outputs") or {}},
    }


def known(ports: Mapping[str, Any]) -> str:
    return "it has: " + ", ".join(ports) if ports else "it has none"


def _required(port: Mapping[str, Any]) -> bool:
    return not port.get("optional") and not has_default(port)


def _check_input(
    port: Mapping[str, Any],
    value: Any,
    jobs: Mapping[str, Any],
    parent_inputs: Mapping[str, Any],
) -> str | None:
    """What is wrong with one step input's binding, or None."""
    try:
        binding = input_binding(value)
    except UsageError as exc:
        return exc.message
    literal_port = port.get("type", "string") in LITERAL_TYPES
    typed = "type" in port  # not so for a step whose component could not be read
    if isinstance(binding, ParentInput):
        if binding.name not in parent_inputs:
            return f"the pipeline has no input {binding.name} ({known(parent_inputs)})"
        kind = (parent_inputs[binding.name] or {}).get("type", "string")
        if typed and (kind in LITERAL_TYPES) != literal_port:
            return (
                f"is a {port.get('type', 'string')} input, but the pipeline input "
                f"{binding.name} is a {kind}"
            )
    if isinstance(binding, StepOutput):
        if binding.step not in jobs:
            return f"there is no step {binding.step} ({known(jobs)})"
        if jobs[binding.step]["component"] is None:
            return None
        outputs = jobs[binding.step]["component"].get("outputs") or {}
        if binding.output not in outputs:
            return f"step {binding.step} has no output {binding.output} ({known(outputs)})"
        if typed and literal_port:
            return f"is a {port['type']} input; a step output is a folder or file, not a value"
    if isinstance(binding, Literal):
        if port.get("type") in DATA_TYPES:
            return f"is a {port['type']} input; give {{path: ..., type: ...}}"
        try:
            _fit(port, binding.value)
        except UsageError as exc:
            return exc.message
    if isinstance(binding, Data) and port.get("type") in LITERAL_TYPES:
        return f"is a {port['type']} input; give a value, not a path"
    return None


def dependencies(job: Mapping[str, Any]) -> list[str]:
    """The steps whose outputs a step reads, in the order it names them."""
    found: list[str] = []
    for value in (job.get("inputs") or {}).values():
        try:
            binding = input_binding(value)
        except UsageError:
            continue
        if isinstance(binding, StepOutput) and binding.step not in found:
            found.append(binding.step)
    return found


def _cycle(jobs: Mapping[str, Any]) -> str | None:
    """A cycle among the steps as `a -> b -> a (how b reads a, ...)`, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(step: str) -> list[str] | None:
        state[step] = "visiting"
        path.append(step)
        for needed in dependencies(jobs[step]):
            if state.get(needed) == "visiting":
                return [*path[path.index(needed) :], needed]
            if needed not in state and (found := visit(needed)):
                return found
        state[step] = "done"
        path.pop()
        return None

    for step in jobs:
        if step not in state and (found := visit(step)):
            reads = [
                f"{reader}.inputs.{name} = ${{{{parent.jobs.{source}.outputs.{_output(v)}}}}}"
                for reader, source in itertools.pairwise(found)
                for name, v in (jobs[reader].get("inputs") or {}).items()
                if _reads(v, source)
            ]
            return " -> ".join(found) + f" ({'; '.join(reads)})"
    return None


def _reads(value: Any, step: str) -> bool:
    try:
        binding = input_binding(value)
    except UsageError:
        return False
    return isinstance(binding, StepOutput) and binding.step == step


def _output(value: Any) -> str:
    binding = input_binding(value)
    return binding.output if isinstance(binding, StepOutput) else ""


def order(jobs: Mapping[str, Any]) -> list[str]:
    """The steps in an order that runs each after those it reads from (declaration order where
    there is a choice). The graph must be acyclic (check_pipeline)."""
    done: list[str] = []
    remaining = list(jobs)
    while remaining:
        ready = next(s for s in remaining if all(d in done for d in dependencies(jobs[s])))
        done.append(ready)
        remaining.remove(ready)
    return done
