"""Datastores: `datastore create|show|list|delete`.

The default datastore, workspaceblobstore, is a folder of the workspace and always listed; the
others are Azure storage connections, recorded in `<ws>/datastores/<name>.json`, their secrets
in `<ws>/secrets/datastores/<name>.json` (owner-only) and nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from batchml.core import spec as specs
from batchml.core.datastores import BLOB, GEN2, SECRET_KEYS, Datastore
from batchml.core.errors import ConflictError, InvalidSpecError
from batchml.core.names import check
from batchml.core.records import to_state
from batchml.services.common import as_strings
from batchml.store import remote
from batchml.store.workspace import DEFAULT_DATASTORE, Workspace, now_iso

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

SCHEMAS = {BLOB: "azureBlob.schema.json", GEN2: "azureDataLakeGen2.schema.json"}
UNSUPPORTED = ("azure_file", "azure_data_lake_gen1")
GEN2_DEFAULTS = {
    "resource_url": "https://storage.azure.com/",
    "authority_url": "https://login.microsoftonline.com",
}


def create(workspace: Workspace, spec: specs.Spec) -> dict[str, Any]:
    """Create or update (as Azure's create_or_update) a datastore from its YAML."""
    datastore, secrets = _from_spec(spec)
    if datastore.name == DEFAULT_DATASTORE:
        raise ConflictError(
            f"'{DEFAULT_DATASTORE}' is the workspace's default datastore (its folder "
            f"{workspace.datastore_dir(DEFAULT_DATASTORE)}); it cannot be replaced",
            hint="give the datastore another name",
        )
    with workspace.transaction() as txn:
        record = workspace.stamp("datastore", to_state(datastore))
        txn.write_json(workspace.datastore_file(datastore.name), record)
        secret_file = workspace.datastore_secret_file(datastore.name)
        if secrets:
            document = workspace.stamp("datastore-secrets", secrets)
            txn.write_json(secret_file, document, private_root=workspace.secrets_dir())
        else:
            txn.remove(secret_file)
    return datastore.view(workspace.name)


def _from_spec(spec: specs.Spec) -> tuple[Datastore, dict[str, str]]:
    """The record and the secrets of a datastore spec, validated against its type's schema."""
    kind = spec.data.get("type")
    if isinstance(kind, str):
        kind = spec.data["type"] = kind.lower()
    if kind in UNSUPPORTED:
        message = f"{kind} datastores are not supported (batchml reads azure_blob and {GEN2})"
        raise InvalidSpecError([specs.problem(spec, ["type"], message)])
    kind = kind if kind in SCHEMAS else BLOB
    try:
        data = specs.validate(spec, SCHEMAS[kind])
    except InvalidSpecError as exc:
        raise _redacted(exc, spec.data.get("credentials")) from None
    given = dict(data.get("credentials") or {})
    secrets = {key: given.pop(key) for key in SECRET_KEYS[kind] if key in given}
    if kind == GEN2:
        credentials = {"type": "service_principal", **GEN2_DEFAULTS, **given} if secrets else {}
        if "authority_uri" in credentials:  # the SDK's spelling of the same key
            credentials["authority_url"] = credentials.pop("authority_uri")
    else:
        credentials = (
            {"type": "sas" if "sas_token" in secrets else "account_key"} if secrets else {}
        )
    datastore = Datastore(
        name=data["name"],
        type=kind,
        created_at=now_iso(),
        account_name=data["account_name"],
        container=data["filesystem" if kind == GEN2 else "container_name"],
        endpoint=data.get("endpoint", "core.windows.net"),
        protocol=data.get("protocol", "https"),
        credentials=dict(sorted(credentials.items())) or {"type": "none"},
        account_url=data.get("account_url"),
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
    )
    return datastore, secrets


def _redacted(error: InvalidSpecError, credentials: Any) -> InvalidSpecError:
    """`error` with the values of `credentials` (a secret of the wrong type, say) hidden."""
    values = list(credentials.values()) if isinstance(credentials, dict) else []
    shown = [json.dumps(v, ensure_ascii=False) for v in values if v not in (None, "", {}, [])]
    problems = []
    for found in error.problems:
        message = found.message
        for secret in shown:
            message = message.replace(secret, "<secret>")
        problems.append(dataclasses.replace(found, message=message))
    return InvalidSpecError(problems, hint=error.hint)


def _default(workspace: Workspace) -> Datastore:
    return Datastore(
        name=DEFAULT_DATASTORE,
        type=BLOB,
        created_at="",
        account_name="local",
        container=DEFAULT_DATASTORE,
        description="The workspace's default datastore: a folder of the workspace.",
        local_path=str(workspace.datastore_dir(DEFAULT_DATASTORE)),
    )


def get(workspace: Workspace, name: str) -> Datastore:
    """A datastore by name (NotFoundError, exit 3, if there is none)."""
    if check("datastore", name) == DEFAULT_DATASTORE:
        return _default(workspace)
    return remote.read_datastore(workspace, name)


def filesystem(workspace: Workspace, name: str) -> tuple[Datastore, AbstractFileSystem]:
    """Registered datastore `name` and an fsspec filesystem on its storage, with its secrets."""
    datastore = get(workspace, name)
    if datastore.local_path is not None:
        raise ConflictError(f"datastore '{name}' is a folder of the workspace, not Azure storage")
    return datastore, remote.open_filesystem(datastore, remote.read_secrets(workspace, name))


def names(workspace: Workspace) -> list[str]:
    folder = workspace.root / "datastores"
    registered = {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
    return sorted({DEFAULT_DATASTORE, *registered})


def show(workspace: Workspace, name: str) -> dict[str, Any]:
    return get(workspace, name).view(workspace.name)


def list_all(workspace: Workspace, max_results: int | None = None) -> list[dict[str, Any]]:
    shown = names(workspace)
    return [show(workspace, name) for name in shown[:max_results]]


def delete(workspace: Workspace, name: str) -> None:
    """Forget a datastore and its secrets; the data in its storage stays (as in Azure)."""
    if check("datastore", name) == DEFAULT_DATASTORE:
        raise ConflictError(f"'{DEFAULT_DATASTORE}' is the default datastore; it cannot be deleted")
    with workspace.transaction() as txn:
        get(workspace, name)
        txn.remove(workspace.datastore_file(name))
        txn.remove(workspace.datastore_secret_file(name))
