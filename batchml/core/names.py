"""Azure's naming rules, for every name that becomes part of a path in the workspace.

One check, made where a name turns into a path (batchml.store.workspace): a name that breaks
its rule can never reach the file system, whichever flag, YAML field or reference it came
from, so `..`, `/`, absolute paths and empty names cannot leave the workspace. The JSON
schemas state the same rules for YAML fields (tests/unit/test_names.py keeps them equal), so a
YAML mistake is still reported at its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchml.core.errors import UsageError


@dataclass(frozen=True)
class Rule:
    pattern: str
    text: str
    max_length: int
    min_length: int = 1


# Endpoints and deployments: SDK entities/_endpoint/_endpoint_helpers.py.
RESOURCE = Rule(
    r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?",
    "3-32 characters of letters, digits and '-', starting with a letter and ending with a "
    "letter or digit",
    32,
    3,
)
COMPUTE = Rule(
    r"[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]",
    "3-32 characters of letters, digits and '-', starting with a letter and ending with a "
    "letter or digit",
    32,
    3,
)
ASSET = Rule(
    r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}",
    "1-255 characters of letters, digits, '_', '.' and '-', starting with a letter or digit",
    255,
)
COMPONENT = Rule(
    r"[a-z][a-z0-9_]*", "lowercase letters, digits and '_', starting with a letter", 255
)
VERSION = Rule(
    r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,29}",
    "1-30 characters of letters, digits, '_', '.' and '-', starting with a letter or digit",
    30,
)
JOB = Rule(
    r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}",
    "1-255 characters of letters, digits, '_' and '-', starting with a letter or digit",
    255,
)
DATASTORE = Rule(r"[a-zA-Z0-9_]{1,255}", "1-255 characters of letters, digits and '_'", 255)

RULES: dict[str, Rule] = {
    "endpoint": RESOURCE,
    "deployment": RESOURCE,
    "compute": COMPUTE,
    "model": ASSET,
    "data": ASSET,
    "environment": ASSET,
    "component": COMPONENT,
    "version": VERSION,
    "job": JOB,
    "datastore": DATASTORE,
}


def check(kind: str, name: str) -> str:
    """`name` if it follows the rule for `kind`; else UsageError saying the rule."""
    rule = RULES[kind]
    if not (
        isinstance(name, str)
        and rule.min_length <= len(name) <= rule.max_length
        and re.fullmatch(rule.pattern, name)
    ):
        shown = repr(name) if len(str(name)) <= 80 else repr(str(name)[:77] + "...")
        given = "an empty name" if name == "" else shown
        raise UsageError(f"{given} is not a valid {kind} name: it must be {rule.text}")
    return name
