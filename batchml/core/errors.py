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

from collections.abc import Sequence


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
    """A spec failed validation. `problems` holds one line per mistake."""

    exit_code = 4

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems), hint=hint)


class CorruptStateError(BatchmlError):
    """A workspace state file that cannot be read: truncated, garbled, or not batchml's."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(
            f"the workspace file {path} is unreadable: {reason}",
            hint="restore it from a copy, or remove the resource it belongs to",
        )
        self.path = path


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
