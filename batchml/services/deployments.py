"""Batch deployments: validated, checked against the workspace, snapshotted, stored.

Model deployments come as `type: model` (settings block) or the legacy flat form; the stored spec
is always the `type: model` form. Pipeline deployments (`type: pipeline`) are resolved by
services/pipeline_deployments.py. Code, an inline model and an inline conda file are copied into
the deployment's folder at create time, so later edits to the user's files change nothing.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError, UsageError
from batchml.core.resources import (
    Deployment,
    ModelBinding,
    PipelineDeployment,
    from_state,
    to_state,
)
from batchml.core.run_settings import RunSettings
from batchml.mlflow import missing_mlflow, mlmodel
from batchml.services import assets, computes, endpoints, job_control
from batchml.services.common import as_strings, current_user, local_path
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, now_iso

SETTINGS = (
    "instance_count",
    "max_concurrency_per_instance",
    "mini_batch_size",
    "output_action",
    "output_file_name",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "environment_variables",
)
SCHEMAS = {
    "model": "modelBatchDeployment.schema.json",
    "pipeline": "pipelineComponentBatchDeployment.schema.json",
    None: "batchDeployment.schema.json",
}
AnyDeployment = Deployment | PipelineDeployment


@dataclasses.dataclass(frozen=True)
class Options:
    """What `create`/`update` flags add to the file: name, endpoint, --set, script check."""

    name: str | None = None
    endpoint: str | None = None
    sets: tuple[str, ...] = ()
    set_default: bool = False
    validate_script: bool = True


def _validated(spec: specs.Spec, options: Options) -> dict[str, Any]:
    """Apply overrides, validate against the form's schema; a model deployment comes back in
    the `type: model` form."""
    if options.name:
        spec.data["name"] = options.name
    if options.endpoint:
        # Not lowercased (the SDK does): show/list/update match endpoint names exactly, and an
        # endpoint created as `My-Ep` must be reachable with `-e My-Ep`.
        spec.data["endpoint_name"] = options.endpoint
    kind = spec.data.get("type")
    if not (kind is None or isinstance(kind, str)) or kind not in SCHEMAS:
        raise InvalidSpecError(
            [
                specs.problem(
                    spec,
                    ["type"],
                    f"must be model or pipeline (or omitted for the legacy form), got '{kind}'",
                )
            ]
        )
    aliases = {key: f"settings.{key}" for key in SETTINGS} if kind == "model" else None
    specs.apply_sets(spec, options.sets, aliases)
    data = specs.validate(spec, SCHEMAS[kind])
    if kind is None:
        settings = {key: data.pop(key) for key in SETTINGS if key in data}
        data = {**data, "type": "model", "settings": settings}
    data.pop("$schema", None)
    return data


def _check(
    workspace: Workspace, data: dict[str, Any], spec: specs.Spec, options: Options
) -> dict[str, Any]:
    """Check the spec against the workspace and the file system; every problem at once."""
    problems = specs.Problems()
    resolved: dict[str, Any] = {}
    endpoints.get(workspace, data["endpoint_name"])
    resolved["compute"] = problems.attempt(
        spec,
        ["compute"],
        lambda: computes.require(workspace, refs.parse_resource(data["compute"])),
    )
    resolved["model"] = problems.attempt(
        spec, ["model"], lambda: _model(workspace, data["model"], spec.base_dir)
    )
    settings = data.get("settings", {})
    if settings.get("output_action") == "summary_only" and "output_file_name" in settings:
        problems.report(
            spec,
            ["settings", "output_file_name"],
            "output_file_name need not be specified with output_action summary_only; remove it",
        )
    code = data.get("code_configuration")
    if code:
        resolved["code"] = problems.attempt(
            spec,
            ["code_configuration", "code"],
            lambda: local_path(workspace, code["code"], spec.base_dir, "code folder"),
        )
        if resolved["code"] is not None and not resolved["code"].is_dir():
            problems.report(
                spec,
                ["code_configuration", "code"],
                f"{resolved['code']} is a file; give the folder that holds the scoring script",
            )
            resolved["code"] = None
        if resolved["code"] is not None:
            resolved["script"] = problems.attempt(
                spec,
                ["code_configuration", "scoring_script"],
                lambda: _script(resolved["code"], code["scoring_script"], data, options),
            )
        if "environment" not in data:
            problems.report(
                spec,
                ["environment"],
                "is required when code_configuration is given (as in Azure); add e.g. "
                "environment: {image: python:3.11, conda_file: conda.yml}",
            )
    elif resolved["model"] is not None and resolved["model"][1] != "mlflow_model":
        problems.report(
            spec, ["code_configuration"], "is required unless the model is an MLflow model"
        )
    elif resolved["model"] is not None and (missing := missing_mlflow()):
        problems.report(spec, ["model"], missing)
    environment = data.get("environment")
    if isinstance(environment, dict) and isinstance(environment.get("conda_file"), str):
        resolved["conda"] = problems.attempt(
            spec,
            ["environment", "conda_file"],
            lambda: local_path(workspace, environment["conda_file"], spec.base_dir, "conda file"),
        )
    problems.raise_if_any()
    return resolved


def _model(workspace: Workspace, model: Any, base_dir: Path) -> tuple[Any, str]:
    """A registered model version, or the local path of an inline model, with its type."""
    if isinstance(model, str):
        asset = assets.resolve(workspace, "model", model)
        return asset, asset.type
    path = local_path(workspace, model["path"], base_dir, "model path")
    model_type = model.get("type", "custom_model")
    if model_type == "mlflow_model":
        try:
            mlmodel.read(path)
        except mlmodel.MLmodelError as exc:
            raise UsageError(str(exc)) from None
    return path, model_type


def _script(code_dir: Path, script: str, data: dict[str, Any], options: Options) -> Path:
    path = (code_dir / script).resolve()
    if not path.is_relative_to(code_dir.resolve()):
        # Only the code folder is snapshotted (uploaded, in Azure): the script must be in it.
        raise UsageError(f"'{script}' is outside the code folder {code_dir}; move it there")
    if not path.is_file():
        raise NotFoundError(f"scoring script not found: {path}")
    if options.validate_script:
        try:
            ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as exc:
            raise InvalidSpecError.unplaced(
                [
                    f"Failed to submit deployment {data['name']} due to syntax errors in "
                    "scoring script "
                    f"{path}. Error on line {exc.lineno}: {exc.msg}. Fix the script, or pass "
                    "--skip-script-validation to skip this check"
                ]
            ) from None
    return path


def _build(
    workspace: Workspace,
    txn: Transaction,
    data: dict[str, Any],
    resolved: dict[str, Any],
    created_at: str,
) -> Deployment:
    """Snapshot what the deployment needs into its folder and build the stored record."""
    folder = workspace.deployment_dir(data["endpoint_name"], data["name"])
    stored = {**data}
    model_source, model_type = resolved["model"]
    if isinstance(model_source, Path):
        copied = txn.snapshot(model_source, folder / "model")
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
    code_dir = script = None
    if "code" in resolved:
        code_dir = txn.snapshot(resolved["code"], folder / "code")
        script = resolved["script"].relative_to(resolved["code"]).as_posix()
        stored["code_configuration"] = {"code": str(code_dir), "scoring_script": script}
    environment: Any = data.get("environment")
    if "conda" in resolved:
        conda = txn.snapshot(resolved["conda"], folder / "environment")
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
        scoring_script=script,
        environment=environment,
        resource_properties=resources.get("properties", {}),
        settings=run_settings(data),
    )


def run_settings(data: dict[str, Any]) -> RunSettings:
    """The run settings of a validated `type: model` spec; what it leaves out, Azure's defaults."""
    settings = data.get("settings", {})
    retry = settings.get("retry_settings", {})
    default = RunSettings()
    return RunSettings(
        instance_count=settings.get(
            "instance_count",
            data.get("resources", {}).get("instance_count", default.instance_count),
        ),
        max_concurrency_per_instance=settings.get(
            "max_concurrency_per_instance", default.max_concurrency_per_instance
        ),
        mini_batch_size=settings.get("mini_batch_size", default.mini_batch_size),
        output_action=settings.get("output_action", default.output_action),
        output_file_name=settings.get("output_file_name", default.output_file_name),
        max_retries=retry.get("max_retries", default.max_retries),
        timeout=retry.get("timeout", default.timeout),
        error_threshold=settings.get("error_threshold", default.error_threshold),
        logging_level=settings.get("logging_level", default.logging_level).lower(),
        environment_variables=as_strings(settings.get("environment_variables")),
    )


def _state_file(workspace: Workspace, endpoint: str, name: str) -> Path:
    return workspace.deployment_dir(endpoint, name) / "deployment.json"


def _save(
    workspace: Workspace, spec: specs.Spec, options: Options, created_at: str | None
) -> AnyDeployment:
    data = _validated(spec, options)
    created_at = created_at or now_iso()
    with workspace.transaction() as txn:
        deployment: AnyDeployment
        if data["type"] == "pipeline":
            from batchml.services import pipeline_deployments

            endpoints.get(workspace, data["endpoint_name"])
            folder = workspace.deployment_dir(data["endpoint_name"], data["name"])
            deployment = pipeline_deployments.build(workspace, txn, data, spec, folder, created_at)
        else:
            resolved = _check(workspace, data, spec, options)
            deployment = _build(workspace, txn, data, resolved, created_at)
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
    workspace: Workspace, current: PipelineDeployment, options: Options
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
    data = specs.validate(check, SCHEMAS["pipeline"])
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


def create(workspace: Workspace, spec: specs.Spec, options: Options) -> dict[str, Any]:
    """Create a deployment, or overwrite the one of that name (as `az ml` does)."""
    return _save(workspace, spec, options, None).view(workspace.name)


def update(workspace: Workspace, spec: specs.Spec | None, options: Options) -> dict[str, Any]:
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
        return _save(workspace, spec, options, current.created_at).view(workspace.name)
    name = options.name or spec.data.get("name")
    endpoint = options.endpoint or spec.data.get("endpoint_name")
    created_at = get(workspace, str(endpoint), str(name)).created_at
    return _save(workspace, spec, options, created_at).view(workspace.name)


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


def list_all(workspace: Workspace, endpoint: str) -> list[dict[str, Any]]:
    endpoints.get(workspace, endpoint)
    folder = workspace.endpoint_dir(endpoint) / "deployments"
    names = (
        sorted(p.parent.name for p in folder.glob("*/deployment.json")) if folder.is_dir() else []
    )
    return [show(workspace, endpoint, name) for name in names]


def delete(workspace: Workspace, endpoint: str, name: str) -> list[str]:
    """Delete a deployment; returns warnings: its jobs that are still running (they keep their
    own copy of its code and model, so they go on and can be resumed), and the endpoint's
    default being cleared if it was this one."""
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
