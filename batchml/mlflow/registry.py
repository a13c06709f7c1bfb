"""One model registry, as in an Azure ML workspace, where a model registered with MLflow is a
workspace model and a workspace model is an MLflow registered model.

batchml's model versions (`<workspace>/models`, batchml.store.assets) are the record; the
MLflow registry in the workspace's tracking store (batchml.core.tracking) mirrors them. Every
MLflow model version that is a batchml version carries the tag `batchml.version` naming it, and
neither side's versions ever change, so there is nothing to drift:

- A model registered through MLflow by a job (`mlflow.register_model(...)`, or
  `log_model(..., registered_model_name=...)`, in a scoring script or a pipeline step) is
  imported when the job's run ends (`import_registered`): its files are copied into the
  workspace as the next batchml version of its name, type mlflow_model, its properties
  `mlflow.model_version` (and `mlflow.run_id`) saying where it came from; then the MLflow
  version is tagged with the batchml version.
- A model created with `batchml model create --type mlflow_model` becomes an MLflow version
  whose source is the workspace's copy of the model, tagged with its batchml version
  (`mirror`, which also registers the versions of that name made while tracking was off).

Version numbers: MLflow numbers a name's versions itself, 1, 2, ..., and cannot be given one;
batchml gives the next number unless `--version` says otherwise. While every version passes
the bridge both count the same versions and agree; where they do not (a version given, one made
while tracking was off and mirrored later), the tag says which is which, and batchml's number is
the one `azureml:NAME:VERSION` means.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.errors import WorkspaceLockedError
from batchml.core.resources import Asset
from batchml.core.tracking import STORE_DIR
from batchml.mlflow import mlmodel
from batchml.mlflow.tracking import TrackingStore, guarded, quiet
from batchml.store import assets as stored
from batchml.store.lock import file_lock
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# The tag on an MLflow model version naming the batchml version it is.
VERSION_TAG = "batchml.version"
# The properties of a batchml version imported from MLflow: the MLflow version, and its run.
MODEL_VERSION = "mlflow.model_version"
RUN_ID = "mlflow.run_id"
# An imported model's folder, under the version's files/ (AZUREML_MODEL_DIR/model).
FOLDER = "model"
KIND = "model"
MLFLOW_MODEL = "mlflow_model"
# How many runs up from a version's run a job's run may be (nested runs in a script).
ANCESTORS = 10


@dataclass(frozen=True)
class Registered:
    """An MLflow model version a job registered, and the batchml version it became."""

    name: str
    mlflow_version: str
    version: str


def import_registered(
    store: TrackingStore,
    workspace: Workspace,
    runs: Sequence[str],
    since: int,
    say: Callable[[str], None],
) -> list[Registered]:
    """Make batchml versions of the MLflow model versions registered since `since` (ms since
    the epoch) that are not batchml's yet: those of runs `runs` (a job's, its steps') or of
    runs nested in them, and those of no run (MLflow 3's `log_model` outside `start_run()`
    registers a version without one). A version that cannot be imported is said to `say` and
    stays MLflow's only."""
    client = store.client
    ours = set(runs)

    def by_the_job(found: Any) -> bool:
        if int(found.creation_timestamp or 0) < since:
            return False
        return not found.run_id or _within(client, str(found.run_id), ours)

    return _import_all(store, workspace, _versions(client), by_the_job, say)


@dataclass(frozen=True)
class Synced:
    """What `sync` did: MLflow versions that became batchml's, batchml versions that became
    MLflow's."""

    imported: list[Registered]
    registered: list[Registered]


def sync(workspace: Workspace, name: str | None, say: Callable[[str], None]) -> Synced:
    """Both registries agree again, for model `name` or every model: each MLflow version that
    is not batchml's becomes the next batchml version of its name (one registered outside any
    job, from a notebook with MLFLOW_TRACKING_URI set to the workspace's store, or one a job's
    runner could not import), and each batchml mlflow_model version MLflow has not got is
    registered there (one made while tracking was off). A version that cannot be imported is
    said to `say`."""
    with quiet():
        store = TrackingStore(workspace.root)
        where = None if name is None else f"name = '{name}'"
        imported = _import_all(store, workspace, _versions(store.client, where), None, say)
        names = [name] if name is not None else stored.names(workspace, KIND)
        registered = [
            Registered(each, mlflow_version, version)
            for each in names
            for version, mlflow_version in _mirror(store.client, workspace, each)
        ]
    return Synced(imported, registered)


def mirror(workspace: Workspace, name: str) -> list[tuple[str, str]]:
    """Register in MLflow's registry each batchml mlflow_model version of `name` that it has
    not got (the one just created, and those made while tracking was off), oldest first, its
    source the workspace's copy; the (batchml, MLflow) version of each. MLflow's own messages
    (creating the store's tables) are kept off the command's stderr."""
    with quiet():
        return _mirror(TrackingStore(workspace.root).client, workspace, name)


def _mirror(client: MlflowClient, workspace: Workspace, name: str) -> list[tuple[str, str]]:
    mlflow_models = [
        (version, asset)
        for version in stored.versions(workspace, KIND, name)
        # An imported version has its MLflow original already.
        if (asset := stored.read(workspace, KIND, name, version)).type == MLFLOW_MODEL
        and MODEL_VERSION not in asset.properties
    ]
    if not mlflow_models:
        return []
    with _registry_lock(workspace):
        _create_registered_model(client, name)
        known = {v.tags.get(VERSION_TAG) for v in _versions(client, f"name = '{name}'")}
        made = []
        for version, asset in mlflow_models:
            if version in known:
                continue
            created = client.create_model_version(
                name,
                source=asset.path,
                tags={**asset.tags, VERSION_TAG: version},
                description=asset.description or None,
            )
            made.append((version, str(created.version)))
    return made


def _import_all(
    store: TrackingStore,
    workspace: Workspace,
    found_versions: Iterable[Any],
    wanted: Callable[[Any], bool] | None,
    say: Callable[[str], None],
) -> list[Registered]:
    """Import each of `found_versions` that is not batchml's yet (and is `wanted`), oldest
    first, so that batchml numbers a name's versions in MLflow's order."""
    imported = []
    for found in sorted(found_versions, key=lambda found: (found.name, int(found.version))):
        if VERSION_TAG in found.tags or (wanted is not None and not wanted(found)):
            continue
        done: Registered | None = guarded(
            say,
            functools.partial(_import, store, workspace, found),
            f"importing MLflow model {found.name} version {found.version} into batchml",
            after="it stays in MLflow's registry only",
        )
        if done is not None:
            imported.append(done)
    return imported


@contextlib.contextmanager
def _registry_lock(workspace: Workspace) -> Iterator[None]:
    """Held while a name's versions pass the bridge: a runner importing what its job
    registered, `model create` or `model sync` at the same time."""

    def locked(waited: float) -> WorkspaceLockedError:
        return WorkspaceLockedError(f"the MLflow registry was locked for {waited:g} s")

    with file_lock(workspace.root / STORE_DIR / ".registry.lock", None, locked):
        yield


def _create_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _versions(client: MlflowClient, where: str | None = None) -> Iterator[Any]:
    """Every MLflow model version (matching `where`), page by page."""
    token = None
    while True:
        page = client.search_model_versions(where, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _within(client: MlflowClient, run_id: str, runs: set[str]) -> bool:
    """Whether run `run_id` is one of `runs` or nested in one."""
    current: str | None = run_id
    for _ in range(ANCESTORS):
        if current is None:
            return False
        if current in runs:
            return True
        current = client.get_run(current).data.tags.get("mlflow.parentRunId")
    return False


def _import(store: TrackingStore, workspace: Workspace, found: Any) -> Registered:
    """One MLflow version as the next batchml version of its name, then tagged with it."""
    name, number = str(found.name), str(found.version)
    with _registry_lock(workspace):
        return _import_locked(store, workspace, found, name, number)


def _import_locked(
    store: TrackingStore, workspace: Workspace, found: Any, name: str, number: str
) -> Registered:
    import mlflow.artifacts

    client = store.client
    version = _imported_before(workspace, name, number)
    if version is None:
        work = workspace.root / STORE_DIR
        with tempfile.TemporaryDirectory(dir=work, prefix=".import-") as temporary:
            (Path(temporary) / "download").mkdir()
            downloaded = mlflow.artifacts.download_artifacts(
                artifact_uri=client.get_model_version_download_uri(name, number),
                dst_path=str(Path(temporary) / "download"),
                tracking_uri=store.uri,
            )
            model = Path(downloaded).rename(Path(temporary) / FOLDER)
            version = _add(workspace, found, model).version
    client.set_model_version_tag(name, number, VERSION_TAG, version)
    return Registered(name, number, version)


def _imported_before(workspace: Workspace, name: str, number: str) -> str | None:
    """The batchml version MLflow version `number` became already (a runner stopped before
    it tagged it), if any."""
    for version in stored.versions(workspace, KIND, name):
        if stored.read(workspace, KIND, name, version).properties.get(MODEL_VERSION) == number:
            return version
    return None


def _add(workspace: Workspace, found: Any, model: Path) -> Asset:
    info = mlmodel.read(model)
    tags = {str(k): str(v) for k, v in (found.tags or {}).items()}
    properties = {MODEL_VERSION: str(found.version)}
    if found.run_id:
        properties[RUN_ID] = str(found.run_id)

    def make(txn: Transaction, folder: Path, version: str) -> Asset:
        return Asset(
            kind=KIND,
            name=str(found.name),
            version=version,
            type=MLFLOW_MODEL,
            path=stored.snapshot_model(txn, model, folder),
            created_at=now_iso(),
            created_by=current_user(),
            description=found.description or "",
            tags=tags,
            properties=properties,
            flavors=info.flavors,
            signature=info.signature,
        )

    return stored.add_version(workspace, KIND, str(found.name), None, make)
