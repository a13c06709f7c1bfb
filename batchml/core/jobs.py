"""A job record of any kind, and reading one from its state file (job.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from batchml.core.batch_job import BatchJob

if TYPE_CHECKING:
    from batchml.core.pipeline_job import PipelineJob, StepJob

# A name for type hints only: the pipeline records are imported when one is read (tens of
# milliseconds compiled from source, which a batch scoring job's runner does without).
AnyJob: TypeAlias = "BatchJob | PipelineJob | StepJob"


def from_state(state: dict[str, Any]) -> AnyJob:
    """A job record of any kind, from its state file (a batch scoring job's has no `type`)."""
    if "type" not in state:
        return BatchJob.from_state(state)
    from batchml.core.pipeline_job import COMMAND, PIPELINE, PipelineJob, StepJob

    kinds: dict[str, type[PipelineJob] | type[StepJob]] = {PIPELINE: PipelineJob, COMMAND: StepJob}
    kind = kinds.get(state["type"])
    if kind is None:
        return BatchJob.from_state(state)
    return kind.from_state(state)
