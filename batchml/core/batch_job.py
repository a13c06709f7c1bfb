"""The job record: what a batch scoring job ran on, its state, and the JSON shapes it shows.

`view()` is the `batchml job show` shape (Azure's pipeline-job shape, plus a `batch` block with
our counts); `batch_view()` is the shape `invoke` and `list-jobs` return (Azure's BatchJob).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchml.core.resources import arm_id

IN_PROGRESS = ("NotStarted", "Queued", "Preparing", "Running", "Finalizing", "CancelRequested")
# In progress, before a runner holds the job (its runner is being started).
STARTING = ("NotStarted", "Queued", "Preparing")
TERMINAL = ("Completed", "Failed", "Canceled", "NotResponding")

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


@dataclass(frozen=True)
class JobCounts:
    """Counts so far.

    A mini-batch succeeds when run() returns a list, tuple, array or DataFrame; each element or
    row is one succeeded item. Files of a mini-batch that failed its last attempt are failed
    files, and so are the inputs a succeeded mini-batch returned no item for ("inputs minus
    returned items"). error_threshold applies to files_failed. mini_batches_resumed counts the
    mini-batches a resumed run kept from the runs before it (they are among those done).
    """

    mini_batches_total: int = 0
    files_total: int = 0
    mini_batches_succeeded: int = 0
    mini_batches_failed: int = 0
    files_succeeded: int = 0
    files_failed: int = 0
    items_succeeded: int = 0
    mini_batches_resumed: int = 0

    @property
    def mini_batches_done(self) -> int:
        """Mini-batches that reached a final result (succeeded, or failed their last attempt)."""
        return self.mini_batches_succeeded + self.mini_batches_failed


@dataclass(frozen=True)
class Job:
    name: str
    display_name: str
    experiment_name: str
    endpoint: str
    deployment: str
    compute: str
    status: str
    created_at: str
    created_by: str
    input: dict[str, Any]  # {type, path (as given), local}
    output: dict[str, Any]  # {path (as shown), local_dir, file_name}
    settings: dict[str, Any]  # effective run settings after per-job overrides
    scoring: dict[str, Any]  # {code_dir, scoring_script, model_dir, environment_variables, ...}
    # Where the workers run: {"type": "local"}, or {"type": "ray", address, ...} for a ray compute.
    backend: dict[str, Any] = field(default_factory=lambda: {"type": "local"})
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    start_time: str | None = None
    end_time: str | None = None
    counts: JobCounts = field(default_factory=JobCounts)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    runner_pid: int | None = None

    # The log `job stream` follows.
    streamed_log = "azureml-logs/70_driver_log.txt"

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Job:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in state.items() if k in known}
        values["counts"] = JobCounts(**state.get("counts", {}))
        return cls(**values)

    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def _properties(self) -> dict[str, str]:
        return {
            "azureml.endpointname": self.endpoint,
            "azureml.deploymentname": self.deployment,
            "runSource": "BatchDeployment",
            "runType": "HTTP",
        }

    def _tags(self) -> dict[str, str]:
        return {
            **self.tags,
            "azureml.batchrun": "true",
            "azureml.deploymentname": self.deployment,
            "azureml.jobtype": "azureml.batchjob",
        }

    def view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The `job show` shape."""
        shape: dict[str, Any] = {
            "batch": {
                "endpoint_name": self.endpoint,
                "deployment_name": self.deployment,
                "mini_batches": {
                    "total": self.counts.mini_batches_total,
                    "succeeded": self.counts.mini_batches_succeeded,
                    "failed": self.counts.mini_batches_failed,
                    "resumed": self.counts.mini_batches_resumed,
                },
                "files": {
                    "total": self.counts.files_total,
                    "succeeded": self.counts.files_succeeded,
                    "failed": self.counts.files_failed,
                },
                "items_succeeded": self.counts.items_succeeded,
                "start_time": self.start_time,
                "end_time": self.end_time,
                "logs": f"{job_dir}/logs",
            },
            "compute": arm_id(workspace, "computes", self.compute),
            "creation_context": creation_context(self.created_at, self.created_by),
            "description": self.description,
            "display_name": self.display_name,
            "experiment_name": self.experiment_name,
            "id": "azureml:" + arm_id(workspace, "jobs", self.name),
            "inputs": {"input_data": {"mode": "ro_mount", **public(self.input)}},
            "jobs": {},
            "name": self.name,
            "outputs": {
                "score": {"mode": "rw_mount", "type": "uri_folder", "path": self.output["path"]}
            },
            "properties": self._properties(),
            "services": services(job_dir),
            "settings": self.settings,
            "status": self.status,
            "tags": self._tags(),
            "type": "pipeline",
        }
        if self.error:
            shape["error"] = {"message": self.error, "details": f"{job_dir}/logs/job_error.txt"}
        if self.warnings:
            shape["warnings"] = self.warnings
        return shape

    def batch_view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The shape `batch-endpoint invoke` and `list-jobs` return (Azure's BatchJob)."""
        score = {"job_output_type": "uri_folder", "mode": "ReadWriteMount"}
        return batch_job(self, workspace, job_dir, {"score": {**score, "uri": self.output["path"]}})


class EndpointJob(Protocol):
    """A job an endpoint ran: what Azure's BatchJob shape shows of it."""

    @property
    def name(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def experiment_name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def created_at(self) -> str: ...

    @property
    def created_by(self) -> str: ...

    @property
    def endpoint(self) -> str | None: ...

    @property
    def deployment(self) -> str | None: ...

    def _properties(self) -> dict[str, str]: ...

    def _tags(self) -> dict[str, str]: ...


def batch_job(
    job: EndpointJob, workspace: str, job_dir: str, output_data: dict[str, Any]
) -> dict[str, Any]:
    """Azure's BatchJob shape of a job an endpoint ran."""
    return {
        "id": arm_id(
            workspace,
            "batchEndpoints",
            str(job.endpoint),
            "deployments",
            str(job.deployment),
            "jobs",
            job.name,
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
        "system_data": creation_context(job.created_at, job.created_by),
        "type": "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/jobs",
    }


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A path record as shown: without the local path batchml resolved it to."""
    return {k: v for k, v in record.items() if k != "local"}


def services(job_dir: str, logs: str = "logs") -> dict[str, Any]:
    """Where to look at a job: its folder and its logs (Azure's Studio and Tracking links)."""
    return {
        "Studio": {"endpoint": f"file://{job_dir}", "job_service_type": "Studio"},
        "Tracking": {"endpoint": f"file://{job_dir}/{logs}", "job_service_type": "Tracking"},
    }


def interaction_endpoints(job_dir: str) -> dict[str, Any]:
    """The BatchJob form of `services`."""
    return {key: {"endpoint": value["endpoint"]} for key, value in services(job_dir).items()}


def creation_context(created_at: str, created_by: str) -> dict[str, str]:
    return {"created_at": created_at, "created_by": created_by, "created_by_type": "User"}
