"""The workspace folder: its layout, format version, state files and write transactions.

Layout (every JSON file carries `__meta__.format_version`):

    <root>/workspace.json                              the workspace itself
    <root>/computes/<name>.json
    <root>/models/<name>/<version>/model.json          + files/<original name>  (a snapshot)
    <root>/data/<name>/<version>/data.json
    <root>/environments/<name>/<version>/environment.json  + conda/<conda file>  (a snapshot)
    <root>/components/<name>/<version>/component.json  + code/  (a snapshot)
    <root>/endpoints/<name>/endpoint.json
    <root>/endpoints/<name>/deployments/<dep>/deployment.json  + code/, model/, environment/
    <root>/datastores/workspaceblobstore/               the default datastore (a plain folder)
    <root>/datastores/<name>.json                       a registered (Azure storage) datastore
    <root>/secrets/datastores/<name>.json               its credentials (0600, folders 0700)
    <root>/jobs/<job name>/                             kept when endpoints are deleted
    <root>/.lock, <root>/.lock.holder                   the write lock and who holds it
    <root>/.transaction                                 the undo log of the command holding it
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.errors import CorruptStateError, NotFoundError, WorkspaceVersionError
from batchml.core.names import check
from batchml.store.fs import read_json, write_json
from batchml.store.lock import workspace_lock

if TYPE_CHECKING:
    from batchml.store.transaction import Transaction

FORMAT_VERSION = 1
DEFAULT_DATASTORE = "workspaceblobstore"
META = "__meta__"
TRANSACTION_LOG = ".transaction"
_ASSET_FOLDERS = {
    "model": "models",
    "data": "data",
    "environment": "environments",
    "component": "components",
}


class Workspace:
    """A workspace folder on disk. Nothing is created until the first write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def name(self) -> str:
        name = self.root.name if self.root.name != ".batchml" else self.root.parent.name
        return name.lstrip(".") or "workspace"

    def exists(self) -> bool:
        return (self.root / "workspace.json").is_file()

    # -- layout ---------------------------------------------------------------------------
    # Every name is checked against Azure's rule for its kind before it becomes a path, so
    # no name can point outside the workspace (batchml.core.names).
    def compute_file(self, name: str) -> Path:
        return self.root / "computes" / f"{check('compute', name)}.json"

    def assets_dir(self, kind: str) -> Path:
        """The folder of every version of every asset of `kind` (model, data, ...)."""
        return self.root / _ASSET_FOLDERS[kind]

    def _versioned(self, kind: str, name: str, version: str | None) -> Path:
        base = self.assets_dir(kind) / check(kind, name)
        return base / check("version", version) if version is not None else base

    def model_dir(self, name: str, version: str | None = None) -> Path:
        return self._versioned("model", name, version)

    def data_dir(self, name: str, version: str | None = None) -> Path:
        return self._versioned("data", name, version)

    def environment_dir(self, name: str, version: str | None = None) -> Path:
        return self._versioned("environment", name, version)

    def component_dir(self, name: str, version: str | None = None) -> Path:
        return self._versioned("component", name, version)

    def endpoint_dir(self, name: str) -> Path:
        return self.root / "endpoints" / check("endpoint", name)

    def deployment_dir(self, endpoint: str, name: str) -> Path:
        return self.endpoint_dir(endpoint) / "deployments" / check("deployment", name)

    def datastore_dir(self, name: str) -> Path:
        return self.root / "datastores" / check("datastore", name)

    def datastore_file(self, name: str) -> Path:
        """The record of a registered datastore (Azure storage; its secrets are apart)."""
        return self.root / "datastores" / f"{check('datastore', name)}.json"

    def secrets_dir(self) -> Path:
        """Where secrets live: owner-only (0700), files 0600; nothing else keeps a secret."""
        return self.root / "secrets"

    def datastore_secret_file(self, name: str) -> Path:
        return self.secrets_dir() / "datastores" / f"{check('datastore', name)}.json"

    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def job_dir(self, name: str) -> Path:
        return self.jobs_dir() / check("job", name)

    # -- state files ------------------------------------------------------------------------
    def read_state(self, path: Path, kind: str, name: str) -> dict[str, Any]:
        """Read a state file, refusing formats newer than this batchml understands."""
        try:
            document = read_json(path)
        except FileNotFoundError:
            raise NotFoundError(f"{kind} '{name}' not found in workspace {self.root}") from None
        except (ValueError, OSError) as exc:  # ValueError: not JSON, or not UTF-8
            raise CorruptStateError(path, str(exc)) from None
        meta = document.get(META, {}) if isinstance(document, dict) else None
        version = meta.get("format_version", 0) if isinstance(meta, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptStateError(path, "it is not a batchml state document")
        if version > FORMAT_VERSION:
            raise WorkspaceVersionError(
                f"{path} has format version {version}; this batchml reads up to {FORMAT_VERSION}",
                hint="upgrade batchml (pip install -U batchml)",
            )
        return {k: v for k, v in document.items() if k != META}

    @staticmethod
    def stamp(kind: str, state: dict[str, Any]) -> dict[str, Any]:
        """The document to store: `state` plus its format version."""
        return {META: {"format_version": FORMAT_VERSION, "kind": kind}, **state}

    def check_format(self) -> None:
        if self.exists():
            self.read_state(self.root / "workspace.json", "workspace", self.name)

    def info(self) -> dict[str, Any]:
        if not self.exists():
            return {"name": self.name, "path": str(self.root), "exists": False}
        return self.read_state(self.root / "workspace.json", "workspace", self.name)

    def defaults(self) -> dict[str, Any]:
        """The workspace's own defaults (`batchml workspace update --set KEY=VALUE`)."""
        defaults = self.info().get("defaults") if self.exists() else None
        return defaults if isinstance(defaults, dict) else {}

    # -- writes -----------------------------------------------------------------------------
    def _initialise(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.datastore_dir(DEFAULT_DATASTORE).mkdir(parents=True, exist_ok=True)
        if not self.exists():
            write_json(
                self.root / "workspace.json",
                self.stamp("workspace", {"name": self.name, "created_at": now_iso()}),
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Lock the workspace and record every write; on any error undo them all.

        A workspace that this command creates and whose first command fails is removed again.
        """
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with self._locked() as txn:
                yield txn
        except BaseException:
            if created:
                shutil.rmtree(self.root, ignore_errors=True)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Transaction]:
        # Here, not at the top: commands that only read (show, list) need no undo log.
        from batchml.store.transaction import Transaction

        with workspace_lock(self.root):
            # A command killed while it held the lock left its undo log: undo it first.
            Transaction.recover(self.root / TRANSACTION_LOG, self.root.absolute())
            self.check_format()
            self._initialise()
            txn = Transaction(self.root / TRANSACTION_LOG)
            try:
                yield txn
            except BaseException:
                txn.rollback()
                raise
            txn.commit()


def now_iso() -> str:
    """The current UTC time as Azure prints it (ISO-8601 with a Z)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_time(timestamp: float) -> str:
    """A POSIX timestamp (a file's mtime) in now_iso()'s form."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def current_user() -> str:
    """Who creates a record (its created_by)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
