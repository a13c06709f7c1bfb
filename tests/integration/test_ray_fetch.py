"""Ray actors that fetch their own mini-batches from storage (the `azurite` fixture, the session's
Ray head), on the backend itself: each attempt's files are fetched by a call of their own, and
the backend says when they are local (FilesFetched), which is when the scheduler starts the
attempt's timeout, as it does for local workers (tests/unit/test_scheduler_policy.py pins
that); a file changed in storage since the job listed it fails its attempt, named as the user
named it, and is not cached. Jobs through the CLI: test_remote_failures.py and
test_remote_inputs.py."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import pytest
from conftest import SCRIPTS
from ray_cluster import actors
from test_remote_inputs import files_of, upload
from waiting import wait_for

from batchml.backends.base import FilesFetched, TaskDone, WorkerStarted
from batchml.backends.ray import RayBackend, RayOptions
from batchml.core.batch_job import DataInput
from batchml.runner.inputs import storage_names
from batchml.services import datastores, storage_inputs
from batchml.store import remote
from batchml.store.input_cache import InputCache
from batchml.store.workspace import Workspace
from batchml.worker.messages import MiniBatchTask, ScoringSpec, Status, WorkerConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from batchml.backends.base import BackendEvent

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.azurite,
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("no_actor_left"),
]

GIVEN = "azureml://datastores/blobs/paths/in"


@pytest.fixture
def no_actor_left() -> Iterator[None]:
    yield
    wait_for(lambda: not actors(), lambda: f"the actors to end: {actors()} left")


def test_an_actor_says_when_its_files_are_local_and_fails_a_file_changed_since_listed(
    jobs: Any, azurite: Any, ray_head: Any, tmp_path: Path
) -> None:
    container = upload(jobs, azurite, files_of(["a", "b", "c"]))
    workspace = Workspace(jobs.ws)
    data = storage_inputs.resolve(workspace, GIVEN)
    assert data is not None
    listed = sorted(remote.listing(workspace, data, GIVEN, folder=True))
    paths = [f"{data.root}/{path}" for path, _, _ in listed]
    keys = [key for _, key, _ in listed]
    # in01.txt changes after the job listed it; in00.txt and sub/in02.txt do not.
    _, storage = datastores.filesystem(workspace, "blobs")
    storage.pipe({f"{container}/in/in01.txt": b"changed"})
    node_cache = tmp_path / "node-cache"
    config = WorkerConfig(
        ScoringSpec(SCRIPTS, "paths.py", environment_variables={"BATCHML_CACHE_DIR": str(node_cache)}),
        tmp_path / "out", tmp_path / "logs", None,
        storage=remote.data_access(workspace, data),
        storage_names=storage_names(DataInput("uri_folder", GIVEN, "", data)),
    )  # fmt: skip
    events: list[BackendEvent] = []

    def polled(kind: type, count: int) -> bool:
        events.extend(backend.poll(0.5))
        return sum(isinstance(event, kind) for event in events) >= count

    backend = RayBackend(config, RayOptions(address=ray_head.address))
    try:
        worker = backend.start_worker(0)
        wait_for(lambda: polled(WorkerStarted, 1), lambda: f"the actor to start: {events}")
        # Sent at once: the actor fetches and runs them one after the other.
        for index in range(3):
            backend.submit(worker, MiniBatchTask(index, 1, (paths[index],), (keys[index],)))
        wait_for(lambda: polled(TaskDone, 3), lambda: f"three outcomes: {events}")
    finally:
        backend.shutdown()

    started = events.pop(0)
    assert isinstance(started, WorkerStarted) and started.outcome.succeeded, started
    said = [
        (type(event).__name__, event.outcome.index, event.outcome.status, event.outcome.error)
        if isinstance(event, TaskDone)
        else (type(event).__name__, event.index, event.attempt)
        for event in events
        if isinstance(event, (TaskDone, FilesFetched))
    ]
    changed = f"{GIVEN}/in01.txt changed since the job listed it (a new job scores it as it is now)"
    # Each attempt's files are local before it runs; the changed file's never are.
    assert said == [
        ("FilesFetched", 0, 1),
        ("TaskDone", 0, Status.SUCCEEDED, None),
        ("TaskDone", 1, Status.FAILED, changed),
        ("FilesFetched", 2, 1),
        ("TaskDone", 2, Status.SUCCEEDED, None),
    ]
    cache = InputCache(node_cache / "inputs")
    assert cache.path(keys[0], "in00.txt").is_file()
    # The new bytes are not cached under the key the listing gave the old ones.
    assert not cache.path(keys[1], "in01.txt").parent.exists()
