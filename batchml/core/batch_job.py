"""The record of a batch scoring job: what it ran on, its state, and the JSON shapes it shows.

`view()` is the `batchml job show` shape (Azure's pipeline-job shape, plus a `batch` block with
our counts); `batch_view()` is the shape `invoke` and `list-jobs` return (Azure's BatchJob).
The parts of the record (input, output, scoring, where the workers run) are written to job.json
as their fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from batchml.core.job_environment import JobEnvironment
from batchml.core.job_record import JobRecord, endpoint_job_view, services
from batchml.core.records import arm_id, from_state
from batchml.core.run_settings import RunSettings


@dataclass(frozen=True)
class JobCounts:
    """Counts so far.

    A mini-batch succeeds when run() returns a list, tuple, array or DataFrame; each element or
    row is one succeeded item. Files of a mini-batch that failed its last attempt are failed
    files, and so are the inputs a succeeded mini-batch returned no item for ("inputs minus
    returned items"). error_threshold applies to files_failed. mini_batches_resumed counts the
    mini-batches a resumed run kept from the runs before it, mini_batches_reused those whose
    outcome came from the result cache, not from run() (both are among those done).
    mini_batches_running is how many are being scored at the moment (0 once the job ended).
    """

    mini_batches_total: int = 0
    files_total: int = 0
    mini_batches_succeeded: int = 0
    mini_batches_failed: int = 0
    files_succeeded: int = 0
    files_failed: int = 0
    items_succeeded: int = 0
    mini_batches_resumed: int = 0
    mini_batches_reused: int = 0
    mini_batches_running: int = 0

    @property
    def mini_batches_done(self) -> int:
        """Mini-batches that reached a final result (succeeded, or failed their last attempt)."""
        return self.mini_batches_succeeded + self.mini_batches_failed


@dataclass(frozen=True)
class RemoteData:
    """Data in storage, as the runner reads it: `protocol` "az" (Azure storage, `root` being
    `<container>/<path>`) or "http" (`root` a URL). Azure storage is read with the account and
    secrets of registered datastore `datastore`, else anonymously from `account_url`."""

    protocol: str
    root: str
    datastore: str | None = None
    account_name: str | None = None
    account_url: str | None = None


@dataclass(frozen=True)
class DataInput:
    """The data a job scores: its type, the path as given, and the local path it resolved to
    ("" for data in storage, which `remote` locates)."""

    type: str
    path: str
    local: str
    remote: RemoteData | None = None

    def in_rows(self, settings: RunSettings) -> bool:
        """Whether a job of this input with `settings` scores mini-batches of rows (planned by
        batchml.runner.tabular), not of files."""
        if self.type == "mltable":
            return True
        tabular = settings.mini_batch_rows is not None or bool(settings.partition_keys)
        return self.type in ("uri_folder", "uri_file") and tabular


@dataclass(frozen=True)
class ScoreOutput:
    """Where the `score` output goes: the path as shown, its local folder, and the append_row
    file's name (None with summary_only). An output to a registered datastore is assembled in
    the local folder (a staging folder of the job) and then uploaded to `remote`, the datastore
    URI in its short form."""

    path: str
    local_dir: str
    file_name: str | None
    remote: str | None = None

    def file(self) -> str | None:
        """The append_row file this output is, where readers find it (in the datastore, for
        one uploaded); None with summary_only. Two unfinished jobs may not share one."""
        if self.file_name is None:
            return None
        if self.remote is not None:
            return f"{self.remote.rstrip('/')}/{self.file_name}"
        return os.path.join(self.local_dir, self.file_name)


@dataclass(frozen=True)
class Scoring:
    """What the workers run: the code snapshot, its scoring script, the model folder
    (AZUREML_MODEL_DIR) and the deployment's environment as declared (the job's `runs_in` says
    what it runs in). code_source is the user's folder the code was copied from, which
    tracebacks name instead of the snapshot."""

    code_dir: str
    scoring_script: str
    model_dir: str
    environment: Any = None
    code_source: str | None = None


@dataclass(frozen=True)
class LocalWorkers:
    """Workers are processes on this machine."""

    type: Literal["local"] = field(default="local", init=False)


@dataclass(frozen=True)
class RayWorkers:
    """Workers are actors on the Ray cluster of a `type: ray` compute, each with the Ray
    resources in worker_resources ({num_cpus, num_gpus})."""

    type: Literal["ray"] = field(default="ray", init=False)
    compute: str
    address: str
    num_cpus: int | None
    worker_resources: dict[str, Any]


Workers = LocalWorkers | RayWorkers


def _workers(state: dict[str, Any]) -> Workers:
    if state.get("type") == "ray":
        return from_state(RayWorkers, {k: v for k, v in state.items() if k != "type"})
    return LocalWorkers()


@dataclass(frozen=True, kw_only=True)
class BatchJob(JobRecord):
    endpoint: str
    deployment: str
    compute: str
    input: DataInput
    output: ScoreOutput
    settings: RunSettings  # the deployment's, after the job's overrides
    scoring: Scoring
    backend: Workers = field(default_factory=LocalWorkers)
    runs_in: JobEnvironment = field(default_factory=JobEnvironment)  # as built
    counts: JobCounts = field(default_factory=JobCounts)
    warnings: list[str] = field(default_factory=list)

    streamed_log = "azureml-logs/70_driver_log.txt"

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BatchJob:
        values = cls._values(state)
        remote = state["input"].get("remote")
        values["input"] = from_state(
            DataInput, {**state["input"], "remote": remote and from_state(RemoteData, remote)}
        )
        values["output"] = from_state(ScoreOutput, state["output"])
        values["settings"] = from_state(RunSettings, state["settings"])
        values["scoring"] = from_state(Scoring, state["scoring"])
        values["backend"] = _workers(state.get("backend", {}))
        values["runs_in"] = from_state(JobEnvironment, state.get("runs_in", {}))
        values["counts"] = JobCounts(**state.get("counts", {}))
        return cls(**values)

    def _properties(self) -> dict[str, Any]:
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

    def metrics(self) -> dict[str, float]:
        counts = self.counts
        return {
            "mini_batches_total": counts.mini_batches_total,
            "mini_batches_succeeded": counts.mini_batches_succeeded,
            "mini_batches_failed": counts.mini_batches_failed,
            "files_total": counts.files_total,
            "files_succeeded": counts.files_succeeded,
            "files_failed": counts.files_failed,
            "items_succeeded": counts.items_succeeded,
        }

    def view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The `job show` shape."""
        shape: dict[str, Any] = {
            **self._view(workspace),
            "batch": {
                "endpoint_name": self.endpoint,
                "deployment_name": self.deployment,
                "mini_batches": {
                    "total": self.counts.mini_batches_total,
                    "succeeded": self.counts.mini_batches_succeeded,
                    "failed": self.counts.mini_batches_failed,
                    "resumed": self.counts.mini_batches_resumed,
                    "reused": self.counts.mini_batches_reused,
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
            "inputs": {
                "input_data": {"mode": "ro_mount", "type": self.input.type, "path": self.input.path}
            },
            "jobs": {},
            "outputs": {
                "score": {"mode": "rw_mount", "type": "uri_folder", "path": self.output.path}
            },
            "runs_in": self.runs_in.view(),
            "services": services(job_dir, self.mlflow_run_id),
            "settings": self.settings.view(),
            "type": "pipeline",
        }
        if self.error:
            shape["error"] = {"message": self.error, "details": f"{job_dir}/logs/job_error.txt"}
        if self.warnings:
            shape["warnings"] = self.warnings
        return shape

    def batch_view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The shape `batch-endpoint invoke` and `list-jobs` return (Azure's BatchJob)."""
        score = {"job_output_type": "uri_folder", "mode": "ReadWriteMount", "uri": self.output.path}
        return endpoint_job_view(
            self,
            workspace,
            job_dir,
            endpoint=self.endpoint,
            deployment=self.deployment,
            output_data={"score": score},
        )
