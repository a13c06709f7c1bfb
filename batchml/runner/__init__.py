"""A batch scoring job as a library: plan mini-batches, run them on workers, assemble outputs.

result = run_job(files, ScoringSpec(code_dir, "score.py"),
                 RunSettings(max_concurrency_per_instance=2),
                 output_dir=out, logs_dir=logs, on_event=print_progress)

The names below are imported when first used, so that `python -m batchml.runner` (a job's
runner, see batchml.runner.__main__) can detach from the command that started it at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchml.core.run_settings import RunSettings
    from batchml.runner.engine import run_job
    from batchml.runner.events import JobCounts, JobEvent, JobResult, JobStatus
    from batchml.runner.plan import plan_mini_batches
    from batchml.runner.scheduler import NO_SUCCEEDED_ITEM
    from batchml.worker.messages import ScoringSpec

_HOMES = {
    "NO_SUCCEEDED_ITEM": "batchml.runner.scheduler",
    "JobCounts": "batchml.runner.events",
    "JobEvent": "batchml.runner.events",
    "JobResult": "batchml.runner.events",
    "JobStatus": "batchml.runner.events",
    "RunSettings": "batchml.core.run_settings",
    "ScoringSpec": "batchml.worker.messages",
    "plan_mini_batches": "batchml.runner.plan",
    "run_job": "batchml.runner.engine",
}

__all__ = [
    "NO_SUCCEEDED_ITEM",
    "JobCounts",
    "JobEvent",
    "JobResult",
    "JobStatus",
    "RunSettings",
    "ScoringSpec",
    "plan_mini_batches",
    "run_job",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'batchml.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
