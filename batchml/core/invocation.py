"""The inputs and outputs of a job, as `batch-endpoint invoke -f inputs.yml` and `--set
inputs.x.path=...` give them (as in Azure's "Create jobs and input data for batch endpoints",
https://learn.microsoft.com/azure/machine-learning/how-to-access-data-batch-endpoints-jobs).

The JSON forms (`--inputs`, `--outputs`) are read by `with_json`, the one place for them.

An input is a literal (a bare string, number or boolean; or a mapping with a literal `type` and
its `default`) or data (a mapping with `type`, `path`, `mode`). A model deployment takes exactly
one data input (its name does not matter) and one output, `score`; a pipeline deployment takes
the inputs and outputs its pipeline declares.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core import spec as specs
from batchml.core.errors import UsageError

DATA_TYPES = ("uri_folder", "uri_file", "mltable")
LITERAL_TYPES = ("string", "integer", "number", "boolean")
_KEYS = {"type", "path", "mode", "default", "value", "optional", "min", "max", "description"}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Invocation:
    deployment: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def load(path: Path) -> Invocation:
    """Read an invocation file; relative paths in it are anchored at the file's folder."""
    spec = specs.load_file(path)
    data = spec.data
    problems = specs.Problems()
    unknown = sorted(set(data) - {"inputs", "outputs", "endpoint", "deployment", "$schema"})
    for key in unknown:
        problems.report(spec, [key], "unknown field")
    sections: dict[str, dict[str, Any]] = {}
    for section in ("inputs", "outputs"):
        values = data.get(section) or {}
        if not isinstance(values, dict):
            problems.report(spec, [section], "must be a mapping")
            values = {}
        for name, value in values.items():
            if not _NAME.match(str(name)):
                problems.report(spec, [section, name], "names take only letters, digits and _")
            if isinstance(value, dict) and (extra := sorted(set(value) - _KEYS)):
                problems.report(spec, [section, name], f"unknown keys {', '.join(extra)}")
        sections[section] = {
            str(name): _anchored(value, spec.base_dir) for name, value in values.items()
        }
    problems.raise_if_any()
    return Invocation(data.get("deployment"), sections["inputs"], sections["outputs"])


def _anchored(value: Any, base_dir: Path) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        return value
    path = value["path"]
    if refs.is_reference(path) or refs.is_remote_uri(path) or Path(path).is_absolute():
        return value
    return {**value, "path": str((base_dir / path).resolve())}


def with_json(
    invocation: Invocation, *, inputs: str | None = None, outputs: str | None = None
) -> Invocation:
    """Apply `--inputs '{"NAME": {"type": "uri_folder", "path": "..."}}'` and `--outputs` (the
    JSON forms of Azure's CLI): each a JSON object of name -> value as an inputs file has them,
    added to what `-f` gave (a name given in both takes the JSON's value). Relative paths are
    anchored at the current directory."""
    sections = {"inputs": dict(invocation.inputs), "outputs": dict(invocation.outputs)}
    for section, text in (("inputs", inputs), ("outputs", outputs)):
        if text is None:
            continue
        flag = f"--{section}"
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{flag} is not JSON: {exc}") from None
        if not isinstance(values, dict):
            raise UsageError(f"{flag} must be a JSON object of NAME: {{...}}")
        for name, value in values.items():
            if not _NAME.match(name):
                raise UsageError(f"{flag}: {name}: names take only letters, digits and _")
            if isinstance(value, dict) and (extra := sorted(set(value) - _KEYS)):
                raise UsageError(f"{flag}: {name}: unknown keys {', '.join(extra)}")
            sections[section][name] = _anchored(value, Path.cwd())
    return dataclasses.replace(invocation, inputs=sections["inputs"], outputs=sections["outputs"])


def with_sets(invocation: Invocation, sets: tuple[str, ...]) -> tuple[Invocation, tuple[str, ...]]:
    """Apply `--set inputs.x.path=... inputs.y=3 outputs.z.path=...`; the other assignments
    are returned as they are."""
    sections = {"inputs": dict(invocation.inputs), "outputs": dict(invocation.outputs)}
    rest = []
    for assignment in sets:
        key, _, raw = assignment.partition("=")
        parts = key.strip().split(".")
        if parts[0] not in sections:
            rest.append(assignment)
            continue
        if len(parts) not in (2, 3) or not _NAME.match(parts[1]):
            raise UsageError(
                f"--set {assignment}: use {parts[0]}.NAME=value or {parts[0]}.NAME.KEY=value"
            )
        value = specs.parse_set_value(raw)
        table = sections[parts[0]]
        if len(parts) == 2:
            table[parts[1]] = value
        else:
            current = table.get(parts[1])
            table[parts[1]] = {**(current if isinstance(current, dict) else {}), parts[2]: value}
    changed = dataclasses.replace(
        invocation, inputs=sections["inputs"], outputs=sections["outputs"]
    )
    return changed, tuple(rest)


def model_input(invocation: Invocation) -> tuple[str | None, str | None]:
    """The (path, type) of a model deployment's one data input, or (None, None) if none."""
    inputs = invocation.inputs
    if not inputs:
        return None, None
    if len(inputs) != 1:
        raise UsageError(
            f"a model deployment takes exactly one data input; got {', '.join(inputs)}"
        )
    value = next(iter(inputs.values()))
    if not isinstance(value, dict):
        return str(value), None
    kind = value.get("type")
    if kind is not None and kind not in DATA_TYPES:
        raise UsageError(
            f"a model deployment's input must be uri_folder, uri_file or mltable, not {kind}",
            hint="literal inputs are for pipeline deployments",
        )
    path = value.get("path")
    return (str(path) if path is not None else None), kind


def model_output_path(invocation: Invocation) -> str | None:
    """Where a model deployment's `score` output goes, if the invocation says."""
    unknown = sorted(set(invocation.outputs) - {"score"})
    if unknown:
        raise UsageError(
            f"a model deployment has one output, score; got {', '.join(unknown)}",
        )
    score = invocation.outputs.get("score")
    return str(score["path"]) if isinstance(score, dict) and score.get("path") else None
