"""Version bookkeeping shared by the versioned kinds (models, data, environments, components).

Each kind keeps every version of a name in a folder of its own, `<name folder>/<version>/<state
file>`. Versions are ordered by the state file's `created_at`: as in Azure, `latest` is the
version created last, not the highest number. A kind's service passes the folders and names; this
module knows nothing of what the state files hold besides `created_at`.

    existing = versioned.versions(workspace, workspace.model_dir(name), "model.json", "model")
    version = versioned.pick(existing, version, label, kind="model", name=name, workspace=workspace)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core import refs
from batchml.core.errors import ConflictError, NotFoundError, UsageError
from batchml.core.refs import AssetRef

if TYPE_CHECKING:
    from batchml.store.workspace import Workspace

LATEST = "latest"


def versions(workspace: Workspace, folder: Path, state_file: str, kind: str) -> list[str]:
    """The versions in `folder` (one `<version>/<state_file>` each), oldest first by creation
    time: the last is `latest`. An empty list when there are none (or no such folder)."""
    files = sorted(folder.glob(f"*/{state_file}")) if folder.is_dir() else []
    created = {
        f.parent.name: workspace.read_state(f, kind, folder.name).get("created_at", "")
        for f in files
    }
    return sorted(created, key=lambda version: created[version])


def names(root: Path, state_file: str) -> list[str]:
    """The names in `root` (one `<name>/<version>/<state_file>` each) with at least one version,
    sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if any(p.glob(f"*/{state_file}")))


def parse(reference: str, kind: str, example: str) -> AssetRef:
    """`azureml:name:version`, `azureml:name@latest` or an ARM id; UsageError (with `example`)
    for anything else, and for a reference that names no version."""
    ref = refs.parse_asset(reference)
    if ref is None or not ref.name:
        raise UsageError(f"'{reference}' is not a {kind} reference such as {example}")
    if ref.version is None and ref.label is None:
        raise UsageError(
            f"'{reference}' names no version",
            hint=f"use azureml:{ref.name}@latest or azureml:{ref.name}:<version>",
        )
    return ref


def next_version(existing: Iterable[str]) -> str:
    """The version to give when none is given: one more than the highest numeric version (Azure
    ignores versions that are not numbers here), "1" for the first."""
    numbers = [int(v) for v in existing if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def conflict(kind: str, name: str, version: str, existing: Iterable[str]) -> ConflictError:
    """The error for creating a version that exists with other content (exit code 5)."""
    return ConflictError(
        f"{kind} '{name}' version {version} already exists (versions cannot change)",
        hint=f"omit the version to create version {next_version(existing)}",
    )


def pick(
    existing: Sequence[str],
    version: str | None,
    label: str | None,
    *,
    kind: str,
    name: str,
    workspace: Workspace,
) -> str:
    """The version to read: `version`, else the newest (label `latest`, or no label).

    `existing` is what `versions()` returned. Raises UsageError for a label other than latest,
    NotFoundError when the name has no versions or not this one (the hint lists them).
    """
    if label not in (None, LATEST):
        raise UsageError(f"unknown label '{label}'; the only label is '{LATEST}'")
    if not existing:
        raise NotFoundError(
            f"{kind} '{name}' not found in workspace {workspace.root}",
            hint=f"list them with: batchml {kind} list",
        )
    chosen = version if version is not None else existing[-1]
    if chosen not in existing:
        raise NotFoundError(
            f"{kind} '{name}' has no version {chosen}",
            hint=f"versions: {', '.join(existing)}",
        )
    return chosen
