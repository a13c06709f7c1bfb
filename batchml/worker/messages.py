"""What passes between the scheduler and a worker: the worker's config, a mini-batch attempt and
the outcomes a worker reports. Everything here is picklable: it crosses process and node bounds.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core.errors import InvalidSpecError

if TYPE_CHECKING:
    # Only a Ray actor's config holds one (unpickling it imports the module then): a local
    # worker's start imports less.
    from batchml.core.storage_urls import StorageAccess

LOGGING_LEVELS = ("warning", "info", "debug")


@dataclass(frozen=True)
class ScoringSpec:
    """The user's scoring code, as a deployment's code_configuration describes it.

    code_dir is put first on sys.path (with the script's own folder) and is the workers' working
    directory; scoring_script is relative to it, e.g. "batch_driver.py" or "code/score.py".
    model_dir is exported as AZUREML_MODEL_DIR; environment_variables are exported in workers.
    logging_level (warning|info|debug) is the level of the root logger in workers.
    """

    code_dir: Path
    scoring_script: str
    model_dir: Path | None = None
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    logging_level: str = "info"

    def __post_init__(self) -> None:
        if self.logging_level.lower() not in LOGGING_LEVELS:
            raise InvalidSpecError.unplaced(
                [
                    f"logging_level must be one of {', '.join(LOGGING_LEVELS)}, "
                    f"not {self.logging_level!r}"
                ]
            )

    @property
    def script_path(self) -> Path:
        """The absolute path of the scoring script."""
        return (self.code_dir / self.scoring_script).absolute()


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs, picklable.

    parts_dir is where a mini-batch's append_row lines go when they are too many to send back
    with its outcome; None (summary_only) means run()'s results are only counted.
    python is the interpreter local workers run with, isolated from the job's own packages
    (a deployment's environment); None is the job's own interpreter, with the job's packages.
    With variables_follow, the worker's first message is a dict of more environment variables
    (those of the job's MLflow run, which was still being opened when the worker started; none
    for a worker started ahead, which waits for it to be handed out), which it exports under
    scoring's own before it imports the script.
    """

    scoring: ScoringSpec
    output_dir: Path
    logs_dir: Path
    parts_dir: Path | None
    python: Path | None = None
    # Set when workers fetch their mini-batches' files themselves (Ray actors), with how the
    # user named the folders in storage (batchml.runner.inputs.storage_names), for messages.
    storage: StorageAccess | None = None
    variables_follow: bool = False
    storage_names: Mapping[str, str] = field(default_factory=dict)
    # With storage, when the mini-batches are row ranges of a table's blobs: each blob's size,
    # by path, for the ranged downloads the workers read them with (batchml.store.blob_ranges).
    blob_sizes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerLogPaths:
    """A worker's log files, named like Azure's: logs/user/<kind>/<node>/processNNN.*"""

    stdout: Path
    stderr: Path
    error: Path

    @classmethod
    def for_worker(cls, logs_dir: Path, node: str, slot: int) -> WorkerLogPaths:
        """The log files of worker `slot` on `node`; a replacement worker appends to them."""
        user = logs_dir / "user"
        name = f"process{slot:03d}"
        return cls(
            stdout=user / "stdout" / node / f"{name}.stdout.txt",
            stderr=user / "stderr" / node / f"{name}.stderr.txt",
            error=user / "error" / node / f"{name}.txt",
        )


class Status(enum.Enum):
    """How a worker's start or a mini-batch attempt ended.

    The scheduler acts on the difference: the user's code failing (FAILED) is retried and
    counted against the error threshold; a fault in batchml itself (INTERNAL_ERROR) fails the
    job at once and is reported as internal, since retrying would not help.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class MiniBatchTask:
    """One attempt at one mini-batch: its 0-based index, 1-based attempt and absolute paths."""

    index: int
    attempt: int
    files: tuple[str, ...]
    # With WorkerConfig.storage: `files` are in storage, and these their cache keys.
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class TakeBack:
    """The runner wants back these attempts, (index, attempt), sent ahead to a busy worker, for
    a worker that is idle: the worker answers NotTaken, naming those it had not taken yet."""

    attempts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class NotTaken:
    """Those of a TakeBack's attempts that the worker had not taken: it never runs them."""

    attempts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class MiniBatchOutcome:
    """What an attempt gave: how it ended (status), and items, the count of succeeded items.

    The append_row lines come back in rows, or, when they are many, in the part file `part`.
    failed_files is set when run() accounted for each file (FileResults): one line per failed
    file; None means the files that failed are the inputs minus the items.
    """

    index: int
    attempt: int
    status: Status
    elapsed: float
    items: int = 0
    rows: bytes = b""
    part: str | None = None
    error: str | None = None
    detail: str | None = None
    failed_files: tuple[str, ...] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCEEDED

    def with_files_named(self, names: Mapping[str, str]) -> MiniBatchOutcome:
        """This outcome with each file `names` has (the local path run() was given) named as
        it says (its path in storage, as the user named it) in the error, traceback and failed
        files. Longest first, so that a path is never replaced inside a longer one."""

        def named(text: str) -> str:
            for local in sorted(names, key=len, reverse=True):
                text = text.replace(local, names[local])
            return text

        failed = self.failed_files
        return replace(
            self,
            error=self.error and named(self.error),
            detail=self.detail and named(self.detail),
            failed_files=None if failed is None else tuple(map(named, failed)),
        )


@dataclass(frozen=True)
class StartOutcome:
    """Whether the script imported and init() returned; error is one line naming the cause."""

    status: Status
    error: str | None = None
    detail: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is Status.SUCCEEDED
