"""The resource model: what the workspace stores, and the JSON shapes `show` and `list` print.

The shapes are those `az ml` prints (e.g. `az ml batch-endpoint show`,
https://learn.microsoft.com/cli/azure/ml/batch-endpoint): snake_case keys, ARM-style ids under a
local subscription, deployments flat (no `settings` block), `logging_level` capitalised.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from batchml.core.records import arm_id, from_state
from batchml.core.run_settings import RunSettings

LOCATION = "local"


@dataclass(frozen=True)
class CreationContext:
    created_at: str
    created_by: str
    last_modified_at: str

    def view(self) -> dict[str, str]:
        return {
            "created_at": self.created_at,
            "created_by": self.created_by,
            "created_by_type": "User",
            "last_modified_at": self.last_modified_at,
            "last_modified_by": self.created_by,
            "last_modified_by_type": "User",
        }


@dataclass(frozen=True)
class Endpoint:
    name: str
    created_at: str
    modified_at: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    auth_mode: str = "aad_token"
    default_deployment: str | None = None

    def view(self, workspace: str) -> dict[str, Any]:
        ident = arm_id(workspace, "batchEndpoints", self.name)
        return {
            "auth_mode": self.auth_mode,
            "defaults": {"deployment_name": self.default_deployment},
            "description": self.description,
            "id": ident,
            "location": LOCATION,
            "name": self.name,
            "properties": {
                "BatchEndpointCreationApiVersion": "2023-10-01",
                "azureml.onlineendpointid": ident,
            },
            "provisioning_state": "Succeeded",
            "scoring_uri": f"batchml://{workspace}/batchEndpoints/{self.name}/jobs",
            "tags": self.tags,
        }


@dataclass(frozen=True)
class ModelBinding:
    """The model a deployment scores with: a registered version, or an inline snapshot."""

    name: str
    version: str | None  # None for an inline model
    model_dir: str  # the folder that holds the model's own folder or file (AZUREML_MODEL_DIR)
    type: str = "custom_model"


@dataclass(frozen=True)
class Deployment:
    name: str
    endpoint_name: str
    model: ModelBinding
    compute: str
    created_at: str
    modified_at: str
    created_by: str
    spec: dict[str, Any]  # the validated `type: model` spec, paths pointing at snapshots
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    code: str | None = None  # the code snapshot folder
    code_source: str | None = None  # the folder the snapshot was copied from
    scoring_script: str | None = None
    environment: Any = None  # as declared; its jobs build it (batchml.services.job_environments)
    resource_properties: dict[str, Any] = field(default_factory=dict)
    settings: RunSettings = field(default_factory=RunSettings)  # stored as fields of the record

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Deployment:
        state = dict(state)
        state["model"] = ModelBinding(**state["model"])
        state["settings"] = from_state(RunSettings, state)
        return from_state(cls, state)

    def to_state(self) -> dict[str, Any]:
        """The stored record (deployment.json), the run settings among its fields."""
        state = dataclasses.asdict(self)
        settings = state.pop("settings")
        return {**state, **settings}

    def view(self, workspace: str) -> dict[str, Any]:
        if self.model.version is not None:
            model: str = arm_id(
                workspace, "models", self.model.name, "versions", self.model.version
            )
        else:
            model = self.model.model_dir
        settings = self.settings
        shape: dict[str, Any] = {
            "code_configuration": (
                {"code": self.code, "scoring_script": self.scoring_script} if self.code else None
            ),
            "compute": arm_id(workspace, "computes", self.compute),
            "creation_context": CreationContext(
                self.created_at, self.created_by, self.modified_at
            ).view(),
            "description": self.description,
            "endpoint_name": self.endpoint_name,
            "environment": self.environment,
            "environment_variables": settings.environment_variables,
            "error_threshold": settings.error_threshold,
            "id": arm_id(workspace, "batchEndpoints", self.endpoint_name, "deployments", self.name),
            "logging_level": settings.logging_level.capitalize(),
            "max_concurrency_per_instance": settings.max_concurrency_per_instance,
            "mini_batch_size": settings.mini_batch_size,
            "model": model,
            "name": self.name,
            "output_action": settings.output_action,
            "properties": self.properties,
            "provisioning_state": "Succeeded",
            "resources": {
                "instance_count": settings.instance_count,
                "properties": self.resource_properties,
            },
            "retry_settings": {"max_retries": settings.max_retries, "timeout": settings.timeout},
            "tags": self.tags,
            "type": "model",
        }
        if settings.output_action == "append_row":
            shape["output_file_name"] = settings.output_file_name
        return shape


@dataclass(frozen=True)
class PipelineDeployment:
    """A `type: pipeline` deployment: a resolved pipeline component and its run settings."""

    name: str
    endpoint_name: str
    component: dict[str, Any]  # the resolved pipeline component
    component_id: str | None  # azureml:name:version when a registered component was named
    settings: dict[str, Any]  # default_compute, continue_on_step_failure, ...
    created_at: str
    modified_at: str
    created_by: str
    spec: dict[str, Any]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    type: str = "pipeline"

    def view(self, workspace: str) -> dict[str, Any]:
        """Azure's flat deployment shape: the model-deployment settings are zeros, and
        `properties.deployment_configuration_type` says PipelineComponent."""
        compute = self.settings.get("default_compute")
        return {
            "component": self.component_id or self.component.get("name"),
            "compute": arm_id(workspace, "computes", compute) if compute else None,
            "creation_context": CreationContext(
                self.created_at, self.created_by, self.modified_at
            ).view(),
            "description": self.description,
            "endpoint_name": self.endpoint_name,
            "error_threshold": 0,
            "id": arm_id(workspace, "batchEndpoints", self.endpoint_name, "deployments", self.name),
            "job_definition": self.spec.get("job_definition"),
            "max_concurrency_per_instance": 0,
            "mini_batch_size": 0,
            "name": self.name,
            "properties": {
                **self.properties,
                "deployment_configuration_type": "PipelineComponent",
            },
            "provisioning_state": "Succeeded",
            "settings": self.settings,
            "tags": self.tags,
            "type": "pipeline",
        }


@dataclass(frozen=True)
class Asset:
    """A versioned model or data asset."""

    kind: str  # "model" or "data"
    name: str
    version: str
    type: str
    path: str  # where its files are: a local folder/file or a datastore URI
    created_at: str
    created_by: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    flavors: dict[str, Any] | None = None
    stage: str | None = None
    signature: dict[str, Any] | None = None  # an MLflow model's, from its MLmodel file

    def view(self, workspace: str) -> dict[str, Any]:
        collection = "models" if self.kind == "model" else "data"
        shape: dict[str, Any] = {
            "creation_context": CreationContext(
                self.created_at, self.created_by, self.created_at
            ).view(),
            "description": self.description,
            "id": arm_id(workspace, collection, self.name, "versions", self.version),
            "name": self.name,
            "path": self.path,
            "properties": self.properties,
            "tags": self.tags,
            "type": self.type,
            "version": self.version,
        }
        if self.kind == "model":
            shape["flavors"] = self.flavors or {}
            shape["stage"] = self.stage
            if self.type == "mlflow_model":
                shape["signature"] = self.signature
        return shape


@dataclass(frozen=True)
class Environment:
    """A versioned environment: its image, conda file and build context as given (the conda
    file is what jobs build a virtualenv from; images are not built)."""

    name: str
    version: str
    created_at: str
    created_by: str
    image: str | None = None
    conda_file: dict[str, Any] | None = None  # the conda content, as Azure shows it
    conda_path: str | None = None  # the snapshot of a local conda file; None for an inline one
    build: dict[str, Any] | None = None  # {path, dockerfile_path}, path made absolute
    os_type: str = "linux"
    inference_config: dict[str, Any] | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    def view(self, workspace: str) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "conda_file": self.conda_file,
            "creation_context": CreationContext(
                self.created_at, self.created_by, self.created_at
            ).view(),
            "description": self.description,
            "id": arm_id(workspace, "environments", self.name, "versions", self.version),
            "image": self.image,
            "name": self.name,
            "os_type": self.os_type,
            "tags": self.tags,
            "version": self.version,
        }
        optional = {
            "build": self.build,
            "inference_config": self.inference_config,
            "properties": self.properties or None,
        }
        shape.update({key: value for key, value in optional.items() if value is not None})
        return dict(sorted(shape.items()))


@dataclass(frozen=True)
class Compute:
    name: str
    created_at: str
    type: str = "amlcompute"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    size: str = "Standard_DS3_v2"
    tier: str = "dedicated"
    min_instances: int = 0
    max_instances: int = 1
    idle_time_before_scale_down: int = 120
    extra: dict[str, Any] = field(default_factory=dict)  # Azure-only keys, recorded as given
    address: str | None = None  # type ray: auto, local, ray://HOST:PORT or HOST:PORT
    num_cpus: int | None = None  # type ray, address local: the size of the Ray instance

    def view(self, workspace: str) -> dict[str, Any]:
        if self.type == "ray":
            return {
                "address": self.address,
                "description": self.description,
                "id": arm_id(workspace, "computes", self.name),
                "location": LOCATION,
                "name": self.name,
                "num_cpus": self.num_cpus,
                "provisioning_state": "Succeeded",
                "tags": self.tags,
                "type": self.type,
            }
        return {
            **self.extra,
            "description": self.description,
            "id": arm_id(workspace, "computes", self.name),
            "idle_time_before_scale_down": self.idle_time_before_scale_down,
            "location": LOCATION,
            "max_instances": self.max_instances,
            "min_instances": self.min_instances,
            "name": self.name,
            "provisioning_state": "Succeeded",
            "size": self.size,
            "tags": self.tags,
            "tier": self.tier,
            "type": self.type,
        }
