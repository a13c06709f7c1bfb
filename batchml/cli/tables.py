"""The `-o table` columns of the common list and show commands, as az's table transformers have
them: a few short columns (name, status, deployment, created, counts) instead of every field.

Each function turns one item of a command's result into one row; `--query` replaces them (the
queried result is tabled as it is). A command names its function with `context.shown`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchml.cli.context import App

Row = dict[str, Any]


def _get(item: dict[str, Any], *path: str) -> Any:
    value: Any = item
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return "" if value is None else value


def _when(stamp: Any) -> str:
    """An ISO time to the second, as a person reads it: 2026-12-02 14:47:16."""
    return str(stamp)[:19].replace("T", " ")


def _short(reference: Any) -> str:
    """A resource id or a path, by its last part: .../computes/cpu -> cpu, a registered
    model's id -> name:version."""
    text = str(reference or "").rstrip("/")
    parts = text.split("/")
    if len(parts) >= 3 and parts[-2] == "versions":
        return f"{parts[-3]}:{parts[-1]}"
    return parts[-1]


def endpoint(item: dict[str, Any], _app: App) -> Row:
    return {
        "Name": item["name"],
        "DefaultDeployment": _get(item, "defaults", "deployment_name"),
        "ProvisioningState": _get(item, "provisioning_state"),
        "Description": _get(item, "description"),
    }


def deployment(item: dict[str, Any], app: App) -> Row:
    from batchml.core.resources import Deployment
    from batchml.services import deployments, endpoints

    default = endpoints.get(app.workspace, item["endpoint_name"]).default_deployment
    found = deployments.get(app.workspace, item["endpoint_name"], item["name"])
    model = _short(_get(item, "model"))
    if isinstance(found, Deployment) and found.model.version is None:
        model = f"{found.model.name} (inline)"  # its path is the deployment's own snapshot
    return {
        "Name": item["name"],
        "Endpoint": item["endpoint_name"],
        "Default": "yes" if default == item["name"] else "",
        "Type": _get(item, "type"),
        "Model": model,
        "Compute": _short(_get(item, "compute")),
        "MiniBatchSize": _get(item, "mini_batch_size"),
        "State": _get(item, "provisioning_state"),
    }


def job(item: dict[str, Any], _app: App) -> Row:
    files = _get(item, "batch", "files")
    counts = f"{files['succeeded']}/{files['total']}" if files else ""
    return {
        "Name": item["name"],
        "Status": item["status"],
        "Deployment": _get(item, "batch", "deployment_name") or _get(item, "type"),
        "Created": _when(_get(item, "creation_context", "created_at")),
        "Files": counts,
        "Failed": files["failed"] if files else "",
    }


def endpoint_job(item: dict[str, Any], app: App) -> Row:
    if "properties" not in item:
        return job_plan(item, app)
    properties = item["properties"]
    return {
        "Name": item["name"],
        "Status": properties["status"],
        "Deployment": _get(properties, "properties", "azureml.deploymentname"),
        "Created": _when(_get(item, "system_data", "created_at")),
    }


def job_plan(item: dict[str, Any], _app: App) -> Row:
    """The plan of `invoke --dry-run`."""
    batches = item["mini_batches"]
    return {
        "Deployment": item["deployment_name"],
        "Files": item["files"],
        "Bytes": item["bytes"],
        "MiniBatches": batches["count"],
        "Workers": item["workers"],
        "Skew": _get(batches, "skew", "largest_to_median"),
        "EstimatedSeconds": _get(item, "estimate", "duration_seconds"),
    }


def asset(item: dict[str, Any], _app: App) -> Row:
    """A model, data asset, environment or component version."""
    return {
        "Name": item["name"],
        "Version": _get(item, "version"),
        "Type": _get(item, "type"),
        "Created": _when(_get(item, "creation_context", "created_at")),
        "Description": _get(item, "description"),
    }


def compute(item: dict[str, Any], _app: App) -> Row:
    return {
        "Name": item["name"],
        "Type": _get(item, "type"),
        "Size": _get(item, "size"),
        "MinInstances": _get(item, "min_instances"),
        "MaxInstances": _get(item, "max_instances"),
        "State": _get(item, "provisioning_state"),
    }


def datastore(item: dict[str, Any], _app: App) -> Row:
    return {
        "Name": item["name"],
        "Type": _get(item, "type"),
        "Account": _get(item, "account_name"),
        "Container": _get(item, "container_name"),
    }


def failure(item: dict[str, Any], _app: App) -> Row:
    """A distinct error of `job failures` (its counts), or one failed attempt of `--all`."""
    row = {"Kind": _get(item, "kind"), "Exception": _get(item, "exception")}
    if "attempts" in item:
        row |= {"Attempts": item["attempts"], "FilesFailed": _get(item, "files_failed")}
    else:
        row |= {"MiniBatch": _get(item, "mini_batch"), "Attempt": _get(item, "attempt")}
    message = str(_get(item, "message"))
    where = str(_get(item, "where")).rsplit("/", 1)[-1]  # score.py:12 in run
    return row | {"Message": message[:40] + ("..." if len(message) > 40 else ""), "Where": where}
