"""Reference syntax, as in Azure's YAML: `azureml:name:version`, `azureml:name@latest`,
`azureml:compute`, ARM ids, `azureml://datastores/<ds>/paths/<p>` (or its long form, with the
subscription, resource group and workspace before `datastores/`), `azureml://jobs/<job>/outputs/<o>`,
registry ids, local paths."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "azureml:"
_DATASTORE = re.compile(
    r"^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$"
)
_JOB_OUTPUT = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)/?$")
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

    def __str__(self) -> str:
        return f"azureml://datastores/{self.datastore}/paths/{self.path}"


@dataclass(frozen=True)
class JobOutput:
    job: str
    output: str


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


def parse_job_output(value: str) -> JobOutput | None:
    """`azureml://jobs/<job>/outputs/<output>`: a job's output as an input; None if not one."""
    match = _JOB_OUTPUT.match(value)
    return JobOutput(match["job"], match["output"]) if match else None
