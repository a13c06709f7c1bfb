"""Components: command and pipeline components, registered in versions, and how a component
given as a file, an inline mapping or a reference becomes the resolved form jobs run.

Resolving snapshots each command component's `code` folder (and an inline environment's conda
file) under a destination folder, pins references (`@latest` becomes a version) and checks the
command lines and the pipeline graph, reporting every problem at once with where it is.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from batchml.core import command_line, pipeline, refs
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, Problem, UsageError
from batchml.core.records import arm_id
from batchml.core.resources import CreationContext
from batchml.services import assets, environments
from batchml.services.common import as_strings, local_path
from batchml.store import versioned
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso

SCHEMAS = {"command": "commandComponent.schema.json", "pipeline": "pipelineComponent.schema.json"}
STATE_FILE = "component.json"


class _Resolver:
    """Resolves one document (and the files it names) into `dest`, collecting problems."""

    def __init__(self, workspace: Workspace, txn: Transaction, dest: Path) -> None:
        self.workspace = workspace
        self.txn = txn
        self.dest = dest
        self.problems = specs.Problems()

    # -- a component given any way ----------------------------------------------------------
    def component(
        self, value: Any, spec: specs.Spec, field: list[str], kind: str, dest: Path
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(the resolved component, its `azureml:name:version` if it is a registered one)."""
        if isinstance(value, dict):
            return self.document(value, spec, field, kind, dest), None
        if refs.is_registry(value):
            self.problems.report(
                spec, field, f"{value}: registry components are not available locally"
            )
            return None, None
        if refs.is_reference(value):
            found = self.problems.attempt(spec, field, lambda: get(self.workspace, value))
            if found is None:
                return None, None
            if found["type"] != kind:
                self.problems.report(
                    spec, field, f"{value} is a {found['type']} component, not {kind}"
                )
                return None, None
            return found, f"azureml:{found['name']}:{found['version']}"
        loaded = self.problems.attempt(spec, field, lambda: _load(spec.base_dir / value, kind))
        if loaded is None:
            return None, None
        return self.document(loaded.data, loaded, [], kind, dest), None

    def document(
        self, data: dict[str, Any], spec: specs.Spec, field: list[str], kind: str, dest: Path
    ) -> dict[str, Any] | None:
        if kind == "command":
            return self.command(data, spec, field, dest)
        return self.pipeline(data, spec, field, dest)

    # -- command components --------------------------------------------------------------------
    def command(
        self, data: dict[str, Any], spec: specs.Spec, field: list[str], dest: Path
    ) -> dict[str, Any]:
        resolved = {k: v for k, v in data.items() if k != "$schema"}
        resolved["type"] = "command"
        if "code" in data:
            resolved["code"] = self.problems.attempt(
                spec, [*field, "code"], lambda: self._code(data["code"], spec, dest)
            )
        environment = data.get("environment")
        if isinstance(environment, str):
            resolved["environment"] = self.problems.attempt(
                spec,
                [*field, "environment"],
                lambda: environments.reference(self.workspace, environment),
            )
        elif isinstance(environment, dict) and isinstance(environment.get("conda_file"), str):
            conda = self.problems.attempt(
                spec,
                [*field, "environment", "conda_file"],
                lambda: local_path(
                    self.workspace, environment["conda_file"], spec.base_dir, "conda file"
                ),
            )
            if conda is not None:
                copied = self.txn.snapshot(conda, dest / "environment")
                resolved["environment"] = {**environment, "conda_file": str(copied)}
        resolved["environment_variables"] = as_strings(data.get("environment_variables"))
        prefix = ".".join(field) + "." if field else ""
        self.problems.found += command_line.check_command(resolved, specs.problem_at(spec), prefix)
        return resolved

    def _code(self, value: str, spec: specs.Spec, dest: Path) -> str:
        folder = local_path(self.workspace, value, spec.base_dir, "code folder")
        if not folder.is_dir():
            raise UsageError(f"{folder} is a file; code takes the folder that holds the scripts")
        return str(self.txn.snapshot(folder, dest / "code"))

    # -- pipeline components -------------------------------------------------------------------
    def pipeline(
        self, data: dict[str, Any], spec: specs.Spec, field: list[str], dest: Path
    ) -> dict[str, Any] | None:
        resolved = {k: v for k, v in data.items() if k not in ("$schema", "jobs")}
        resolved["jobs"] = {}
        complete = True
        for step, job in (data.get("jobs") or {}).items():
            where = [*field, "jobs", step]
            component, reference = self.component(
                job["component"], spec, [*where, "component"], "command", dest / "jobs" / step
            )
            complete = complete and component is not None
            inputs = {
                name: self._pinned(value, spec, [*where, "inputs", name])
                for name, value in (job.get("inputs") or {}).items()
            }
            resolved["jobs"][step] = {
                **job,
                "component": component,
                "component_id": reference,
                "inputs": inputs,
            }
        self.problems.found += pipeline.check_pipeline(resolved, specs.problem_at(spec, field))
        return resolved if complete else None

    def _pinned(self, value: Any, spec: specs.Spec, field: list[str]) -> Any:
        """A step input's binding with asset references pinned to versions and local paths made
        absolute (anchored at the file that names them)."""
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            return value
        path = value["path"]
        if "${{" in path:
            return value
        kind = "model" if value.get("type") in pipeline.MODEL_TYPES else "data"
        if refs.parse_asset(path) is not None:
            asset = self.problems.attempt(
                spec, [*field, "path"], lambda: assets.resolve(self.workspace, kind, path)
            )
            return {**value, "path": f"azureml:{asset.name}:{asset.version}"} if asset else value
        if refs.parse_datastore(path) is not None:
            return value
        local = self.problems.attempt(
            spec,
            [*field, "path"],
            lambda: local_path(self.workspace, path, spec.base_dir, "input path"),
        )
        return {**value, "path": str(local)} if local is not None else value


def _load(path: Path, kind: str) -> specs.Spec:
    spec = specs.load_file(path)
    found = spec.data.get("type", "command")
    if found != kind:
        raise UsageError(f"{path} is a {found} component; a {kind} component is needed here")
    specs.validate(spec, SCHEMAS[kind])
    return spec


def resolve(
    workspace: Workspace,
    txn: Transaction,
    value: Any,
    spec: specs.Spec,
    field: list[str],
    dest: Path,
    kind: str = "pipeline",
) -> tuple[dict[str, Any], str | None]:
    """A component given as a file path, an inline mapping or a reference, resolved into
    `dest`: (the resolved component, its `azureml:name:version` if registered). Raises
    InvalidSpecError listing every problem."""
    resolver = _Resolver(workspace, txn, dest)
    component, reference = resolver.component(value, spec, field, kind, dest)
    if resolver.problems.found or component is None:
        unresolved = Problem(spec.source, None, None, f"cannot resolve {value}")
        raise InvalidSpecError(resolver.problems.in_order() or [unresolved])
    return component, reference


# -- registered components ----------------------------------------------------------------------
def _folder(workspace: Workspace, name: str, version: str | None = None) -> Path:
    return workspace.component_dir(name, version)


def _fingerprint(component: dict[str, Any], root: Path) -> str:
    """What makes two registrations the same: the resolved spec (paths relative to where it was
    resolved) and the bytes of every file it snapshotted."""
    digest = hashlib.sha256(json.dumps(component, sort_keys=True).replace(str(root), "").encode())
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _resolved_in(
    workspace: Workspace, txn: Transaction, spec: specs.Spec, kind: str, dest: Path
) -> dict[str, Any]:
    resolver = _Resolver(workspace, txn, dest)
    component = resolver.document(spec.data, spec, [], kind, dest)
    if resolver.problems.found or component is None:
        raise InvalidSpecError(resolver.problems.in_order())
    return component


def create(workspace: Workspace, spec: specs.Spec) -> dict[str, Any]:
    """Register a component version. Re-creating an existing version with the same content
    returns it unchanged; with other content it is a conflict."""
    kind = spec.data.get("type", "command")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        message = f"must be command or pipeline, got '{kind}'"
        raise InvalidSpecError([specs.problem(spec, ["type"], message)])
    data = specs.validate(spec, SCHEMAS[kind])
    if "name" not in data:
        message = "is required to register a component"
        raise InvalidSpecError([Problem(spec.source, None, "name", message)])
    name = str(data["name"])
    if "version" in data:
        # `version: 3` in the file and `-v 3` are the same version.
        data["version"] = str(data["version"])
    spec.data = data
    with workspace.transaction() as txn:
        existing = versioned.versions(workspace, _folder(workspace, name), STATE_FILE, "component")
        version = str(data["version"]) if "version" in data else versioned.next_version(existing)
        folder = _folder(workspace, name, version)
        if version in existing:
            with tempfile.TemporaryDirectory(dir=workspace.root) as scratch:
                fresh = _resolved_in(workspace, Transaction(), spec, kind, Path(scratch))
                same = _fingerprint(fresh, Path(scratch)) == _stored(workspace, folder)["hash"]
            if not same:
                raise versioned.conflict("component", name, version, existing)
            return show(workspace, f"azureml:{name}:{version}")
        component = _resolved_in(workspace, txn, spec, kind, folder)
        record = {
            "name": name,
            "version": version,
            "type": kind,
            "created_at": now_iso(),
            "created_by": current_user(),
            "hash": _fingerprint(component, folder),
            "component": {**component, "name": name, "version": version},
        }
        txn.write_json(folder / STATE_FILE, workspace.stamp("component", record))
    return show(workspace, f"azureml:{name}:{version}")


def _stored(workspace: Workspace, folder: Path) -> dict[str, Any]:
    return workspace.read_state(folder / STATE_FILE, "component", folder.parent.name)


def _record(workspace: Workspace, name: str, version: str | None, label: str | None) -> dict:
    existing = versioned.versions(workspace, _folder(workspace, name), STATE_FILE, "component")
    chosen = versioned.pick(
        existing, version, label, kind="component", name=name, workspace=workspace
    )
    return _stored(workspace, _folder(workspace, name, chosen))


def get(workspace: Workspace, reference: str) -> dict[str, Any]:
    """A registered component (`azureml:name:version`, `azureml:name@latest`, an ARM id), as
    jobs use it: the resolved spec with its `id`."""
    ref = versioned.parse(reference, "component", "azureml:name:1")
    record = _record(workspace, ref.name, ref.version, ref.label)
    ident = arm_id(workspace.name, "components", record["name"], "versions", record["version"])
    return {**record["component"], "id": ident}


def _view(workspace: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    component = record["component"]
    shown = {k: v for k, v in component.items() if k != "jobs"}
    if "jobs" in component:
        shown["jobs"] = {
            step: {
                "component": job["component_id"] or job["component"],
                "inputs": job.get("inputs") or {},
                "outputs": job.get("outputs") or {},
                "type": "command",
            }
            for step, job in component["jobs"].items()
        }
    context = CreationContext(record["created_at"], record["created_by"], record["created_at"])
    return {
        **shown,
        "creation_context": context.view(),
        "description": component.get("description", ""),
        "display_name": component.get("display_name", record["name"]),
        "id": arm_id(workspace.name, "components", record["name"], "versions", record["version"]),
        "inputs": component.get("inputs") or {},
        "outputs": component.get("outputs") or {},
        "tags": as_strings(component.get("tags")),
    }


def show(
    workspace: Workspace,
    reference: str | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    if reference is not None:
        ref = refs.parse_asset(reference)
        assert ref is not None
        name, version, label = ref.name, ref.version, ref.label
    assert name is not None
    return _view(workspace, _record(workspace, name, version, label))


def list_all(workspace: Workspace, name: str | None = None) -> list[dict[str, Any]]:
    """With a name, every version of it (newest first); else the newest version of each."""
    if name is not None:
        existing = versioned.versions(workspace, _folder(workspace, name), STATE_FILE, "component")
        return [show(workspace, name=name, version=v) for v in reversed(existing)]
    root = workspace.assets_dir("component")
    return [show(workspace, name=n, label="latest") for n in versioned.names(root, STATE_FILE)]
