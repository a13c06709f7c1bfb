"""Jobs as MLflow runs, as in an Azure ML workspace: every job (and each pipeline step, as a
child run of its pipeline's) is a run in the workspace's tracking store (batchml.core.tracking),
in the job's experiment, named after the job, its status mirrored, batchml's own counts logged
as metrics. The job's processes get MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and
MLFLOW_EXPERIMENT_NAME, so that the user's `mlflow.start_run()`, `log_metric()` and
`autolog()` land in the job's run.

The store is MLflow's SQLAlchemy store on SQLite: it needs mlflow (or mlflow-skinny) with
SQLAlchemy and Alembic (the `mlflow` extra). Without them, or with BATCHML_TRACKING=off, a job
runs untracked, and says so.
Only a runner imports MLflow, here and in batchml.mlflow.registry (which `model create` of an
MLflow model imports too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchml.core.errors import WorkspaceLockedError
from batchml.core.job_record import JobStatus
from batchml.core.tracking import DATABASE, STORE_DIR, artifact_root, tracking_uri
from batchml.store.lock import file_lock

INSTALL_HINT = "pip install 'batchml[mlflow]'"
# Set to `off` to run jobs untracked (each runner then skips importing MLflow, seconds).
SWITCH = "BATCHML_TRACKING"
# What the store needs: MLflow's client, and SQLAlchemy and Alembic for its SQLite database.
NEEDED = ("mlflow", "sqlalchemy", "alembic")
# How long a runner waits for another to finish creating the store's tables.
CREATE_WAIT = 300.0

# A run's status for each way a job ends (MLflow's RunStatus names).
RUN_STATUS = {
    JobStatus.COMPLETED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.CANCELED: "KILLED",
    JobStatus.NOT_RESPONDING: "FAILED",
}


def unavailable() -> str | None:
    """Why jobs are not tracked here (BATCHML_TRACKING=off, or a package is missing), or None
    when they are."""
    if os.environ.get(SWITCH, "").strip().lower() in ("0", "off", "false", "no"):
        return f"MLflow tracking is off ({SWITCH}={os.environ[SWITCH]})"
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"MLflow tracking is off: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
        f"not installed here ({INSTALL_HINT})"
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow's and Alembic's INFO lines (a new store's "Creating initial MLflow database
    tables...", each migration) kept out of the job's log and the user's terminal."""
    import mlflow  # noqa: F401  (its first import sets its loggers' level: before ours)

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class TrackingStore:
    """A workspace's tracking store, opened by a runner. Opening a new one creates its tables
    (MLflow's migrations, a few seconds), once, under a lock: two runners may start at once."""

    def __init__(self, workspace_root: Path) -> None:
        from mlflow.tracking import MlflowClient

        folder = workspace_root / STORE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(workspace_root)
        self.artifacts = artifact_root(workspace_root)

        def locked(waited: float) -> WorkspaceLockedError:
            return WorkspaceLockedError(
                f"the tracking store {self.uri} was still being created after {waited:g} s"
            )

        with file_lock(folder / ".create.lock", CREATE_WAIT, locked), quiet():
            if not (folder / DATABASE).exists():
                _create(self.uri, self.artifacts)
            self.client = MlflowClient(self.uri)
            self.client.search_experiments(max_results=1)  # creates the tables if need be

    def experiment_id(self, name: str) -> str:
        """The id of experiment `name`, created (artifacts in the store's folder) if need be."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            location = (self.artifacts / name).as_uri()
            return str(self.client.create_experiment(name, artifact_location=location))
        except MlflowException:  # another runner created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def start(
        self,
        experiment: str,
        run_name: str,
        *,
        run_id: str | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> TrackedRun:
        """The job's run: `run_id` again (a resumed job), else a new run in `experiment`,
        a child of run `parent` if given."""
        if run_id is not None:
            run = self.client.get_run(run_id)
            self.client.update_run(run_id, status="RUNNING")
            experiment_id = str(run.info.experiment_id)
        else:
            experiment_id = self.experiment_id(experiment)
            all_tags = {**(tags or {}), **({"mlflow.parentRunId": parent} if parent else {})}
            run = self.client.create_run(experiment_id, run_name=run_name, tags=all_tags)
        return TrackedRun(
            self,
            str(run.info.run_id),
            experiment,
            experiment_id,
            time.time(),
            int(run.info.start_time or 0),
        )


def _create(uri: str, artifacts: Path) -> None:
    """A new store's tables, and its Default experiment (id 0) with its artifacts in the
    workspace: MLflow's client would give it `./mlruns/0` of whatever folder it runs in, where a
    notebook's `mlflow.start_run()` outside any experiment would then write its models."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, artifacts.as_uri()).engine.dispose()


@dataclass
class TrackedRun:
    """A job's run, from its start to end()."""

    store: TrackingStore
    run_id: str
    experiment_name: str
    experiment_id: str
    started: float  # when this runner started it (a resumed run: again), for its duration
    start_time: int  # when the run first started, in ms since the epoch, as MLflow has it

    def variables(self) -> dict[str, str]:
        """What the job's processes get, as Azure gives them."""
        return {
            "MLFLOW_TRACKING_URI": self.store.uri,
            "MLFLOW_RUN_ID": self.run_id,
            "MLFLOW_EXPERIMENT_NAME": self.experiment_name,
            "MLFLOW_EXPERIMENT_ID": self.experiment_id,
        }

    def child(self, run_name: str, tags: Mapping[str, str] | None = None) -> TrackedRun:
        """A new run in the same experiment, a child of this one (a pipeline's step)."""
        return self.store.start(self.experiment_name, run_name, parent=self.run_id, tags=tags)

    def end(self, status: JobStatus, metrics: Mapping[str, float]) -> None:
        """Log `metrics` and the run's duration, and end it as the job ended."""
        from mlflow.entities import Metric

        now = time.time()
        values = {**metrics, "duration_seconds": now - self.started}
        stamp = int(now * 1000)
        batch = [Metric(key, float(value), stamp, 0) for key, value in values.items()]
        self.store.client.log_batch(self.run_id, metrics=batch)
        self.store.client.set_terminated(self.run_id, RUN_STATUS.get(status, "FAILED"))


def guarded(
    say: Callable[[str], None],
    action: Callable[[], Any],
    what: str,
    *,
    after: str = "the job goes on",
) -> Any:
    """`action()`, or None once `say` has heard why it failed and what happens `after`:
    tracking never fails a job (nor the registry bridge a model create)."""
    try:
        return action()
    except Exception as exc:  # MLflow's, SQLite's, a lock's: the job goes on untracked
        say(f"MLflow tracking: {what} failed ({type(exc).__name__}: {exc}); {after}")
        return None
