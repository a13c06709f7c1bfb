"""A batch scoring job as a library: plan mini-batches, run them on workers, assemble outputs.

result = run_job(files, ScoringSpec(code_dir, "score.py"),
                 RunSettings(max_concurrency_per_instance=2),
                 output_dir=out, logs_dir=logs, on_event=print_progress)
"""

from batchml.core.run_settings import RunSettings
from batchml.runner.engine import plan_mini_batches, run_job
from batchml.runner.events import JobCounts, JobEvent, JobResult, JobStatus
from batchml.runner.scheduler import NO_SUCCEEDED_ITEM
from batchml.worker.messages import ScoringSpec

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
