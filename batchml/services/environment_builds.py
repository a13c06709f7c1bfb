"""The per-user cache of built environments as a whole (batchml.envs.cache, envs.inventory):
what it holds (`environment list-builds`), and removing what this workspace does not use
(`environment prune`).

The cache is shared by every workspace of the user, and a workspace knows only its own
deployments and jobs: prune removes an environment only another workspace uses too (its next
job builds it again). It never removes one a job is running in, whatever its workspace (the
job's runner holds the environment's lock), nor one being built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from batchml.core.batch_job import BatchJob
from batchml.core.errors import BatchmlError, UsageError
from batchml.core.job_environment import UV, JobEnvironment
from batchml.core.job_record import JobStatus
from batchml.core.pipeline_job import StepJob
from batchml.core.resources import Deployment
from batchml.envs import cache, inventory
from batchml.envs.requirements import Requirements
from batchml.services import deployments, endpoints, environments, job_environments
from batchml.store.job_index import all_jobs
from batchml.store.workspace import Workspace

SHARED = (
    "the cache is shared by all workspaces of this user; only this workspace's deployments, "
    "environments and jobs were looked at, so an environment only another workspace uses is "
    "removed too (built again when a job needs it); one a job is running in, or being built, "
    "is never removed"
)
EVERYTHING = (
    "--all: every environment of the cache, which all workspaces of this user share, is "
    "removed (each is built again when a job needs it), except one a job is running in or "
    "being built"
)
IN_USE = "its lock is held: a job is running in it, or it is being built or removed"


def list_builds() -> dict[str, Any]:
    """Every environment in the cache (by key) and the disk the whole cache takes."""
    root = cache.cache_root()
    found = [
        {**environments.cached_view(environment), **_origin(environment)}
        for environment in inventory.environments()
    ]
    return {
        "cache": str(root),
        "environments": found,
        "size_bytes": inventory.usage([root]).size_bytes,
    }


def prune(
    workspace: Workspace | None, *, dry_run: bool, warn: Callable[[str], None]
) -> dict[str, Any]:
    """Remove the cached environments `workspace` does not use (used_by()), or every one
    when it is None (--all), and what killed builds left; `dry_run`: only say what would go."""
    if workspace is not None and not workspace.exists():
        # With no workspace, nothing would be kept: that is --all, and must be asked for.
        raise UsageError(
            f"there is no workspace at {workspace.root} to tell which environments are used",
            hint="run in a workspace (-w PATH), or remove every cached environment with --all",
        )
    used = used_by(workspace, warn) if workspace is not None else {}
    present = inventory.environments()
    chosen = [environment for environment in present if environment.key not in used]
    sizes = {
        environment.key: inventory.usage([environment.path]).size_bytes for environment in chosen
    }
    removal = inventory.remove(chosen, dry_run=dry_run)
    return {
        "cache": str(cache.cache_root()),
        "dry_run": dry_run,
        "note": SHARED if workspace is not None else EVERYTHING,
        "removed": [
            {"key": e.key, "path": str(e.path), "size_bytes": sizes[e.key], **_origin(e)}
            for e in removal.removed
        ],
        "skipped": [{"key": e.key, "path": str(e.path), "reason": IN_USE} for e in removal.locked],
        "kept": [
            {"key": e.key, "path": str(e.path), "used_by": used[e.key]}
            for e in present
            if e.key in used
        ],
        "leftovers": [str(path) for path in removal.leftovers],
        "freed_bytes": removal.freed_bytes,
        "size_bytes": inventory.usage([cache.cache_root()]).size_bytes,
    }


def used_by(workspace: Workspace, warn: Callable[[str], None]) -> dict[str, list[str]]:
    """The keys of the environments `workspace` may need, each with what needs it: every
    registered environment version, every model deployment's environment (whatever its
    env_manager: a job may be invoked with --set env_manager=uv), and the environment of
    every batch job or pipeline step that is not Completed (running, or resumable: Failed,
    Canceled, NotResponding).
    What cannot be told is said to `warn`, and keeps nothing."""
    used: dict[str, list[str]] = {}

    def use(key: str, by: str) -> None:
        users = used.setdefault(key, [])
        if by not in users:
            users.append(by)

    for environment in environments.every_version(workspace):
        try:
            wanted = environments.requirements_of(environment)
        except BatchmlError:
            continue  # a conda file uv cannot build from: nothing of it can be in the cache
        if wanted is not None:
            use(cache.key_of(wanted), f"environment {environment.name}:{environment.version}")
    for endpoint in endpoints.names(workspace):
        for name in deployments.names(workspace, endpoint):
            found = _deployment_environment(workspace, endpoint, name, warn)
            if found is not None and found.manager == UV:
                use(_key(found), f"batch deployment {endpoint}/{name}")
    for job in all_jobs(workspace, warn):
        # A pipeline step runs in its component's environment as a batch job in its own.
        if isinstance(job, (BatchJob, StepJob)) and job.status != JobStatus.COMPLETED:
            by = f"job {job.name} ({job.status})"
            if job.runs_in.key:  # the one it ran in, even if batchml's Python changed
                use(job.runs_in.key, by)
            if job.runs_in.manager == UV:  # the one it runs in when resumed
                use(_key(job.runs_in), by)
    return used


def _deployment_environment(
    workspace: Workspace, endpoint: str, name: str, warn: Callable[[str], None]
) -> JobEnvironment | None:
    """The environment a job of a model deployment runs in with env_manager uv; None for a
    pipeline deployment (its steps' environments are kept by their jobs' and the registered
    environments'), or when it cannot be told
    (said to `warn`: a job of it would fail to start)."""
    try:
        deployment = deployments.get(workspace, endpoint, name)
        if not isinstance(deployment, Deployment):
            return None
        return job_environments.for_deployment(workspace, deployment, UV)
    except (BatchmlError, OSError) as exc:
        reason = exc.message if isinstance(exc, BatchmlError) else str(exc)
        warn(
            f"which environment batch deployment {endpoint}/{name} runs in cannot be told: {reason}"
        )
        return None


def _origin(environment: inventory.Cached) -> dict[str, Any]:
    """What an environment in the cache was built from, as its marker says."""
    return {
        "python": environment.marker.get("python_request"),
        "requirements": environment.requirements,
        "note": environment.marker.get("note"),
    }


def _key(environment: JobEnvironment) -> str:
    return cache.key_of(Requirements(environment.python, tuple(environment.packages)))
