"""The exit statuses (batchml.core.errors.ExitStatus): the errors carry them, the README lists them."""

from __future__ import annotations

import re
from pathlib import Path

from batchml.core import errors
from batchml.core.errors import ExitStatus

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_exit_status() -> None:
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = [int(code) for code in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)]
    assert listed == [status.value for status in ExitStatus]


def test_each_error_exits_with_its_status() -> None:
    assert {
        name: cls.exit_code
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.BatchmlError)
    } == {
        "BatchmlError": ExitStatus.FAILED,
        "UsageError": ExitStatus.USAGE,
        "ComputeUnavailableError": ExitStatus.FAILED,
        "UnreachableError": ExitStatus.FAILED,
        "NotFoundError": ExitStatus.NOT_FOUND,
        "InvalidSpecError": ExitStatus.INVALID_SPEC,
        "CredentialsError": ExitStatus.INVALID_SPEC,
        "CorruptStateError": ExitStatus.FAILED,
        "ConflictError": ExitStatus.CONFLICT,
        "WorkspaceLockedError": ExitStatus.LOCKED,
        "WorkspaceVersionError": ExitStatus.WORKSPACE_VERSION,
    }
