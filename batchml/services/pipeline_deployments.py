"""Pipeline component deployments (`type: pipeline`): a pipeline component behind an endpoint,
given as a file, an inline mapping, a registered component, or `job_definition: azureml:JOB`
(the pipeline a job ran becomes the component). Invoking one runs a pipeline job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError, Problem
from batchml.core.pipeline_job import PipelineJob
from batchml.core.resources import PipelineDeployment
from batchml.services import components, computes
from batchml.services.common import as_strings
from batchml.store import job_files as job_store
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso


def _from_job(workspace: Workspace, value: str, spec: specs.Spec) -> dict[str, Any]:
    """The pipeline component a pipeline job ran."""
    name = refs.parse_resource(value)
    try:
        job = job_store.get(workspace, name)
    except NotFoundError:
        message = f"job '{name}' not found; run one with: batchml job create -f pipeline-job.yml"
        raise InvalidSpecError([specs.problem(spec, ["job_definition"], message)]) from None
    if not isinstance(job, PipelineJob):
        message = f"job '{name}' is not a pipeline job"
        raise InvalidSpecError([specs.problem(spec, ["job_definition"], message)])
    return job.component


def checked_settings(
    workspace: Workspace, data: dict[str, Any], spec: specs.Spec
) -> dict[str, Any]:
    """The deployment's settings, `default_compute` checked and stored as a name."""
    settings = dict(data.get("settings") or {})
    compute = settings.get("default_compute")
    if compute is not None:
        problems = specs.Problems()
        settings["default_compute"] = problems.attempt(
            spec,
            ["settings", "default_compute"],
            lambda: computes.require(workspace, refs.parse_resource(str(compute))).name,
        )
        problems.raise_if_any()
    return settings


def build(
    workspace: Workspace,
    txn: Transaction,
    data: dict[str, Any],
    spec: specs.Spec,
    folder: Path,
    created_at: str,
) -> PipelineDeployment:
    """Resolve what a validated `type: pipeline` spec names and build the stored record."""
    problems: list[Problem] = []
    try:
        settings = checked_settings(workspace, data, spec)
    except InvalidSpecError as exc:
        problems, settings = exc.problems, {}
    reference = None
    try:
        if "job_definition" in data:
            component = _from_job(workspace, data["job_definition"], spec)
        else:
            component, reference = components.resolve(
                workspace, txn, data["component"], spec, ["component"], folder / "component"
            )
    except InvalidSpecError as exc:
        raise InvalidSpecError(problems + exc.problems) from None
    if problems:
        raise InvalidSpecError(problems)
    stored = dict(data)
    if reference is not None:
        stored["component"] = reference
    return PipelineDeployment(
        name=data["name"],
        endpoint_name=data["endpoint_name"],
        component=component,
        component_id=reference,
        settings=settings,
        created_at=created_at,
        modified_at=now_iso(),
        created_by=current_user(),
        spec=stored,
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
        properties=data.get("properties", {}),
    )
