"""The one error hierarchy of batchml. Each class carries its documented exit code.

Exit codes (also in the README):
  0  success
  1  a command failed (generic error, failed job)
  2  usage error: bad flag, bad --query, missing argument
  3  resource not found
  4  invalid spec: a YAML file or --set value that does not validate
  5  conflict: the resource (version) already exists or is in use
  6  the workspace is locked by another command (timed out waiting)
  7  the workspace was written by an incompatible batchml version
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One mistake in a spec, and where it is: `file:line: field: message` when shown.

    `source` is a file path, "command line" or "--set"; None for a value checked apart from any
    file. `line` is None when the field is not in the YAML text (or there is no text); `field`
    (as `a.b.c`) is None for a mistake of the whole file.
    """

    source: str | None
    line: int | None
    field: str | None
    message: str

    @property
    def where(self) -> str:
        """`file:line`, or the source alone when the line is not known ("" without a source)."""
        if self.source is None:
            return ""
        return f"{self.source}:{self.line}" if self.line else self.source

    def __str__(self) -> str:
        parts = [self.where] if self.source is not None else []
        if self.field is not None:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class BatchmlError(Exception):
    """Base class: a failure the user can act on; its message is shown without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(BatchmlError):
    exit_code = 2


class ComputeUnavailableError(BatchmlError):
    """A compute cannot run jobs: its engine is not installed, or its cluster is unreachable."""


class NotFoundError(BatchmlError):
    exit_code = 3


class InvalidSpecError(BatchmlError):
    """A spec failed validation: `problems` holds every mistake, the message one line each."""

    exit_code = 4

    def __init__(self, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)), hint=hint)

    @classmethod
    def unplaced(cls, messages: Iterable[str], *, hint: str | None = None) -> InvalidSpecError:
        """Mistakes in values that come from no file (checked after a spec was validated)."""
        return cls([Problem(None, None, None, message) for message in messages], hint=hint)


class ConflictError(BatchmlError):
    exit_code = 5


class WorkspaceLockedError(BatchmlError):
    exit_code = 6


class WorkspaceVersionError(BatchmlError):
    exit_code = 7


EXIT_CODES: dict[int, str] = {
    0: "success",
    BatchmlError.exit_code: "the command failed",
    UsageError.exit_code: "usage error (bad flag, bad --query)",
    NotFoundError.exit_code: "resource not found",
    InvalidSpecError.exit_code: "invalid spec (YAML or --set)",
    ConflictError.exit_code: "conflict: already exists or in use",
    WorkspaceLockedError.exit_code: "workspace locked by another command",
    WorkspaceVersionError.exit_code: "workspace format not supported by this batchml",
}
