"""Batch endpoints: create (or overwrite), update, show, list, delete, list their jobs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.errors import NotFoundError, UsageError
from batchml.core.records import from_state, to_state
from batchml.core.resources import Endpoint
from batchml.services.common import as_strings
from batchml.store.workspace import Workspace, now_iso

if TYPE_CHECKING:
    from batchml.core.spec import Spec

SCHEMA = "batchEndpoint.schema.json"
UPDATABLE = ("description", "tags", "defaults")


def _state_file(workspace: Workspace, name: str) -> Path:
    return workspace.endpoint_dir(name) / "endpoint.json"


def get(workspace: Workspace, name: str) -> Endpoint:
    try:
        state = workspace.read_state(_state_file(workspace, name), "batch endpoint", name)
    except NotFoundError:
        raise NotFoundError(
            f"batch endpoint '{name}' not found in workspace {workspace.root}",
            hint="list them with: batchml batch-endpoint list",
        ) from None
    return from_state(Endpoint, state)


def _check_default(workspace: Workspace, endpoint: str, deployment: str | None) -> None:
    if (
        deployment
        and not (workspace.deployment_dir(endpoint, deployment) / "deployment.json").is_file()
    ):
        raise NotFoundError(
            f"cannot make '{deployment}' the default of batch endpoint '{endpoint}': "
            "no such deployment",
            hint="create it first with: "
            f"batchml batch-deployment create -e {endpoint} -f deployment.yml",
        )


def create(workspace: Workspace, spec: Spec) -> dict[str, Any]:
    """Create a batch endpoint, or overwrite the one of that name (as `az ml` does)."""
    from batchml.core import spec as specs  # not on the path of show and list

    data = specs.validate(spec, SCHEMA)
    name = data["name"]
    default = (data.get("defaults") or {}).get("deployment_name")
    with workspace.transaction() as txn:
        _check_default(workspace, name, default)
        try:
            created_at = get(workspace, name).created_at
        except NotFoundError:
            created_at = now_iso()
        endpoint = Endpoint(
            name=name,
            created_at=created_at,
            modified_at=now_iso(),
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            auth_mode=data.get("auth_mode", "aad_token"),
            default_deployment=default,
        )
        save(workspace, txn, endpoint)
    return endpoint.view(workspace.name)


def save(workspace: Workspace, txn: Any, endpoint: Endpoint) -> None:
    txn.write_json(
        _state_file(workspace, endpoint.name), workspace.stamp("batch-endpoint", to_state(endpoint))
    )


def update(workspace: Workspace, name: str, spec: Spec, sets: list[str]) -> dict[str, Any]:
    """Change description, tags or defaults.deployment_name; other fields are read-only."""
    from batchml.core import spec as specs

    with workspace.transaction() as txn:
        current = get(workspace, name)
        merged = specs.Spec(
            data={
                "name": name,
                "description": current.description,
                "tags": dict(current.tags),
                "defaults": {"deployment_name": current.default_deployment},
                "auth_mode": current.auth_mode,
            },
            source=spec.source,
            base_dir=spec.base_dir,
            text=spec.text,
        )
        for key, value in spec.data.items():
            if key not in (*UPDATABLE, "name", "auth_mode", "$schema"):
                raise UsageError(
                    f"{spec.source}: {key}: cannot be updated; only {', '.join(UPDATABLE)} can"
                )
            if key in UPDATABLE:
                merged.data[key] = value
        if spec.data.get("name", name) != name:
            raise UsageError(
                f"{spec.source}: name: the file names '{spec.data['name']}', not '{name}'"
            )
        for assignment in sets:
            if assignment.partition("=")[0].split(".")[0] not in UPDATABLE:
                raise UsageError(f"--set {assignment}: only {', '.join(UPDATABLE)} can be updated")
        specs.apply_sets(merged, sets)
        data = specs.validate(merged, SCHEMA)
        default = (data.get("defaults") or {}).get("deployment_name")
        _check_default(workspace, name, default)
        endpoint = dataclasses.replace(
            current,
            modified_at=now_iso(),
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            default_deployment=default,
        )
        save(workspace, txn, endpoint)
    return endpoint.view(workspace.name)


def show(workspace: Workspace, name: str) -> dict[str, Any]:
    return get(workspace, name).view(workspace.name)


def names(workspace: Workspace) -> list[str]:
    folder = workspace.root / "endpoints"
    return sorted(p.parent.name for p in folder.glob("*/endpoint.json")) if folder.is_dir() else []


def list_all(workspace: Workspace) -> list[dict[str, Any]]:
    return [show(workspace, name) for name in names(workspace)]


def delete(workspace: Workspace, name: str) -> list[str]:
    """Delete an endpoint and its deployments; its jobs are kept (as in Azure) and those still
    running go on. Returns warnings naming them."""
    from batchml.services import job_control  # not on the path of show and list

    with workspace.transaction() as txn:
        get(workspace, name)
        txn.remove(workspace.endpoint_dir(name))
        running = job_control.unfinished(workspace, name)
    return [job_control.still_running(running)] if running else []
