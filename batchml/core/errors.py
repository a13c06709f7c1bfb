"""The one error hierarchy of batchml, the exit status each error carries, and the Problem that
an invalid spec is made of."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """How a batchml command exits (also in the README); every exit goes through one of these."""

    SUCCESS = 0
    # A command failed (generic error); a streamed job that did not complete; storage, a
    # server or a cluster that cannot be reached (UnreachableError, ComputeUnavailableError).
    FAILED = 1
    USAGE = 2  # bad flag, bad --query, missing argument
    NOT_FOUND = 3  # a resource, a file, a path
    INVALID_SPEC = 4  # a YAML file or --set value that does not validate
    CONFLICT = 5  # the resource (version) already exists or is in use
    LOCKED = 6  # the workspace is locked by another command (timed out waiting)
    WORKSPACE_VERSION = 7  # the workspace was written by a newer batchml
    INTERRUPTED = 130  # Ctrl-C


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

    exit_code: ExitStatus = ExitStatus.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(BatchmlError):
    exit_code = ExitStatus.USAGE


class ComputeUnavailableError(BatchmlError):
    """A compute cannot run jobs: its engine is not installed, or its cluster is unreachable."""


class UnreachableError(BatchmlError):
    """Storage or a server that cannot be reached (no network, a connection refused, a name
    that does not resolve): exit 1, as a compute whose cluster is unreachable. It may be
    there: trying again later can succeed, so it is not a NotFoundError."""


class NotFoundError(BatchmlError):
    exit_code = ExitStatus.NOT_FOUND


class CredentialsError(BatchmlError):
    """Storage refused a datastore's credentials (a wrong account key, an expired SAS token)."""

    exit_code = ExitStatus.INVALID_SPEC


class InvalidSpecError(BatchmlError):
    """A spec failed validation: `problems` holds every mistake, the message one line each."""

    exit_code = ExitStatus.INVALID_SPEC

    def __init__(self, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)), hint=hint)

    @classmethod
    def unplaced(cls, messages: Iterable[str], *, hint: str | None = None) -> InvalidSpecError:
        """Mistakes in values that come from no file (checked after a spec was validated)."""
        return cls([Problem(None, None, None, message) for message in messages], hint=hint)


class CorruptStateError(BatchmlError):
    """A workspace state file that cannot be read: truncated, garbled, or not batchml's."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(
            f"the workspace file {path} is unreadable: {reason}",
            hint="restore it from a copy, or remove the resource it belongs to",
        )
        self.path = path


class ConflictError(BatchmlError):
    exit_code = ExitStatus.CONFLICT


class WorkspaceLockedError(BatchmlError):
    exit_code = ExitStatus.LOCKED


class WorkspaceVersionError(BatchmlError):
    exit_code = ExitStatus.WORKSPACE_VERSION
