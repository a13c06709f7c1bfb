"""Command lines of command components: `${{inputs.x}}` and `${{outputs.y}}` name the
component's inputs and outputs; a fragment inside `$[[ ... ]]` disappears when an input it names
has no value, as Azure's optional inputs do (the command component YAML schema,
https://learn.microsoft.com/azure/machine-learning/reference-yaml-component-command)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from batchml.core.errors import Problem, UsageError
from batchml.core.pipeline import EXPRESSION, as_text, has_default, known

if TYPE_CHECKING:
    from batchml.core.spec import ProblemAt

# Azure refuses these input names: they shadow the environment of the step's shell.
RESERVED_INPUT_NAMES = ("path", "user", "home", "pwd", "shell", "logname", "ld_library_path")

_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)
# An optional fragment or an expression, whichever comes first.
_PART = re.compile(r"\$\[\[(?P<fragment>.*?)\]\]|\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)


def command_names(command: str) -> list[tuple[str, str, bool]]:
    """Every `${{inputs.x}}` / `${{outputs.y}}` of a command: (section, name, inside $[[ ]])."""
    found = []
    optional_spans = [m.span() for m in _OPTIONAL.finditer(command)]
    for match in EXPRESSION.finditer(command):
        section, _, name = match[1].partition(".")
        inside = any(start <= match.start() < end for start, end in optional_spans)
        found.append((section, name, inside))
    return found


def check_command(component: Mapping[str, Any], at: ProblemAt, prefix: str = "") -> list[Problem]:
    """Problems of a command component's command line: names it does not declare, and
    optional inputs without a default used outside `$[[ ... ]]`. `prefix` is where the
    component sits in its file (e.g. `jobs.prep.component.`)."""
    inputs = component.get("inputs") or {}
    outputs = component.get("outputs") or {}
    problems: list[Problem] = []

    def problem(field: str, message: str) -> None:
        problems.append(at(prefix + field, message))

    for name in inputs:
        if name.lower() in RESERVED_INPUT_NAMES:
            problem(f"inputs.{name}", f"'{name}' is a reserved name; rename it")
    for section, name, inside in command_names(component["command"]):
        declared = {"inputs": inputs, "outputs": outputs}.get(section)
        if declared is None:
            problem("command", f"${{{{{section}.{name}}}}} is neither an input nor an output")
        elif name not in declared:
            problem("command", f"${{{{{section}.{name}}}}} is not declared ({known(declared)})")
        elif (
            section == "inputs"
            and declared[name].get("optional")
            and not has_default(declared[name])
            and not inside
        ):
            problem(
                "command",
                f"the optional input {name} is used outside $[[ ... ]]; wrap the part that "
                f"needs it: $[[--{name} ${{{{inputs.{name}}}}}]]",
            )
    return problems


def render(command: str, inputs: Mapping[str, Any], outputs: Mapping[str, str]) -> str:
    """The command line with values substituted (once: a value is never read as a template).
    An optional fragment whose inputs are all present keeps its text without the brackets; one
    that names an absent input disappears."""

    def value_of(expression: str) -> str:
        section, _, name = expression.partition(".")
        table: Mapping[str, Any] = inputs if section == "inputs" else outputs
        value = table.get(name)
        if value is None:
            raise UsageError(f"the command needs {section}.{name}, which has no value")
        return as_text(value)

    def part(match: re.Match[str]) -> str:
        if match["fragment"] is None:
            return value_of(match[2])
        names = [(s, n) for s, n, _ in command_names(match["fragment"])]
        present = all((inputs if s == "inputs" else outputs).get(n) is not None for s, n in names)
        return EXPRESSION.sub(lambda m: value_of(m[1]), match["fragment"]) if present else ""

    return _PART.sub(part, command)
