"""A job record of any kind, and reading one from its state file (job.json)."""

from __future__ import annotations

from typing import Any

from batchml.core.batch_job import BatchJob
from batchml.core.pipeline_job import COMMAND, PIPELINE, PipelineJob, StepJob

AnyJob = BatchJob | PipelineJob | StepJob


def from_state(state: dict[str, Any]) -> AnyJob:
    """A job record of any kind, from its state file (a batch scoring job's has no `type`)."""
    kinds: dict[str, type[PipelineJob] | type[StepJob]] = {PIPELINE: PipelineJob, COMMAND: StepJob}
    kind = kinds.get(state.get("type", ""))
    if kind is None:
        return BatchJob.from_state(state)
    return kind.from_state(state)
