"""A model deployment's spec: the forms it comes in, its validation, what it names checked
against the workspace, and the run settings it gives its jobs (batchml.services.deployments
stores what passes)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

from batchml.core import refs
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError, UsageError
from batchml.core.job_environment import UV
from batchml.core.run_settings import RunSettings
from batchml.envs.requirements import from_conda
from batchml.mlflow import missing_mlflow, mlmodel
from batchml.services import assets, computes, endpoints, job_environments
from batchml.services.common import as_strings, local_path
from batchml.store.workspace import Workspace

SETTINGS = (
    "instance_count",
    "max_concurrency_per_instance",
    "mini_batch_size",
    "partition_keys",
    "output_action",
    "output_file_name",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "environment_variables",
    "env_manager",
    "reuse",
)
SCHEMAS = {
    "model": "modelBatchDeployment.schema.json",
    "pipeline": "pipelineComponentBatchDeployment.schema.json",
    None: "batchDeployment.schema.json",
}


@dataclasses.dataclass(frozen=True)
class Options:
    """What `create`/`update` flags add to the file: name, endpoint, --set, script check."""

    name: str | None = None
    endpoint: str | None = None
    sets: tuple[str, ...] = ()
    set_default: bool = False
    validate_script: bool = True


def validated(spec: specs.Spec, options: Options) -> dict[str, Any]:
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


def check(
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
        if resolved["conda"] is not None:
            _check_conda(workspace, spec, resolved["conda"], data, problems)
    problems.raise_if_any()
    return resolved


def _check_conda(
    workspace: Workspace,
    spec: specs.Spec,
    conda: Path,
    data: dict[str, Any],
    problems: specs.Problems,
) -> None:
    """A conda file its jobs will build from must translate (batchml.envs.requirements); its
    problems are reported in the user's file, before anything is stored."""
    asked = data.get("settings", {}).get("env_manager")
    if job_environments.manager(workspace, asked)[0] != UV or not conda.is_file():
        return
    before = len(problems.found)
    problems.attempt(
        spec, ["environment", "conda_file"], lambda: from_conda(specs.load_file(conda))
    )
    if len(problems.found) > before:
        problems.report(
            spec,
            ["environment", "conda_file"],
            "its jobs build this conda file with uv; to run them in batchml's interpreter "
            "instead, set settings.env_manager: local",
        )


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
        env_manager=settings.get("env_manager"),
        reuse=settings.get("reuse", default.reuse),
        partition_keys=list(settings.get("partition_keys") or []),
    )
