"""Spec loading: a YAML file (or flags) plus `--set` overrides, validated against a JSON Schema.

Every mistake is reported at once, one line each, as `file:line: field.path: what is wrong`: each
is a Problem placed in its spec by `problem()`, and every check collects them in `Problems`.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from batchml.core import yaml_text
from batchml.core.errors import InvalidSpecError, NotFoundError, Problem, UsageError

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

SCHEMA_BASE = "https://batchml.local/schemas/"
T = TypeVar("T")


@dataclass
class Spec:
    """A spec document and where it came from (its folder anchors relative paths)."""

    data: dict[str, Any]
    source: str  # a file path, or "command line"
    base_dir: Path
    text: str | None = None  # the YAML text, to find line numbers of mistakes


def load_file(path: str | Path) -> Spec:
    file = Path(path).expanduser()
    text = yaml_text.read(file)
    data = yaml_text.parse(text, str(file))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        message = "the file must hold a YAML mapping (key: value lines)"
        raise InvalidSpecError([Problem(str(file), None, None, message)])
    return Spec(data=data, source=str(file), base_dir=file.resolve().parent, text=text)


def from_flags(data: dict[str, Any]) -> Spec:
    """A spec built from command-line flags; paths are relative to the current directory."""
    return Spec(
        data={k: v for k, v in data.items() if v is not None},
        source="command line",
        base_dir=Path.cwd(),
    )


def from_file_and_flags(
    file: str | Path | None, flags: dict[str, Any], sets: Iterable[str] = ()
) -> Spec:
    """A spec from an optional YAML file, with flags (those not None) and `--set` on top."""
    spec = load_file(file) if file else from_flags({})
    spec.data.update({k: v for k, v in flags.items() if v is not None})
    apply_sets(spec, sets)
    return spec


def parse_set_value(raw: str) -> Any:
    """`--set` values are typed as JSON when they parse (5, true, {"a": 1}), else strings."""
    try:
        # NaN and Infinity are not JSON: state files and `-o json` must stay parseable.
        return json.loads(raw, parse_constant=_not_json)
    except ValueError:
        return raw


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def apply_sets(
    spec: Spec, assignments: Iterable[str], aliases: dict[str, str] | None = None
) -> None:
    """Apply `a.b.c=value` overrides in place. `aliases` maps a first key to a longer path."""
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes key=value (e.g. description=demo); got '{assignment}'")
        parts = key.split(".")
        if aliases and parts[0] in aliases:
            parts = aliases[parts[0]].split(".") + parts[1:]
        target = spec.data
        for part in parts[:-1]:
            node = target.get(part)
            if not isinstance(node, dict):
                node = {}
                target[part] = node
            target = node
        target[parts[-1]] = parse_set_value(raw)


def schema_path(name: str) -> Path:
    """Where schema `name` lives: inside the installed wheel, else the repo's `schemas/`."""
    packaged = resources.files("batchml") / "schemas" / name
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "schemas" / name


@cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    folder = schema_path(name).parent
    registry: Registry = Registry()
    for file in folder.glob("*.schema.json"):
        contents = json.loads(file.read_text())
        registry = registry.with_resource(SCHEMA_BASE + file.name, Resource.from_contents(contents))
    schema = json.loads(schema_path(name).read_text())
    return Draft202012Validator(schema, registry=registry)


def validate(spec: Spec, schema: str) -> dict[str, Any]:
    """Validate against `schemas/<schema>`; raise InvalidSpecError listing every mistake."""
    validator = _validator(schema)
    errors = sorted(validator.iter_errors(spec.data), key=lambda e: list(map(str, e.absolute_path)))
    problems = Problems()
    for error in errors:
        for path, message in _describe(error):
            found = problem(spec, path, message, name=".".join(map(str, path)) or "(top level)")
            if found not in problems.found:
                problems.found.append(found)
    problems.raise_if_any(in_order=True)
    return copy.deepcopy(spec.data)


def _describe(error: ValidationError) -> list[tuple[Sequence[Any], str]]:
    """Turn one jsonschema error into (field path, message) lines a person can act on."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return [([*path, missing], str(schema.get("x-message", "is required")))]
    if "propertyNames" in error.relative_schema_path:
        # A key of a mapping breaks a naming rule: point at the key, whose name is in the path.
        custom = _custom_message(error)
        return [([*path, error.instance], custom or f"is not an allowed name: {error.message}")]
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = (
            sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        )
        lines: list[tuple[Sequence[Any], str]] = []
        for extra in extras:
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(allowed)}"
            lines.append(([*path, extra], f"unknown field{hint}"))
        return lines
    custom = _custom_message(error)
    if custom and error.validator == "not":
        return [(path, custom)]  # the field's presence is the mistake, not its value
    if custom and not path:
        return [(path, custom)]  # the whole document: repeating it helps no one
    if custom:
        return [(path, f"{custom} (got {_shown(error.instance)})")]
    if error.validator == "type":
        return [(path, f"must be {_types(error.validator_value)} (got {_shown(error.instance)})")]
    if error.validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)  # type: ignore[union-attr]
        return [(path, f"must be one of {options} (got {_shown(error.instance)})")]
    if error.validator == "const":
        return [(path, f"must be {error.validator_value} (got {_shown(error.instance)})")]
    if error.validator in ("minimum", "maximum"):
        word = "at least" if error.validator == "minimum" else "at most"
        return [(path, f"must be {word} {error.validator_value} (got {error.instance})")]
    return [(path, error.message)]


def _shown(value: Any) -> str:
    """A value as the user wrote it: JSON, but non-ASCII letters left as they are."""
    return json.dumps(value, ensure_ascii=False)


def _custom_message(error: ValidationError) -> str | None:
    """Schemas may carry `x-message`: a readable rule for patterns, alternatives, fixed values
    and fields that must be absent (`not`). A schema's x-message also replaces "is required"
    for the fields its `required` lists."""
    if error.validator not in (
        "pattern",
        "minLength",
        "maxLength",
        "anyOf",
        "enum",
        "const",
        "not",
    ):
        return None
    schema = error.schema
    return str(schema["x-message"]) if isinstance(schema, dict) and "x-message" in schema else None


def _types(value: Any) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "null": "null",
    }
    values = value if isinstance(value, list) else [value]
    return " or ".join(names.get(str(v), str(v)) for v in values)


# -- where a mistake is ---------------------------------------------------------------------------
def problem(spec: Spec, field: Sequence[Any], message: str, *, name: str | None = None) -> Problem:
    """The mistake `message` in `field` (a path into the spec), at the field's line when the YAML
    text has it. `name` is how the field is shown, if not as its path (`a.b.c`)."""
    line = _line_of(spec.text, field) if spec.text is not None else None
    shown = ".".join(map(str, field)) if name is None else name
    return Problem(spec.source, line, shown, message)


def location(spec: Spec, field: Sequence[Any]) -> str:
    """`file:line` for a field when it is in the YAML text, else just the source."""
    return problem(spec, field, "").where


ProblemAt = Callable[[str, str], Problem]
"""How a check that knows fields by name only (`a.b.c`) makes its problems: (field, message)."""


def problem_at(spec: Spec, within: Sequence[Any] = ()) -> ProblemAt:
    """Problems of the part of `spec` at `within`, for a check that names the fields of that
    part relative to it."""
    return lambda name, message: problem(spec, [*within, *name.split(".")], message, name=name)


class Problems:
    """What one check finds, in the order found, raised together by `raise_if_any`."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def report(self, spec: Spec, field: Sequence[Any], message: str) -> None:
        self.found.append(problem(spec, field, message))

    def attempt(self, spec: Spec, field: Sequence[Any], action: Callable[[], T]) -> T | None:
        """`action()`, or None when it fails with a mistake the user can fix, which is reported
        at `field`; an InvalidSpecError's problems that name their own file are kept as they
        are."""
        try:
            return action()
        except (NotFoundError, UsageError, InvalidSpecError) as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            if not isinstance(exc, InvalidSpecError):
                self.report(spec, field, exc.message + hint)
                return None
            for found in exc.problems:
                placed = found.source is not None
                self.found.append(found if placed else problem(spec, field, found.message + hint))
            return None

    def in_order(self) -> list[Problem]:
        """By line within each file (a problem without a line first), the files in the order
        their first problem was found."""
        files: dict[str | None, int] = {}
        return sorted(
            self.found, key=lambda p: (files.setdefault(p.source, len(files)), p.line or 0)
        )

    def raise_if_any(self, *, in_order: bool = False) -> None:
        """Raise InvalidSpecError with every problem found (by line with `in_order`), if any."""
        if self.found:
            raise InvalidSpecError(self.in_order() if in_order else self.found)


def _line_of(text: str, field: Sequence[Any]) -> int | None:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in field:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            key = next((k for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line = key.start_mark.line + 1 if key is not None else line
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
