"""What `workspace show` reports, and the workspace's own defaults (`workspace update`)."""

from __future__ import annotations

from typing import Any

from batchml.core.errors import UsageError
from batchml.core.job_environment import ENV_MANAGERS
from batchml.services import assets, computes, datastores, endpoints
from batchml.store.workspace import FORMAT_VERSION, Workspace


def describe(workspace: Workspace, reason: str) -> dict[str, Any]:
    workspace.check_format()
    info = workspace.info()
    return {
        "name": workspace.name,
        "path": str(workspace.root),
        "resolved_from": reason,
        "exists": workspace.exists(),
        "format_version": FORMAT_VERSION if workspace.exists() else None,
        "created_at": info.get("created_at"),
        "datastores": datastores.names(workspace) if workspace.exists() else [],
        "batch_endpoints": len(endpoints.names(workspace)),
        "models": len(assets.list_all(workspace, "model")),
        "data": len(assets.list_all(workspace, "data")),
        "computes": len(computes.list_all(workspace)),
        "defaults": workspace.defaults(),
    }


# What `workspace update --set KEY=VALUE` takes, and the values each key may have.
SETTABLE = {"env_manager": ENV_MANAGERS}


def update(workspace: Workspace, sets: list[str], reason: str) -> dict[str, Any]:
    """Apply `KEY=VALUE` defaults (an empty value unsets the key); `describe()` afterwards."""
    with workspace.transaction() as txn:
        info = workspace.info()
        defaults = dict(workspace.defaults())
        for pair in sets:
            key, sep, value = (part.strip() for part in pair.partition("="))
            allowed = SETTABLE.get(key)
            if not sep or allowed is None:
                raise UsageError(
                    f"--set {pair}: the workspace defaults are {', '.join(SETTABLE)}",
                    hint="e.g. batchml workspace update --set env_manager=local",
                )
            if value and value not in allowed:
                raise UsageError(f"--set {pair}: {key} must be one of {', '.join(allowed)}")
            if value:
                defaults[key] = value
            else:
                defaults.pop(key, None)
        state = {**info, "defaults": defaults}
        txn.write_json(workspace.root / "workspace.json", workspace.stamp("workspace", state))
    return describe(workspace, reason)
