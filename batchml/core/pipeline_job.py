"""The records of pipeline jobs: a parent (`type: pipeline`) and one child command job per step.

A parent is made by invoking a pipeline deployment or by `job create -f pipeline-job.yml`; its
runner runs the children's commands. Everything a step needs (input paths and values, output
folders, the command line) is decided when the job is created, so a mistake is refused before
any job exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchml.core.job_environment import JobEnvironment
from batchml.core.job_record import JobRecord, endpoint_job_view, services
from batchml.core.records import arm_id, from_state

PIPELINE = "pipeline"
COMMAND = "command"
EXECUTION_LOG = "logs/azureml/executionlogs.txt"
STEP_LOG = "user_logs/std_log.txt"


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A path record as shown: without the local path batchml resolved it to, nor where in
    storage the data is (`remote`)."""
    return {k: v for k, v in record.items() if k not in ("local", "remote")}


def _value(record: dict[str, Any]) -> Any:
    """An input as `job show` prints it: a literal's value, or a data input's path record."""
    return record["value"] if "value" in record else _public(record)


@dataclass(frozen=True, kw_only=True)
class PipelineJob(JobRecord):
    component: dict[str, Any]  # the resolved pipeline component it runs
    # name -> {type, value} or {type, path, local, mode, remote (RemoteData's fields) for data
    # in storage, fetched to `local`}
    inputs: dict[str, Any]
    outputs: dict[str, Any]  # name -> {type, mode, path, local, remote (a datastore URI)}
    steps: dict[str, str]  # step -> child job name, in the order they run
    settings: dict[str, Any] = field(default_factory=dict)
    compute: str | None = None
    endpoint: str | None = None  # set when a pipeline deployment made it
    deployment: str | None = None
    warnings: list[str] = field(default_factory=list)
    type: str = PIPELINE

    streamed_log = EXECUTION_LOG

    def _properties(self) -> dict[str, Any]:
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
            **self._view(workspace),
            "component": component.get("id"),
            "compute": arm_id(workspace, "computes", self.compute) if self.compute else None,
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
            "outputs": {name: _public(record) for name, record in self.outputs.items()},
            "services": services(job_dir, self.mlflow_run_id),
            "settings": self.settings,
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
        return endpoint_job_view(
            self,
            workspace,
            job_dir,
            endpoint=str(self.endpoint),
            deployment=str(self.deployment),
            output_data=outputs,
        )


@dataclass(frozen=True, kw_only=True)
class StepJob(JobRecord):
    """One step of a pipeline job: a command run in a shell, in a copy of its code folder.

    Its display_name is the step's name in the pipeline."""

    parent_job_name: str
    component: dict[str, Any]  # the resolved command component
    inputs: dict[str, Any]  # as in PipelineJob; an absent optional input is left out
    outputs: dict[str, Any]
    command: str  # the command line, values substituted
    depends_on: list[str] = field(default_factory=list)  # steps it reads outputs of
    compute: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    # What the command runs in (its component's environment, as built); `environment` in
    # `job show` is the component's, as Azure shows it.
    runs_in: JobEnvironment = field(default_factory=JobEnvironment)
    exit_code: int | None = None
    # The step job whose outputs this one took instead of running (batchml.runner.step_reuse).
    reused_from: str | None = None
    type: str = COMMAND

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StepJob:
        values = cls._values(state)
        values["runs_in"] = from_state(JobEnvironment, state.get("runs_in", {}))
        return cls(**values)

    streamed_log = STEP_LOG

    def _properties(self) -> dict[str, Any]:
        properties = {"azureml.exitcode": self.exit_code, "StepName": self.display_name}
        if self.reused_from is not None:
            # As Azure marks a reused node: the run whose outputs it took.
            properties |= {"azureml.isreused": "true", "azureml.reusedrunid": self.reused_from}
        return properties

    def view(self, workspace: str, job_dir: str) -> dict[str, Any]:
        """The `job show` shape of a command job."""
        component = self.component
        shape: dict[str, Any] = {
            **self._view(workspace),
            "code": component.get("code"),
            "command": self.command,
            "component": component.get("id"),
            "compute": arm_id(workspace, "computes", self.compute) if self.compute else None,
            "environment": component.get("environment"),
            "environment_variables": self.environment_variables,
            "runs_in": self.runs_in.view(),
            "inputs": {name: _value(record) for name, record in self.inputs.items()},
            "outputs": {name: _public(record) for name, record in self.outputs.items()},
            "parent_job_name": self.parent_job_name,
            "services": services(job_dir, self.mlflow_run_id),
            "type": COMMAND,
        }
        if self.error:
            shape["error"] = {"message": self.error, "details": f"{job_dir}/{STEP_LOG}"}
        return shape
