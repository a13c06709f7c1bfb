"""Datastores: the record of an Azure storage connection and the shape `datastore show` prints.

The record never holds a secret: an account key, SAS token or client secret is kept apart
(batchml.store.workspace secrets_dir) and only its kind is here, in `credentials["type"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchml.core.records import arm_id

BLOB = "azure_blob"
GEN2 = "azure_data_lake_gen2"
DEFAULT_ENDPOINT = "core.windows.net"
# The keys of `credentials` in a datastore YAML that are secrets, by datastore type.
SECRET_KEYS = {BLOB: ("account_key", "sas_token"), GEN2: ("client_secret",)}
# Protocols that mean plain http (an emulator) rather than TLS.
PLAIN = ("http", "wasb", "abfs")


@dataclass(frozen=True)
class Datastore:
    name: str
    type: str  # azure_blob or azure_data_lake_gen2
    created_at: str
    account_name: str
    container: str  # container_name (blob) or filesystem (gen2)
    endpoint: str = DEFAULT_ENDPOINT
    protocol: str = "https"
    # The non-secret part: {"type": account_key|sas|service_principal|none, tenant_id, ...}.
    credentials: dict[str, str] = field(default_factory=lambda: {"type": "none"})
    account_url: str | None = None  # batchml's own: the service URL of an emulator
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    local_path: str | None = None  # the default datastore: the folder that stands for it

    @property
    def blob_url(self) -> str:
        """The URL of the storage's Blob service (which adlfs reads Data Lake Gen2 through
        too): `account_url` when given, else Azure's `<scheme>://<account>.blob.<endpoint>`."""
        if self.account_url:
            return self.account_url.rstrip("/")
        scheme = "http" if self.protocol in PLAIN else "https"
        return f"{scheme}://{self.account_name}.blob.{self.endpoint}"

    def view(self, workspace: str) -> dict[str, Any]:
        container = "filesystem" if self.type == GEN2 else "container_name"
        shape: dict[str, Any] = {
            "account_name": self.account_name,
            container: self.container,
            "credentials": dict(self.credentials),
            "description": self.description,
            "endpoint": self.endpoint,
            "id": arm_id(workspace, "datastores", self.name),
            "name": self.name,
            "protocol": self.protocol,
            "tags": self.tags,
            "type": self.type,
        }
        if self.account_url:
            shape["account_url"] = self.account_url
        if self.local_path:
            shape["local_path"] = self.local_path
        return dict(sorted(shape.items()))
