"""The records of pipeline jobs: a parent (`type: pipeline`) and one child command job per step.

A parent is made by invoking a pipeline deployment or by `job create -f pipeline-job.yml`; its
runner runs the children's commands. Everything a step needs (input paths and values, output
folders, the command line) is decided when the job is created, so a mistake is refused before
any job exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchml.core.batch_job import TERMINAL, Job, batch_job, creation_context, public, services
from batchml.core.resources import arm_id

PIPELINE = "pipeline"
COMMAND = "command"
EXECUTION_LOG = "logs/azureml/executionlogs.txt"
STEP_LOG = "user_logs/std_log.txt"


def _value(record: dict[str, Any]) -> Any:
    """An input as `job show` prints it: a literal's value, or a data input's path record."""
    return record["value"] if "value" in record else public(record)


@dataclass(frozen=True)
class PipelineJob:
    name: str
    display_name: str
    experiment_name: str
    status: str
    created_at: str
    created_by: str
    component: dict[str, Any]  # the resolved pipeline component it runs
    inputs: dict[str, Any]  # name -> {type, value} or {type, path, local, mode}
    outputs: dict[str, Any]  # name -> {type, mode, path, local}
    steps: dict[str, str]  # step -> child job name, in the order they run
    settings: dict[str, Any] = field(default_factory=dict)
    compute: str | None = None
    endpoint: str | None = None  # set when a pipeline deployment made it
    deployment: str | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    runner_pid: int | None = None
    type: str = PIPELINE

    streamed_log = EXECUTION_LOG

    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def _properties(self) -> dict[str, str]:
        if self.endpoint is None:
            return {"azureml.runsource": "azureml.PipelineRun", "runType": "HTTP"}
        return {
            "azureml.endpointname": self.endpoint,
            "azureml.deploymentname": str(self.deployment),
            "runSource": "BatchDeployment",
            "runType": "HTTP",
        }

    def _tags(self) -> dict[str, str]:
        if self.endpoint is None:
            return self.tags
        return {
            **self.tags,
            "azureml.batchrun": "true",
            "azureml.deploymentname": str(self.deployment),
            "azureml.jobtype": "azureml.pipelinejob",
        }

    def view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The `job show` shape of a pipeline job."""
        component = self.component
        shape: dict[str, Any] = {
            "component": component.get("id"),
            "compute": arm_id(workspace, "computes", self.compute) if self.compute else None,
            "creation_context": creation_context(self.created_at, self.created_by),
            "description": self.description,
            "display_name": self.display_name,
            "experiment_name": self.experiment_name,
            "id": "azureml:" + arm_id(workspace, "jobs", self.name),
            "inputs": {name: _value(record) for name, record in self.inputs.items()},
            "jobs": {
                step: {
                    "component": component["jobs"][step].get("component_id"),
                    "inputs": component["jobs"][step].get("inputs") or {},
                    "name": child,
                    "outputs": component["jobs"][step].get("outputs") or {},
                    "type": COMMAND,
                }
                for step, child in self.steps.items()
            },
            "name": self.name,
            "outputs": {name: public(record) for name, record in self.outputs.items()},
            "properties": self._properties(),
            "services": services(job_dir),
            "settings": self.settings,
            "status": self.status,
            "tags": self._tags(),
            "type": PIPELINE,
        }
        if self.error:
            shape["error"] = {"message": self.error, "details": f"{job_dir}/{EXECUTION_LOG}"}
        if self.warnings:
            shape["warnings"] = self.warnings
        return shape

    def batch_view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The shape `batch-endpoint invoke` and `list-jobs` return (Azure's BatchJob)."""
        outputs = {
            name: {
                "job_output_type": record["type"],
                "mode": "Upload" if record.get("mode") == "upload" else "ReadWriteMount",
                "uri": record["path"],
            }
            for name, record in self.outputs.items()
        }
        return batch_job(self, workspace, job_dir, outputs)


@dataclass(frozen=True)
class StepJob:
    """One step of a pipeline job: a command run in a shell, in a copy of its code folder."""

    name: str
    display_name: str  # the step's name in the pipeline
    experiment_name: str
    parent_job_name: str
    status: str
    created_at: str
    created_by: str
    component: dict[str, Any]  # the resolved command component
    inputs: dict[str, Any]  # as in PipelineJob; an absent optional input is left out
    outputs: dict[str, Any]
    command: str  # the command line, values substituted
    depends_on: list[str] = field(default_factory=list)  # steps it reads outputs of
    compute: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    start_time: str | None = None
    end_time: str | None = None
    exit_code: int | None = None
    error: str | None = None
    runner_pid: int | None = None
    type: str = COMMAND

    streamed_log = STEP_LOG

    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The `job show` shape of a command job."""
        component = self.component
        shape: dict[str, Any] = {
            "code": component.get("code"),
            "command": self.command,
            "component": component.get("id"),
            "compute": arm_id(workspace, "computes", self.compute) if self.compute else None,
            "creation_context": creation_context(self.created_at, self.created_by),
            "description": self.description,
            "display_name": self.display_name,
            "environment": component.get("environment"),
            "environment_variables": self.environment_variables,
            "experiment_name": self.experiment_name,
            "id": "azureml:" + arm_id(workspace, "jobs", self.name),
            "inputs": {name: _value(record) for name, record in self.inputs.items()},
            "name": self.name,
            "outputs": {name: public(record) for name, record in self.outputs.items()},
            "parent_job_name": self.parent_job_name,
            "properties": {"azureml.exitcode": self.exit_code, "StepName": self.display_name},
            "services": services(job_dir, Path(STEP_LOG).parent.name),
            "status": self.status,
            "tags": self.tags,
            "type": COMMAND,
        }
        if self.error:
            shape["error"] = {"message": self.error, "details": f"{job_dir}/{STEP_LOG}"}
        return shape


AnyJob = Job | PipelineJob | StepJob


def from_state(state: dict[str, Any]) -> AnyJob:
    """A job record of any kind, from its state file."""
    kinds: dict[str, type[PipelineJob] | type[StepJob]] = {PIPELINE: PipelineJob, COMMAND: StepJob}
    kind = kinds.get(state.get("type", ""))
    if kind is None:
        return Job.from_state(state)
    known = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in state.items() if k in known})
