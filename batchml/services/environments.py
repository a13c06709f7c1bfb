"""Versioned environments (`az ml environment`): an environment's image and build context are
kept as given, and a local conda file is snapshotted into the workspace so that later edits to
it change nothing registered. Jobs build a virtualenv from the conda file (batchml.envs; see
batchml.services.job_environments); `build()` does it ahead of time.

Components and deployments that name an environment by string go through `reference()`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core import refs, yaml_text
from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, NotFoundError, UsageError
from batchml.core.records import from_state, to_state
from batchml.core.refs import AssetRef
from batchml.core.resources import Environment
from batchml.services.common import as_strings, local_path
from batchml.store import versioned
from batchml.store.workspace import Workspace, current_user, iso_time, now_iso

if TYPE_CHECKING:
    from batchml.envs import inventory
    from batchml.envs.requirements import Requirements

KIND = "environment"
SCHEMA = "environment.schema.json"
STATE_FILE = "environment.json"
CURATED_PREFIX = "AzureML-"  # Azure's curated environments, in its `azureml` registry
CREATE_HINT = "batchml environment create -f environment.yml"
NOTHING_TO_BUILD = (
    "has no conda file, so there is nothing to build (an image alone names no packages "
    "batchml can install)"
)

_REGISTRY = re.compile(r"^azureml://registries/[^/]+/environments/[^/]+/(versions|labels)/[^/]+$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,29}$")
FORMS = (
    "azureml:<name>:<version>, azureml:<name>@latest, "
    "azureml:/subscriptions/.../environments/<name>/versions/<version>, "
    "azureml://registries/<registry>/environments/<name>/versions/<version> (or /labels/<label>), "
    "or a curated environment such as azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"
)


def create(workspace: Workspace, spec: specs.Spec) -> dict[str, Any]:
    """Register a version. An explicit version that exists with the same content is returned
    unchanged (re-running a script works); with other content it is a conflict."""
    data = specs.validate(spec, SCHEMA)
    if "image" in data and "build" in data:
        message = (
            "give image or build, not both (as in Azure: a build context builds its own image)"
        )
        raise InvalidSpecError([specs.problem(spec, ["build"], message)])
    name = data["name"]
    conda_source, conda = _conda(workspace, spec, data.get("conda_file"))
    build = _build(workspace, spec, data.get("build"))
    with workspace.transaction() as txn:
        existing = _versions(workspace, name)
        version = str(data["version"]) if "version" in data else versioned.next_version(existing)
        record = Environment(
            name=name,
            version=version,
            created_at=now_iso(),
            created_by=current_user(),
            image=data.get("image"),
            conda_file=conda,
            build=build,
            os_type=data.get("os_type", "linux"),
            inference_config=data.get("inference_config"),
            description=data.get("description", ""),
            tags=as_strings(data.get("tags")),
            properties=data.get("properties", {}),
        )
        if version in existing:
            stored = _read(workspace, name, version)
            if _content(stored) != _content(record, conda_source):
                raise versioned.conflict(KIND, name, version, existing)
            return stored.view(workspace.name)
        folder = workspace.environment_dir(name, version)
        if conda_source is not None:
            snapshot = txn.snapshot(conda_source, folder / "conda")
            record = dataclasses.replace(record, conda_path=str(snapshot))
        txn.write_json(folder / STATE_FILE, workspace.stamp(KIND, to_state(record)))
    return record.view(workspace.name)


def get(
    workspace: Workspace, name: str, version: str | None = None, label: str | None = None
) -> Environment:
    """One version: `version`, or the newest (label `latest`, or neither)."""
    existing = _versions(workspace, name)
    chosen = versioned.pick(existing, version, label, kind=KIND, name=name, workspace=workspace)
    return _read(workspace, name, chosen)


def show(
    workspace: Workspace, name: str, version: str | None = None, label: str | None = None
) -> dict[str, Any]:
    """`az ml environment show`'s shape of one version, and its `local_build`."""
    environment = get(workspace, name, version, label)
    shape = {**environment.view(workspace.name), "local_build": local_build(environment)}
    return dict(sorted(shape.items()))


def list_all(workspace: Workspace, name: str | None = None) -> list[dict[str, Any]]:
    """With a name, every version of it (newest first); else the newest version of each."""
    if name is not None:
        return [view(workspace, name, v) for v in reversed(_versions(workspace, name))]
    names = versioned.names(workspace.assets_dir("environment"), STATE_FILE)
    return [view(workspace, n, label=versioned.LATEST) for n in names]


def view(
    workspace: Workspace, name: str, version: str | None = None, label: str | None = None
) -> dict[str, Any]:
    """Azure's shape of one version."""
    return get(workspace, name, version, label).view(workspace.name)


def every_version(workspace: Workspace) -> list[Environment]:
    """Every registered version of every environment."""
    names = versioned.names(workspace.assets_dir("environment"), STATE_FILE)
    return [_read(workspace, name, v) for name in names for v in _versions(workspace, name)]


def requirements_of(environment: Environment) -> Requirements | None:
    """What a registered environment asks uv to install: its conda file (the snapshot, or
    the mapping it was registered with inline) translated; None when it has none."""
    from batchml.envs import requirements

    conda = environment.conda_path or environment.conda_file
    return requirements.from_environment({"conda_file": conda}) if conda else None


def local_build(environment: Environment) -> dict[str, Any]:
    """Whether the environment's virtualenv is in the per-user cache, found from its key as
    `build` and jobs compute it: nothing is built, no uv command runs."""
    from batchml.envs import cache, inventory

    try:
        wanted = requirements_of(environment)
    except InvalidSpecError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        return {"built": False, "reason": f"its conda file cannot be built with uv: {problems}"}
    if wanted is None:
        return {"built": False, "reason": f"it {NOTHING_TO_BUILD}"}
    key = cache.key_of(wanted)
    found = inventory.find(key)
    if found is None:
        how = f"batchml environment build -n {environment.name} -v {environment.version}"
        return {"built": False, "key": key, "reason": f"not built yet: {how} builds it"}
    return {"built": True, **cached_view(found), "packages": found.packages()}


def cached_view(environment: inventory.Cached) -> dict[str, Any]:
    """What is known of an environment in the cache without running it (its size is its
    folder's disk use, each hard-linked file counted once)."""
    from batchml.envs import inventory

    built = environment.built
    return {
        "key": environment.key,
        "path": str(environment.path),
        "python_version": environment.python_version,
        "size_bytes": inventory.usage([environment.path]).size_bytes,
        "built_at": iso_time(built) if built is not None else None,
        "last_used_at": iso_time(environment.last_used),
    }


def build(
    workspace: Workspace, name: str, version: str | None, log: Callable[[str], None]
) -> dict[str, Any]:
    """Build an environment's virtualenv ahead of time, as Azure builds an image, into the
    per-user cache (batchml.envs.cache); an environment already built is reused at once.
    Progress goes to `log`; uv's output to a build log beside the cache."""
    from batchml.envs import cache

    environment = get(workspace, name, version)
    wanted = requirements_of(environment)
    if wanted is None:
        raise UsageError(f"environment {name}:{environment.version} {NOTHING_TO_BUILD}")
    log_file = cache.cache_root() / "logs" / f"{name}-{environment.version}.log"
    built = cache.ensure(wanted, log=log, build_log=log_file)
    return {
        "name": name,
        "version": environment.version,
        "key": built.key,
        "path": str(built.path),
        "python": str(built.python),
        "python_version": built.python_version,
        "reused": built.reused,
        "note": built.note,
        "packages": built.packages(),
    }


def reference(workspace: Workspace, value: str) -> str:
    """How an environment given as a string is recorded. A workspace environment must be
    registered and comes back pinned, `azureml:<name>:<version>`; registry and curated ones
    (Azure's, out of reach) come back as given once their form is checked."""
    ref = _parse(value)
    if ref is None:
        return value
    environment = _registered(workspace, ref, value)
    return f"{refs.PREFIX}{environment.name}:{environment.version}"


def registered(workspace: Workspace, value: str) -> Environment | None:
    """The registered version a workspace reference such as `reference()` returns names; None
    for Azure's registry and curated environments (out of reach)."""
    ref = _parse(value)
    return _registered(workspace, ref, value) if ref is not None else None


# -- helpers ----------------------------------------------------------------------------------


def _versions(workspace: Workspace, name: str) -> list[str]:
    return versioned.versions(workspace, workspace.environment_dir(name), STATE_FILE, KIND)


def _read(workspace: Workspace, name: str, version: str) -> Environment:
    path = workspace.environment_dir(name, version) / STATE_FILE
    return from_state(Environment, workspace.read_state(path, KIND, f"{name}:{version}"))


def _conda(
    workspace: Workspace, spec: specs.Spec, value: str | dict[str, Any] | None
) -> tuple[Path | None, dict[str, Any] | None]:
    """(the local conda file to snapshot, the conda content) of a `conda_file` value."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        return None, _plain(value)
    source = local_path(workspace, value, spec.base_dir, "conda file")
    if not source.is_file():
        message = f"{source} is a folder; give the conda YAML file"
        raise InvalidSpecError([specs.problem(spec, ["conda_file"], message)])
    try:
        # A user's file: read with the limits of a spec (size, aliases, duplicate keys).
        content = yaml_text.parse(yaml_text.read(source), str(source))
    except InvalidSpecError as exc:
        message = "; ".join(str(problem) for problem in exc.problems)
        raise InvalidSpecError([specs.problem(spec, ["conda_file"], message)]) from None
    if not isinstance(content, dict):
        message = f"{source} must hold a conda mapping (name, channels, dependencies)"
        raise InvalidSpecError([specs.problem(spec, ["conda_file"], message)])
    return source, _plain(content)


def _plain(content: dict[str, Any]) -> dict[str, Any]:
    """The conda content as JSON can store it (YAML may type a value as a date)."""
    plain: dict[str, Any] = json.loads(json.dumps(content, default=str))
    return plain


def _build(
    workspace: Workspace, spec: specs.Spec, build: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The build context, its path made absolute; recorded only (batchml builds no images)."""
    if build is None:
        return None
    context = local_path(workspace, build["path"], spec.base_dir, "build context")
    if not context.is_dir():
        message = f"{context} is a file; give the folder of the Docker build context"
        raise InvalidSpecError([specs.problem(spec, ["build", "path"], message)])
    return {**build, "path": str(context)}


def _content(environment: Environment, conda_source: Path | None = None) -> dict[str, Any]:
    """What makes two versions the same: every recorded field but who and when, and the bytes
    of the conda file (of `conda_source` when it is not snapshotted yet)."""
    state = to_state(environment)
    for key in ("created_at", "created_by", "conda_path"):
        state.pop(key)
    conda = conda_source or (Path(environment.conda_path) if environment.conda_path else None)
    state["conda_bytes"] = conda.read_bytes() if conda is not None else None
    return state


def _parse(value: str) -> AssetRef | None:
    """A workspace reference; None for a registry or curated one (checked for form)."""
    if refs.is_registry(value):
        if not _REGISTRY.match(value):
            raise _not_a_reference(value)
        return None
    ref = refs.parse_asset(value)
    arm = value.startswith(f"{refs.PREFIX}/")
    if (
        ref is None
        or not _NAME.match(ref.name)
        or (arm and "/environments/" not in value)
        or (ref.version is not None and not _VERSION.match(ref.version))
        or ref.label == ""
    ):
        raise _not_a_reference(value)
    if ref.version is None and ref.label is None:
        raise UsageError(
            f"environment '{value}' names no version",
            hint=f"use azureml:{ref.name}@latest or azureml:{ref.name}:<version>",
        )
    return None if ref.name.startswith(CURATED_PREFIX) else ref


def _not_a_reference(value: str) -> UsageError:
    return UsageError(f"'{value}' is not an environment reference", hint=f"use {FORMS}")


def _registered(workspace: Workspace, ref: AssetRef, value: str) -> Environment:
    """The registered version `ref` names; NotFoundError naming the reference otherwise."""
    existing = _versions(workspace, ref.name)
    try:
        chosen = versioned.pick(
            existing, ref.version, ref.label, kind=KIND, name=ref.name, workspace=workspace
        )
    except NotFoundError:
        registered = f" (registered: {', '.join(existing)})" if existing else ""
        raise NotFoundError(
            f"environment '{value}' not found in workspace {workspace.root}{registered}",
            hint=f"register it first: {CREATE_HINT}",
        ) from None
    return _read(workspace, ref.name, chosen)
