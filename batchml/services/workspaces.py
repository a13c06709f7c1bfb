"""What `workspace show` reports."""

from __future__ import annotations

from typing import Any

from batchml.services import assets, computes, endpoints
from batchml.store.workspace import FORMAT_VERSION, Workspace


def describe(workspace: Workspace, reason: str) -> dict[str, Any]:
    workspace.check_format()
    info = workspace.info()
    datastores = workspace.root / "datastores"
    return {
        "name": workspace.name,
        "path": str(workspace.root),
        "resolved_from": reason,
        "exists": workspace.exists(),
        "format_version": FORMAT_VERSION if workspace.exists() else None,
        "created_at": info.get("created_at"),
        "datastores": sorted(p.name for p in datastores.iterdir()) if datastores.is_dir() else [],
        "batch_endpoints": len(endpoints.names(workspace)),
        "models": len(assets.list_all(workspace, "model")),
        "data": len(assets.list_all(workspace, "data")),
        "computes": len(computes.list_all(workspace)),
    }
