"""How a job runs its mini-batches: size, workers, retries, timeout, error threshold, output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from batchml.core.errors import InvalidSpecError
from batchml.core.job_environment import ENV_MANAGERS
from batchml.core.sizes import parse_size

OUTPUT_ACTIONS = ("append_row", "summary_only")

SIZE_RULE = (
    "a number of files (1 or more), a size such as 10MB, 512kb or 1gb, or rows such as '1000 rows'"
)
_ROWS = re.compile(r"\s*(\d+)\s*rows?\s*", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """A model deployment's run settings, after per-job overrides, with Azure's defaults.

    A job records them as they are (the `settings` block of job.json and `job show`).
    timeout is in seconds per run() call. error_threshold counts failed files across the job;
    -1 ignores all failures (values below -1 mean the same, as in Azure). It is a count, judged
    as files fail, so it needs no total and holds the same while a job's first mini-batches run
    before its input is all listed. (There is no percentage form: allowed_failed_percent is
    Azure's parallel jobs'; a percentage could only be judged once the listing ended.) logging_level and
    environment_variables are the workers' (run_job takes them in its ScoringSpec).
    env_manager is batchml's own: `uv` builds the deployment's environment, `local` runs in
    batchml's interpreter; None leaves it to the workspace's default. reuse (batchml's own)
    takes the outcome of mini-batches earlier jobs scored alike (batchml.runner.reuse).
    partition_keys (as Azure's parallel jobs) makes a tabular input's mini-batches one per
    distinct combination of those columns' values (batchml.runner.tabular).
    """

    instance_count: int = 1
    max_concurrency_per_instance: int = 1
    # Files per mini-batch, a bound on a mini-batch's bytes ("10MB"; "10" is 10 files), or
    # rows per mini-batch of a tabular input ("1000 rows").
    mini_batch_size: int | str = 10
    output_action: str = "append_row"
    output_file_name: str = "predictions.csv"
    max_retries: int = 3
    timeout: float = 30
    error_threshold: int = -1
    logging_level: str = "info"
    environment_variables: dict[str, str] = field(default_factory=dict)
    env_manager: str | None = None
    reuse: bool = True
    partition_keys: list[str] = field(default_factory=list)

    def view(self) -> dict[str, object]:
        """What dataclasses.asdict makes of the settings, without its deep copy of every
        value, which costs a listing of every job more than the rest of the job's shape: the
        fields are flat, so copying the one dict and the one list copies all there is."""
        values = dict(vars(self))
        values["environment_variables"] = dict(self.environment_variables)
        values["partition_keys"] = list(self.partition_keys)
        return values

    @property
    def mini_batch_bytes(self) -> int | None:
        """The bound on a mini-batch's bytes, if mini_batch_size is a size; else None."""
        size = self.mini_batch_size
        return parse_size(size) if isinstance(size, str) else None

    @property
    def mini_batch_rows(self) -> int | None:
        """The rows per mini-batch, if mini_batch_size is rows ("1000 rows"); else None."""
        size = self.mini_batch_size
        match = _ROWS.fullmatch(size) if isinstance(size, str) else None
        return int(match[1]) if match is not None else None

    @property
    def workers(self) -> int:
        """How many workers run mini-batches at once."""
        return self.instance_count * self.max_concurrency_per_instance

    def __post_init__(self) -> None:
        problems = []
        size = self.mini_batch_size
        if isinstance(size, str) and size.strip().isdigit():  # as Azure: "10" is 10 files
            size = int(size)
            object.__setattr__(self, "mini_batch_size", size)
        bound = (
            (self.mini_batch_bytes or self.mini_batch_rows or 0) if isinstance(size, str) else size
        )
        if bound < 1:
            problems.append(f"mini_batch_size must be {SIZE_RULE}, not {size!r}")
        if self.instance_count < 1:
            problems.append(f"instance_count must be at least 1, not {self.instance_count}")
        if self.max_concurrency_per_instance < 1:
            problems.append(
                "max_concurrency_per_instance must be at least 1, "
                f"not {self.max_concurrency_per_instance}"
            )
        if self.max_retries < 0:
            problems.append(f"max_retries must be 0 or more, not {self.max_retries}")
        if not self.timeout > 0:
            problems.append(f"timeout must be more than 0 seconds, not {self.timeout}")
        if self.output_action not in OUTPUT_ACTIONS:
            problems.append(
                f"output_action must be one of {', '.join(OUTPUT_ACTIONS)}, "
                f"not {self.output_action!r}"
            )
        if self.env_manager is not None and self.env_manager not in ENV_MANAGERS:
            problems.append(
                f"env_manager must be one of {', '.join(ENV_MANAGERS)}, not {self.env_manager!r}"
            )
        name = self.output_file_name
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            problems.append(f"output_file_name must be a plain file name, not {name!r}")
        if problems:
            raise InvalidSpecError.unplaced(problems)
        if self.error_threshold < -1:
            object.__setattr__(self, "error_threshold", -1)
