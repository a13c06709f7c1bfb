"""Compute targets. An amlcompute cluster runs its jobs on this machine."""

from __future__ import annotations

from typing import Any

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError
from batchml.core.resources import Compute, from_state, to_state
from batchml.services.common import as_strings
from batchml.store.workspace import Workspace, now_iso

KNOWN = {
    "name",
    "type",
    "description",
    "tags",
    "size",
    "tier",
    "min_instances",
    "max_instances",
    "idle_time_before_scale_down",
}


def create(workspace: Workspace, spec: specs.Spec) -> dict[str, Any]:
    """Create or update (as Azure's create_or_update) a compute from a validated spec."""
    if isinstance(spec.data.get("type"), str):
        spec.data["type"] = spec.data["type"].lower()
    data = specs.validate(spec, "amlCompute.schema.json")
    if data.get("min_instances", 0) > data.get("max_instances", 1):
        raise InvalidSpecError(
            [
                f"{spec.source}: min_instances: must not exceed max_instances "
                f"({data.get('min_instances', 0)} > {data.get('max_instances', 1)})"
            ]
        )
    compute = Compute(
        name=data["name"],
        created_at=now_iso(),
        type=data["type"],
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
        size=data.get("size", "Standard_DS3_v2"),
        tier=data.get("tier", "dedicated"),
        min_instances=data.get("min_instances", 0),
        max_instances=data.get("max_instances", 1),
        idle_time_before_scale_down=data.get("idle_time_before_scale_down", 120),
        extra={k: v for k, v in data.items() if k not in KNOWN and k != "$schema"},
    )
    with workspace.transaction() as txn:
        txn.write_json(
            workspace.compute_file(compute.name), workspace.stamp("compute", to_state(compute))
        )
    return compute.view(workspace.name)


def get(workspace: Workspace, name: str) -> Compute:
    state = workspace.read_state(workspace.compute_file(name), "compute", name)
    return from_state(Compute, state)


def require(workspace: Workspace, name: str) -> Compute:
    try:
        return get(workspace, name)
    except NotFoundError:
        raise NotFoundError(
            f"compute '{name}' not found in workspace {workspace.root}",
            hint=f"create it with: batchml compute create -n {name} --type amlcompute",
        ) from None


def show(workspace: Workspace, name: str) -> dict[str, Any]:
    return get(workspace, name).view(workspace.name)


def list_all(workspace: Workspace) -> list[dict[str, Any]]:
    folder = workspace.root / "computes"
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [show(workspace, name) for name in names]


def delete(workspace: Workspace, name: str) -> None:
    with workspace.transaction() as txn:
        get(workspace, name)
        txn.remove(workspace.compute_file(name))
