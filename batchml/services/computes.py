"""Compute targets. An amlcompute cluster runs its jobs on this machine; a ray compute runs
them on a Ray cluster (batchml.backends.ray)."""

from __future__ import annotations

from typing import Any

from batchml.core import spec as specs
from batchml.core.batch_job import LocalWorkers, RayWorkers, Workers
from batchml.core.errors import InvalidSpecError, NotFoundError, Problem
from batchml.core.records import from_state, to_state
from batchml.core.resources import Compute
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
    compute = _ray(spec) if spec.data.get("type") == "ray" else _amlcompute(spec)
    with workspace.transaction() as txn:
        txn.write_json(
            workspace.compute_file(compute.name), workspace.stamp("compute", to_state(compute))
        )
    return compute.view(workspace.name)


def _amlcompute(spec: specs.Spec) -> Compute:
    data = specs.validate(spec, "amlCompute.schema.json")
    if data.get("min_instances", 0) > data.get("max_instances", 1):
        message = (
            "must not exceed max_instances "
            f"({data.get('min_instances', 0)} > {data.get('max_instances', 1)})"
        )
        raise InvalidSpecError([Problem(spec.source, None, "min_instances", message)])
    return Compute(
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


def _ray(spec: specs.Spec) -> Compute:
    data = specs.validate(spec, "rayCompute.schema.json")
    address = data.get("address", "auto")
    if "num_cpus" in data and address != "local":
        message = (
            "sizes a Ray instance batchml starts, so it needs address local "
            f"(got address {address})"
        )
        raise InvalidSpecError([specs.problem(spec, ["num_cpus"], message)])
    return Compute(
        name=data["name"],
        created_at=now_iso(),
        type="ray",
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
        address=address,
        num_cpus=data.get("num_cpus"),
    )


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


def backend_record(compute: Compute, resource_properties: dict[str, Any], source: str) -> Workers:
    """Where a job on `compute` runs its workers, as its record keeps it.

    Local processes for an amlcompute; for a ray compute, its address and each worker's Ray
    resources, from the deployment's resources.properties num_cpus (default 1) and num_gpus
    (default 0). `source` names the deployment in error messages.
    """
    if compute.type != "ray":
        return LocalWorkers()
    resources = {}
    problems = specs.Problems()
    for key, default in (("num_cpus", 1), ("num_gpus", 0)):
        value = resource_properties.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            message = f"must be a number, 0 or more (got {value!r})"
            problems.found.append(Problem(source, None, f"resources.properties.{key}", message))
        resources[key] = value
    problems.raise_if_any()
    assert compute.address is not None  # a ray compute always has one (default auto)
    return RayWorkers(
        compute=compute.name,
        address=compute.address,
        num_cpus=compute.num_cpus,
        worker_resources=resources,
    )


def check_backend(record: Workers) -> None:
    """Raise ComputeUnavailableError if a job could not run its workers as `record` says."""
    if isinstance(record, RayWorkers):
        from batchml.backends.ray import check

        check(record.address)
