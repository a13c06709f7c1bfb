"""The invocation YAML of `batch-endpoint invoke -f`: `inputs:`, `outputs:`, `deployment:`.

A model deployment takes exactly one data input (its name does not matter) and one output,
`score` (reference section 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError

DATA_TYPES = ("uri_folder", "uri_file")


@dataclass(frozen=True)
class Invocation:
    deployment: str | None = None
    input: str | None = None
    input_type: str | None = None
    output_path: str | None = None


def load(path: Path) -> Invocation:
    spec = specs.load_file(path)
    data = spec.data
    problems = []
    unknown = sorted(set(data) - {"inputs", "outputs", "endpoint", "deployment", "$schema"})
    problems += [f"{specs.location(spec, [k])}: {k}: unknown field" for k in unknown]
    inputs = data.get("inputs") or {}
    if not isinstance(inputs, dict) or len(inputs) != 1:
        problems.append(f"{spec.source}: inputs: a model deployment takes exactly one data input")
        inputs = {}
    value = next(iter(inputs.values()), None)
    if isinstance(value, dict):
        if value.get("type", "uri_folder") not in DATA_TYPES:
            problems.append(
                f"{specs.location(spec, ['inputs'])}: inputs: type must be uri_folder or uri_file"
            )
        input_path, input_type = value.get("path"), value.get("type")
    else:
        input_path, input_type = value, None
    score = (data.get("outputs") or {}).get("score") or {}
    if problems:
        raise InvalidSpecError(problems)
    return Invocation(
        deployment=data.get("deployment"),
        input=str(input_path) if input_path else None,
        input_type=input_type,
        output_path=score.get("path") if isinstance(score, dict) else None,
    )
