"""The Ray backend: each worker is a Ray actor, so a job's mini-batches run on a Ray cluster.

The scheduler's policy is unchanged; this module only starts actors, hands them mini-batches
and reports what happened. What reaches the actors through Ray: batchml itself (the job's
runtime_env py_modules, when this process opens the connection), the job's requirements (the
actors' runtime_env, built on each node by Ray: see ray_env), the deployment's code and model
(zip bytes in the object store, unpacked by each actor), the mini-batches and outcomes.
Inputs in storage, whole files or row ranges of a table, each actor fetches itself into its
node's input cache; local inputs, outputs and the job's logs are paths, so they must be on a
path every node sees.

Ray cannot interrupt a running actor call: a mini-batch past its timeout is ended by killing
the actor (ray.kill), and the scheduler starts a new one, which runs init() again. An actor
that dies is reported lost, so its mini-batch is retried on a replacement.

`ray` is imported only when a Ray job runs or a Ray compute is checked (the `ray` extra).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import batchml
from batchml.backends.base import (
    BackendEvent,
    FilesFetched,
    TaskDone,
    WorkerLost,
    WorkerStarted,
)
from batchml.backends.ray_actor import Fetched, ScoringActor, pack
from batchml.backends.ray_env import python_note, runtime_env, setup_failure, uv_takes_options
from batchml.core.errors import ComputeUnavailableError
from batchml.worker.messages import StartOutcome, Status

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import ModuleType

    from batchml.backends.base import BackendFactory
    from batchml.envs.requirements import Requirements
    from batchml.worker.messages import MiniBatchTask, WorkerConfig

# How long a TCP connection to the cluster may take before it counts as unreachable.
CONNECT_TIMEOUT_SECONDS = 5.0
# How long shutdown() lets idle actors exit cleanly (atexit handlers) before killing them.
CLOSE_GRACE_SECONDS = 5.0
# ray.wait cannot also wait for wake(): poll() waits in slices this long, looking in between.
_WAKE_SLICE_SECONDS = 0.01
# The port of `ray://HOST` without one: the Ray Client server's default.
RAY_CLIENT_PORT = 10001
INSTALL_HINT = "install Ray with: pip install 'batchml[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """Where a job's actors run and what each one reserves.

    address: `auto` (RAY_ADDRESS, else the cluster started on this machine by `ray start`),
    `local` (a Ray instance this process starts, bound to 127.0.0.1, stopped with the job),
    `ray://HOST[:PORT]` (the Ray Client server) or `HOST:PORT` (the cluster's GCS).
    num_cpus is the size of a `local` instance (default: every CPU of this machine).
    worker_num_cpus and worker_num_gpus are each actor's num_cpus and num_gpus.
    requirements are the job's environment, installed by Ray on each node the actors run on
    (None: the nodes' own packages); install_options are the `uv pip install` options saying
    where packages come from (ray_env.install_options_from_env gives this machine's).
    """

    address: str = "auto"
    num_cpus: int | None = None
    worker_num_cpus: float = 1.0
    worker_num_gpus: float = 0.0
    requirements: Requirements | None = None
    install_options: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RayOptions:
        """The options recorded in a job (see batchml.services.computes.backend_record)."""
        resources = record.get("worker_resources", {})
        return cls(
            address=record["address"],
            num_cpus=record.get("num_cpus"),
            worker_num_cpus=float(resources.get("num_cpus", 1)),
            worker_num_gpus=float(resources.get("num_gpus", 0)),
        )


def factory(options: RayOptions, *, log: Callable[[str], None] | None = None) -> BackendFactory:
    """The backend argument of run_job for a job on Ray. `log` hears what the job should say:
    that the Python its requirements ask for is not the cluster's."""

    def build(config: WorkerConfig) -> RayBackend:
        return RayBackend(config, options, log=log)

    return build


def import_ray(address: str) -> ModuleType:
    """Import ray, or say how to install it."""
    if address == "local":
        # A Ray instance of our own listens on 127.0.0.1 only, as Ray does on macOS and
        # Windows. Read when ray is imported, so it only applies if that happens now.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ComputeUnavailableError(
            f"a ray compute needs Ray, which is not installed here ({exc})", hint=INSTALL_HINT
        ) from None
    return ray


def check(address: str) -> None:
    """Fail now, with a clear message, if a job could not reach the cluster at `address`.

    Without ray installed, or with nothing listening at the address, raise
    ComputeUnavailableError. Ray itself would retry a dead address for half a minute.
    """
    if importlib.util.find_spec("ray") is None:
        raise ComputeUnavailableError(
            "a ray compute needs Ray, which is not installed here", hint=INSTALL_HINT
        )
    if address == "local":
        return
    shown = address
    if address == "auto":
        resolved = _auto_address()
        if resolved is None:
            return
        shown, address = f"auto ({resolved})", resolved
    endpoint = _host_port(address)
    if endpoint is None:
        return  # not an address we can probe (RAY_ADDRESS may hold anything): Ray will tell
    host, port = endpoint
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise ComputeUnavailableError(
            f"no Ray cluster at {shown}: cannot connect to {host}:{port} ({exc.strerror or exc})",
            hint="start one with `ray start --head`, or use a compute with --address local",
        ) from None


def _host_port(address: str) -> tuple[str, int] | None:
    if address.startswith("ray://"):
        host, _, port = address[len("ray://") :].partition(":")
        port = port or str(RAY_CLIENT_PORT)
    else:
        host, _, port = address.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def _auto_address() -> str | None:
    """The address `ray.init(address="auto")` connects to, or None if Ray cannot tell us."""
    explicit = os.environ.get("RAY_ADDRESS")
    if explicit:
        return explicit
    ray = import_ray("auto")
    try:
        # Ray's own lookup: the cluster `ray start` last recorded, else a running GCS.
        found: str = ray._private.services.canonicalize_bootstrap_address_or_die("auto")
    except ConnectionError as exc:
        raise ComputeUnavailableError(
            f"no Ray cluster found for address auto: {exc}",
            hint="start one with `ray start --head`, set RAY_ADDRESS, or use --address local",
        ) from None
    except (AttributeError, ImportError):
        return None  # another Ray version: the job's own connection will tell
    return found


@dataclass
class _Actor:
    handle: Any
    label: str
    started: bool = False
    # The calls made and not yet reported on, oldest first: an actor runs them in order.
    calls: deque[Any] = field(default_factory=deque)


class RayBackend:
    """Runs each worker as an actor of a Ray cluster; see the module's docstring."""

    def __init__(
        self,
        config: WorkerConfig,
        options: RayOptions,
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._options = options
        ray = import_ray(options.address)
        self._ray = ray
        self._exceptions = ray.exceptions
        self._owns_connection = not ray.is_initialized()
        self._workers: dict[int, _Actor] = {}
        # Every call not reported on: ref -> (worker, sequence number).
        self._calls: dict[Any, tuple[int, int]] = {}
        self._woken = threading.Event()
        # Actors asked to exit cleanly, by the ref of their close() call.
        self._closing: dict[Any, Any] = {}
        self._next_id = 0
        self._sequence = 0
        self._closed = False
        if self._owns_connection:
            self._connect()
        try:
            self._check_resources()
            environment = self._environment(log)
            scoring = config.scoring
            code = ray.put(pack(scoring.code_dir))
            model = ray.put(pack(scoring.model_dir)) if scoring.model_dir is not None else None
        except BaseException:
            self.shutdown()
            raise
        self._bundle = (code, model)
        self._config = config
        # config.python is ignored: actors run in the Python of the cluster's Ray workers.
        self._actor_class = ray.remote(ScoringActor).options(
            num_cpus=options.worker_num_cpus,
            num_gpus=options.worker_num_gpus,
            # Replacing a dead actor, and retrying its mini-batch, is the scheduler's call.
            max_restarts=0,
            max_task_retries=0,
            **({"runtime_env": environment} if environment is not None else {}),
        )

    def _connect(self) -> None:
        options = self._options
        check(options.address)
        kwargs: dict[str, Any] = {
            "address": options.address,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            # Actors import batchml from the job, so nodes need not have it installed.
            "runtime_env": {"py_modules": [str(Path(batchml.__file__).parent)]},
        }
        if options.address == "local":
            kwargs.update(num_cpus=options.num_cpus, include_dashboard=False)
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
        try:
            init_with_retries(self._ray, kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ComputeUnavailableError(
                f"could not connect to the Ray cluster at {options.address}: {exc}"
            ) from None
        finally:
            # ray.init makes SIGTERM exit the process; the job's runner cancels on SIGTERM.
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)

    def _environment(self, log: Callable[[str], None] | None) -> dict[str, Any] | None:
        """The actors' runtime_env for the job's requirements, if any."""
        requirements = self._options.requirements
        if requirements is None:
            return None
        # Ray refuses a driver whose Python X.Y is not the cluster's: this one stands for it.
        note = python_note(requirements.python, platform.python_version())
        if note is not None and log is not None:
            log(note)
        options = self._options.install_options
        return runtime_env(requirements, options, uv=uv_takes_options(self._ray))

    def _check_resources(self) -> None:
        wanted = {"CPU": self._options.worker_num_cpus, "GPU": self._options.worker_num_gpus}
        wanted = {name: amount for name, amount in wanted.items() if amount > 0}
        nodes = [node["Resources"] for node in self._ray.nodes() if node.get("Alive")]
        if not any(all(node.get(k, 0) >= v for k, v in wanted.items()) for node in nodes):
            asked = ", ".join(f"{amount:g} {name}" for name, amount in wanted.items())
            offered = "; ".join(
                ", ".join(f"{node.get(k, 0):g} {k}" for k in wanted) for node in nodes
            )
            raise ComputeUnavailableError(
                f"no node of the Ray cluster at {self._options.address} has {asked} for a "
                f"worker (its nodes have: {offered or 'none'})",
                hint="lower resources.properties num_cpus/num_gpus in the deployment",
            )

    def start_worker(self, slot: int) -> int:
        """Create an actor for `slot`; WorkerStarted follows once it ran init()."""
        handle = self._actor_class.remote(self._config, slot)
        worker = self._next_id
        self._next_id += 1
        self._workers[worker] = _Actor(handle, f"actor {handle._actor_id.hex()}")
        self._call(worker, handle.start.remote(*self._bundle))
        return worker

    def describe(self, worker: int) -> str:
        """The worker's Ray actor id."""
        return self._workers[worker].label

    def submit(self, worker: int, task: MiniBatchTask) -> None:
        """Call the actor's score(); it runs its calls one at a time, in order. An attempt on
        files in storage is fetched by a call of its own first: FilesFetched follows it."""
        handle = self._workers[worker].handle
        if task.keys:
            self._call(worker, handle.fetch.remote(task))
        self._call(worker, handle.score.remote(task))

    def take_back(self, worker: int, attempts: tuple[tuple[int, int], ...]) -> bool:
        """Gives none back (False): an actor runs every call made to it."""
        return False

    def _call(self, worker: int, ref: Any) -> None:
        self._workers[worker].calls.append(ref)
        self._calls[ref] = (worker, self._sequence)
        self._sequence += 1

    def poll(self, timeout: float) -> list[BackendEvent]:
        """Wait up to `timeout` seconds for calls to return or actors to die, or for wake()."""
        deadline = time.monotonic() + timeout
        refs = list(self._calls)
        while True:
            left = max(0.0, deadline - time.monotonic())
            if not refs:
                self._woken.wait(left)
            elif self._ray.wait(refs, num_returns=1, timeout=min(left, _WAKE_SLICE_SECONDS))[0]:
                break
            if self._woken.is_set() or not left:
                self._woken.clear()
                return []
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        events: list[BackendEvent] = []
        for ref in sorted(ready, key=lambda ref: self._calls[ref][1]):
            # A worker lost or stopped earlier in this loop took its calls with it.
            if ref in self._calls:
                event = self._collect(self._calls.pop(ref)[0], ref)
                if event is not None:
                    events.append(event)
        return events

    def wake(self) -> None:
        """End the poll() under way, or the next one, within _WAKE_SLICE_SECONDS."""
        self._woken.set()

    def _collect(self, worker: int, ref: Any) -> BackendEvent | None:
        """What the call `ref` of `worker` gave; None for a fetch that failed, which the
        score() call after it reports."""
        state = self._workers[worker]
        state.calls.remove(ref)
        try:
            outcome = self._ray.get(ref)
        except self._exceptions.RayActorError as exc:
            self._forget(worker)
            return WorkerLost(worker, _death_reason(exc))
        except self._exceptions.RuntimeEnvSetupError as exc:
            # Ray tried already, and another actor would fail the same: the job fails now.
            self._forget(worker)
            self._ray.kill(state.handle, no_restart=True)
            error = setup_failure(self._options.requirements, str(exc))
            return WorkerStarted(worker, StartOutcome(Status.FAILED, error, str(exc)))
        except self._exceptions.RayError as exc:
            # The actor could not be created (unschedulable, say) or a call of ours failed.
            self._forget(worker)
            self._ray.kill(state.handle, no_restart=True)
            return WorkerLost(worker, f"Ray error: {_first_line(exc)}")
        if isinstance(outcome, Fetched):
            return FilesFetched(worker, outcome.index, outcome.attempt) if outcome.local else None
        if isinstance(outcome, StartOutcome):
            state.started = outcome.succeeded
            if not outcome.succeeded:
                self.stop_worker(worker)
            return WorkerStarted(worker, outcome)
        return TaskDone(worker, outcome)

    def _forget(self, worker: int) -> _Actor:
        state = self._workers.pop(worker)
        for ref in state.calls:
            self._calls.pop(ref, None)
        return state

    def stop_worker(self, worker: int) -> None:
        """Stop an actor: an idle one exits cleanly, a busy one is killed at once (Ray cannot
        interrupt a running call)."""
        if worker not in self._workers:
            return
        state = self._forget(worker)
        if state.started and not state.calls:
            self._closing[state.handle.close.remote()] = state.handle
        else:
            self._ray.kill(state.handle, no_restart=True)

    def shutdown(self) -> None:
        """Stop every actor, give idle ones a moment to exit, and close the connection."""
        if self._closed:
            return
        self._closed = True
        for worker in list(self._workers):
            self.stop_worker(worker)
        if self._closing:
            refs = list(self._closing)
            self._ray.wait(refs, num_returns=len(refs), timeout=CLOSE_GRACE_SECONDS)
            for handle in self._closing.values():
                self._ray.kill(handle, no_restart=True)
            self._closing.clear()
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _death_reason(exc: BaseException) -> str:
    """Ray's cause of an actor's death, shortened: "Ray actor died: <exit detail>"."""
    text = str(exc)
    if "killed by `ray.kill`" in text:
        return "killed by ray.kill"
    detail = text.partition("Worker exit detail: ")[2]
    if detail:
        return "Ray actor died: " + detail.split(". ")[0].strip().rstrip(".")
    return f"Ray actor died: {_first_line(exc)}"


# A Ray Client server starts a server process per driver, and a loaded head may fail to (its
# runtime-env agent answers late): "Starting Ray client server failed". Worth a few tries.
_CLIENT_START_FAILED = "Starting Ray client server failed"
CONNECT_ATTEMPTS = 3


def init_with_retries(ray: Any, kwargs: dict[str, Any], *, pause: float = 1.0) -> None:
    """`ray.init(**kwargs)`, tried again (after `pause`, then twice that) when a Ray Client
    server failed to start the server of this driver; other errors are raised at once."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            ray.init(**kwargs)
            return
        except RuntimeError as exc:
            if _CLIENT_START_FAILED not in str(exc) or attempt == CONNECT_ATTEMPTS:
                raise
        # A failed client connection leaves Ray's client mode half set up.
        ray.shutdown()
        time.sleep(pause * attempt)
