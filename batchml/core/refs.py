"""Reference syntax, as in Azure's YAML: `azureml:name:version`, `azureml:name@latest`,
`azureml:compute`, ARM ids, `azureml://datastores/<ds>/paths/<p>` (and its long form
`azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<w>/datastores/<ds>/paths/<p>`),
registry ids, local paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "azureml:"
# The short form, and the long one (whose subscription, group and workspace do not matter here).
_DATASTORE = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$"
)
_ARM_VERSIONED = re.compile(
    r"/(?:models|data|environments|components)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$"
)
_ARM_RESOURCE = re.compile(r"/(?:computes|batchEndpoints)/(?P<name>[^/]+)$")


@dataclass(frozen=True)
class AssetRef:
    """A versioned asset: exactly one of `version` and `label` (only `latest`) is set."""

    name: str
    version: str | None = None
    label: str | None = None

    def __str__(self) -> str:
        return (
            f"{PREFIX}{self.name}@{self.label}"
            if self.label
            else f"{PREFIX}{self.name}:{self.version}"
        )


@dataclass(frozen=True)
class DatastorePath:
    datastore: str
    path: str


def is_reference(value: str) -> bool:
    return value.startswith(PREFIX)


def is_registry(value: str) -> bool:
    return value.startswith("azureml://registries/")


def is_remote_uri(value: str) -> bool:
    return bool(re.match(r"^(https?|wasbs?|abfss?|adl|s3|gs)://", value))


def parse_asset(value: str) -> AssetRef | None:
    """Parse `azureml:name:version`, `azureml:name@latest` or an ARM id; None if not one."""
    if not is_reference(value) or value.startswith("azureml://"):
        return None
    body = value[len(PREFIX) :]
    arm = _ARM_VERSIONED.search(body)
    if body.startswith("/") and arm:
        return AssetRef(arm["name"], version=arm["version"])
    if "@" in body:
        name, _, label = body.partition("@")
        return AssetRef(name, label=label)
    name, sep, version = body.partition(":")
    return AssetRef(name, version=version if sep else None)


def parse_resource(value: str) -> str:
    """`azureml:cpu-cluster`, an ARM id, or a bare name -> the resource name."""
    body = value[len(PREFIX) :] if is_reference(value) else value
    arm = _ARM_RESOURCE.search(body)
    return arm["name"] if body.startswith("/") and arm else body


def parse_datastore(value: str) -> DatastorePath | None:
    match = _DATASTORE.match(value)
    return DatastorePath(match["ds"], match["path"]) if match else None
