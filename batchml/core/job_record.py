"""What every job record holds, whatever kind of job it is: its name, who made it and when, its
status and how it ended; and the parts of the JSON shapes that all jobs show alike.

The kinds are in batchml.core.batch_job (batch scoring jobs) and batchml.core.pipeline_job
(pipeline jobs and their steps); batchml.core.jobs reads a record of any kind.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from batchml.core.records import arm_id, field_names
from batchml.core.tracking import tracking_uri


class JobStatus(str, Enum):
    """A job's status, as Azure names them (job.json and `job show` hold the names)."""

    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"
    NOT_RESPONDING = "NotResponding"

    def __str__(self) -> str:
        # The name as Azure prints it, in messages and f-strings too.
        return str(self.value)


# In progress, before a runner holds the job (its runner is being started).
STARTING = (JobStatus.NOT_STARTED, JobStatus.QUEUED, JobStatus.PREPARING)
TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.NOT_RESPONDING)

_ADJECTIVES = (
    "bold",
    "calm",
    "eager",
    "gentle",
    "happy",
    "keen",
    "lucid",
    "merry",
    "quiet",
    "brave",
    "witty",
    "tidy",
    "sunny",
    "swift",
    "jolly",
    "zen",
)
_NOUNS = (
    "egg",
    "river",
    "cloud",
    "lamp",
    "pear",
    "stone",
    "tiger",
    "hat",
    "spoon",
    "kite",
    "owl",
    "leaf",
    "bell",
    "boat",
    "yarn",
    "fig",
)


def display_name() -> str:
    """A friendly random name such as bold_egg_4c1e2a7f, as Azure gives its jobs."""
    rng = random.SystemRandom()
    return f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}_{rng.getrandbits(32):08x}"


_Record = TypeVar("_Record", bound="JobRecord")


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """The fields and shapes that batch scoring jobs, pipeline jobs and their steps share."""

    name: str
    display_name: str
    experiment_name: str
    status: JobStatus
    created_at: str
    created_by: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None
    runner_pid: int | None = None
    mlflow_run_id: str | None = None  # the job's run in the workspace's tracking store

    # The log `job stream` follows.
    streamed_log: ClassVar[str]

    @classmethod
    def from_state(cls: type[_Record], state: dict[str, Any]) -> _Record:
        return cls(**cls._values(state))

    @classmethod
    def _values(cls, state: dict[str, Any]) -> dict[str, Any]:
        """The fields of this kind in a state file, the status as a JobStatus."""
        known = field_names(cls)  # type: ignore[arg-type]
        values = {k: v for k, v in state.items() if k in known}
        values["status"] = JobStatus(values["status"])
        return values

    def metrics(self) -> dict[str, float]:
        """What batchml logs to the job's MLflow run when it ends (its own counts)."""
        return {}

    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def _properties(self) -> dict[str, Any]:
        return {}

    def _tags(self) -> dict[str, str]:
        return self.tags

    def _view(self, workspace: str) -> dict[str, Any]:
        """The keys every `job show` shape has."""
        return {
            "creation_context": _creation_context(self.created_at, self.created_by),
            "description": self.description,
            "display_name": self.display_name,
            "experiment_name": self.experiment_name,
            "id": "azureml:" + arm_id(workspace, "jobs", self.name),
            "name": self.name,
            "properties": self._properties(),
            "status": self.status,
            "tags": self._tags(),
        }


def endpoint_job_view(
    job: JobRecord,
    workspace: str,
    job_dir: str,
    *,
    endpoint: str,
    deployment: str,
    output_data: dict[str, Any],
) -> dict[str, Any]:
    """Azure's BatchJob shape of a job that an endpoint's deployment ran."""
    return {
        "id": arm_id(
            workspace, "batchEndpoints", endpoint, "deployments", deployment, "jobs", job.name
        ),
        "name": job.name,
        "properties": {
            "description": job.description,
            "experiment_name": job.experiment_name,
            "interaction_endpoints": interaction_endpoints(job_dir),
            "name": job.display_name,
            "output_data": output_data,
            "properties": job._properties(),
            "status": job.status,
            "tags": job._tags(),
        },
        "system_data": _creation_context(job.created_at, job.created_by),
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/jobs",
    }


def services(job_dir: str, run_id: str | None = None) -> dict[str, Any]:
    """Where to look at a job (Azure's Studio and Tracking links): its folder, and the
    workspace's MLflow tracking store with the id of the job's run there (named after the
    job), once it has one."""
    tracking = {"endpoint": _tracking_uri(os.path.dirname(job_dir)), "job_service_type": "Tracking"}
    return {
        "Studio": {"endpoint": f"file://{job_dir}", "job_service_type": "Studio"},
        "Tracking": {**tracking, **({"run_id": run_id} if run_id else {})},
    }


@functools.lru_cache(maxsize=4)
def _tracking_uri(jobs_folder: str) -> str:
    """The tracking store of the workspace of the jobs in `jobs_folder`, made once for a
    listing of all of them: each path made costs as much as the rest of a job's services."""
    return tracking_uri(Path(jobs_folder).parent)


def interaction_endpoints(job_dir: str) -> dict[str, Any]:
    """The BatchJob form of `services`."""
    return {key: {"endpoint": value["endpoint"]} for key, value in services(job_dir).items()}


def _creation_context(created_at: str, created_by: str) -> dict[str, str]:
    return {"created_at": created_at, "created_by": created_by, "created_by_type": "User"}
