"""Batch deployments: validated and checked (services/deployment_specs.py), snapshotted, stored.

Model deployments come as `type: model` (settings block) or the legacy flat form; the stored spec
is always the `type: model` form. Pipeline deployments (`type: pipeline`) are resolved by
services/pipeline_deployments.py. Code, an inline model and an inline conda file are copied into
the deployment's folder at create time, so later edits to the user's files change nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchml.core import spec as specs
from batchml.core.errors import NotFoundError, UsageError
from batchml.core.records import from_state, to_state
from batchml.core.resources import Deployment, ModelBinding, PipelineDeployment
from batchml.services import deployment_specs, endpoints
from batchml.services.common import as_strings
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso

AnyDeployment = Deployment | PipelineDeployment


def _build(
    workspace: Workspace,
    copy: Callable[[Path, Path], Path],
    data: dict[str, Any],
    resolved: dict[str, Any],
    created_at: str,
    previous: AnyDeployment | None,
) -> Deployment:
    """Snapshot what the deployment needs into its folder (`copy(source, folder)` gives the
    copy's path) and build the stored record. The folder the code was copied from is kept
    (`code_source`, for tracebacks), the `previous` record's when the code is that record's
    own snapshot (`update --set`)."""
    folder = workspace.deployment_dir(data["endpoint_name"], data["name"])
    stored = {**data}
    model_source, model_type = resolved["model"]
    if isinstance(model_source, Path):
        copied = copy(model_source, folder / "model")
        binding = ModelBinding(
            name=data["model"].get("name", copied.name),
            version=None,
            model_dir=str(copied.parent),
            type=model_type,
        )
        stored["model"] = {**data["model"], "path": str(copied)}
    else:
        binding = ModelBinding(
            name=model_source.name,
            version=model_source.version,
            model_dir=str(Path(model_source.path).parent),
            type=model_type,
        )
        stored["model"] = f"azureml:{model_source.name}:{model_source.version}"
    code_dir = script = code_source = None
    if "code" in resolved:
        code_source = str(Path(resolved["code"]).absolute())
        if isinstance(previous, Deployment) and code_source == previous.code:
            code_source = previous.code_source
        code_dir = copy(resolved["code"], folder / "code")
        script = resolved["script"].relative_to(resolved["code"]).as_posix()
        stored["code_configuration"] = {"code": str(code_dir), "scoring_script": script}
    environment: Any = data.get("environment")
    if "conda" in resolved:
        conda = copy(resolved["conda"], folder / "environment")
        environment = {**environment, "conda_file": str(conda)}
        stored["environment"] = environment
    resources = data.get("resources", {})
    return Deployment(
        name=data["name"],
        endpoint_name=data["endpoint_name"],
        model=binding,
        compute=resolved["compute"].name,
        created_at=created_at,
        modified_at=now_iso(),
        created_by=current_user(),
        spec=stored,
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
        properties=data.get("properties", {}),
        code=str(code_dir) if code_dir else None,
        code_source=code_source,
        scoring_script=script,
        environment=environment,
        resource_properties=resources.get("properties", {}),
        settings=deployment_specs.run_settings(data),
    )


def _state_file(workspace: Workspace, endpoint: str, name: str) -> Path:
    return workspace.deployment_dir(endpoint, name) / "deployment.json"


def _save(
    workspace: Workspace,
    spec: specs.Spec,
    options: deployment_specs.Options,
    previous: AnyDeployment | None,
) -> AnyDeployment:
    data = deployment_specs.validated(spec, options)
    created_at = previous.created_at if previous is not None else now_iso()
    with workspace.transaction() as txn:
        deployment: AnyDeployment
        if data["type"] == "pipeline":
            from batchml.services import pipeline_deployments

            endpoints.get(workspace, data["endpoint_name"])
            folder = workspace.deployment_dir(data["endpoint_name"], data["name"])
            deployment = pipeline_deployments.build(workspace, txn, data, spec, folder, created_at)
        else:
            resolved = deployment_specs.check(workspace, data, spec, options)
            deployment = _build(workspace, txn.snapshot, data, resolved, created_at, previous)
        _publish(workspace, txn, deployment, options.set_default)
    return deployment


def _publish(
    workspace: Workspace, txn: Transaction, deployment: AnyDeployment, set_default: bool
) -> None:
    """Store the deployment's record, and make it the endpoint's default if asked."""
    record = deployment.to_state() if isinstance(deployment, Deployment) else to_state(deployment)
    state = workspace.stamp("batch-deployment", record)
    txn.write_json(_state_file(workspace, deployment.endpoint_name, deployment.name), state)
    if set_default:
        endpoint = endpoints.get(workspace, deployment.endpoint_name)
        endpoints.save(
            workspace,
            txn,
            dataclasses.replace(
                endpoint, default_deployment=deployment.name, modified_at=now_iso()
            ),
        )


def _update_pipeline(
    workspace: Workspace, current: PipelineDeployment, options: deployment_specs.Options
) -> PipelineDeployment:
    """`update --set` on a pipeline deployment: its description, tags and settings change; its
    component stays (give -f to change it)."""
    editable = {"description": current.description, "tags": current.tags}
    spec = specs.Spec(
        data={**editable, "settings": dict(current.settings)},
        source="--set",
        base_dir=Path.cwd(),
    )
    specs.apply_sets(spec, options.sets)
    changed = sorted(set(spec.data) - {*editable, "settings"})
    if changed:
        raise UsageError(
            f"--set {', '.join(changed)}: only description, tags and settings of a pipeline "
            "deployment change with --set",
            hint="give -f deployment.yml to change its component",
        )
    document = {**spec.data, "name": current.name, "endpoint_name": current.endpoint_name}
    check = specs.Spec(
        data={**document, "type": "pipeline", "component": "azureml:stored@latest"},
        source="--set",
        base_dir=Path.cwd(),
    )
    data = specs.validate(check, deployment_specs.SCHEMAS["pipeline"])
    from batchml.services import pipeline_deployments

    with workspace.transaction() as txn:
        settings = pipeline_deployments.checked_settings(workspace, data, check)
        deployment = dataclasses.replace(
            current,
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            settings=settings,
            modified_at=now_iso(),
        )
        _publish(workspace, txn, deployment, options.set_default)
    return deployment


def preview(
    workspace: Workspace, spec: specs.Spec, options: deployment_specs.Options
) -> Deployment:
    """The deployment a file describes, checked as `create` checks it, pointing at the user's
    own code, model and conda file: nothing is copied or stored (`batch-deployment test`)."""
    data = deployment_specs.validated(spec, options)
    if data["type"] == "pipeline":
        raise UsageError(
            f"{spec.source} is a pipeline deployment; batch-deployment test runs model deployments",
            hint="run the pipeline as a job with: batchml job create -f pipeline.yml",
        )
    resolved = deployment_specs.check(workspace, data, spec, options)
    return _build(workspace, lambda source, _folder: source.absolute(), data, resolved, "", None)


def create(
    workspace: Workspace, spec: specs.Spec, options: deployment_specs.Options
) -> dict[str, Any]:
    """Create a deployment, or overwrite the one of that name (as `az ml` does)."""
    return _save(workspace, spec, options, None).view(workspace.name)


def update(
    workspace: Workspace, spec: specs.Spec | None, options: deployment_specs.Options
) -> dict[str, Any]:
    """Update from a file, or from `--set` on the stored spec (snapshots are kept)."""
    if spec is None:
        if not (options.name and options.endpoint):
            raise UsageError(
                "update needs -f/--file, or -n/--name and -e/--endpoint-name with --set"
            )
        current = get(workspace, options.endpoint, options.name)
        if isinstance(current, PipelineDeployment):
            return _update_pipeline(workspace, current, options).view(workspace.name)
        spec = specs.Spec(data=dict(current.spec), source="stored deployment", base_dir=Path.cwd())
        return _save(workspace, spec, options, current).view(workspace.name)
    name = options.name or spec.data.get("name")
    endpoint = options.endpoint or spec.data.get("endpoint_name")
    previous = get(workspace, str(endpoint), str(name))
    return _save(workspace, spec, options, previous).view(workspace.name)


def get(workspace: Workspace, endpoint: str, name: str) -> AnyDeployment:
    endpoints.get(workspace, endpoint)
    try:
        state = workspace.read_state(
            _state_file(workspace, endpoint, name), "batch deployment", name
        )
    except NotFoundError:
        raise NotFoundError(
            f"batch deployment '{name}' not found in batch endpoint '{endpoint}'",
            hint=f"list them with: batchml batch-deployment list -e {endpoint}",
        ) from None
    if state.get("type") == "pipeline":
        return from_state(PipelineDeployment, state)
    return Deployment.from_state(state)


def show(workspace: Workspace, endpoint: str, name: str) -> dict[str, Any]:
    return get(workspace, endpoint, name).view(workspace.name)


def names(workspace: Workspace, endpoint: str) -> list[str]:
    """The names of an endpoint's deployments."""
    folder = workspace.endpoint_dir(endpoint) / "deployments"
    return (
        sorted(p.parent.name for p in folder.glob("*/deployment.json")) if folder.is_dir() else []
    )


def list_all(workspace: Workspace, endpoint: str) -> list[dict[str, Any]]:
    endpoints.get(workspace, endpoint)
    return [show(workspace, endpoint, name) for name in names(workspace, endpoint)]


def delete(workspace: Workspace, endpoint: str, name: str) -> list[str]:
    """Delete a deployment; returns warnings: its jobs that are still running (they keep their
    own copy of its code and model, so they go on and can be resumed), and the endpoint's
    default being cleared if it was this one."""
    from batchml.services import job_control  # not on the path of invoke and show

    warnings = []
    with workspace.transaction() as txn:
        get(workspace, endpoint, name)
        txn.remove(workspace.deployment_dir(endpoint, name))
        running = job_control.unfinished(workspace, endpoint, name)
        if running:
            warnings.append(job_control.still_running(running))
        current = endpoints.get(workspace, endpoint)
        if current.default_deployment == name:
            endpoints.save(
                workspace,
                txn,
                dataclasses.replace(current, default_deployment=None, modified_at=now_iso()),
            )
            warnings.append(
                f"'{name}' was the default deployment of '{endpoint}'; the endpoint now has no "
                f"default (set one with: batchml batch-endpoint update -n {endpoint} "
                "--set defaults.deployment_name=NAME)"
            )
    return warnings
