"""The Ray backend on a real Ray head bound to 127.0.0.1 (one per test session).

The scheduler suite's jobs run on local processes and on Ray actors, from the same inputs, and
must give the same outputs, counts and attempts. Then what only Ray has: addresses, resources,
code and model shipped through the object store. Jobs through the CLI: test_ray_cli.py.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ray_cluster import actors, free_port
from waiting import wait_for

from batchml.backends.ray import RayOptions, factory
from batchml.core.errors import ComputeUnavailableError
from batchml.runner import (
    NO_SUCCEEDED_ITEM,
    JobEvent,
    JobResult,
    RunSettings,
    ScoringSpec,
    run_job,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ray_cluster import RayHead

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("no_worker_left", "no_actor_left"),
]

SCRIPTS = Path(__file__).parent / "scripts"


@pytest.fixture
def no_actor_left() -> Iterator[None]:
    """The test ends with every actor of its jobs gone (Ray ends a killed one within moments)."""
    yield
    wait_for(lambda: not actors(), lambda: f"the actors to end: {actors()} left")


@dataclass
class Ran:
    """A finished job and its folder."""

    result: JobResult
    root: Path

    def output(self) -> list[str]:
        assert self.result.output_file is not None
        return self.result.output_file.read_text().splitlines()

    def written(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted((self.root / "out").iterdir())}

    def report(self) -> list[dict[str, str]]:
        path = self.root / "logs" / "sys" / "job_report" / "processed_mini-batches.csv"
        with open(path, newline="") as report:
            return list(csv.DictReader(report))

    def attempts(self) -> list[tuple[str, str, str, str]]:
        rows = self.report()
        return sorted((r["mini_batch"], r["attempt"], r["result"], r["error"]) for r in rows)


@pytest.fixture
def run_on(tmp_path: Path, ray_head: RayHead) -> Callable[..., Ran]:
    """run_on(backend, contents, script="behave.py", env=..., options=..., cancel=...,
    on_event=..., workers=..., **settings): a job of one file per entry of `contents` (behave.py
    acts on it) on "local" or "ray" (default: the session's head), with `workers` workers.
    "{root}" in env values is the job's folder."""

    def run_(
        backend: str,
        contents: list[str],
        script: str = "behave.py",
        *,
        code_dir: Path = SCRIPTS,
        env: dict[str, str] | None = None,
        model_dir: Path | None = None,
        options: RayOptions | None = None,
        workers: int = 1,
        **settings: Any,
    ) -> Ran:
        root = tmp_path / backend
        (root / "inputs").mkdir(parents=True)
        inputs = []
        for index, content in enumerate(contents):
            path = root / "inputs" / f"f{index:03d}.txt"
            path.write_text(content)
            inputs.append(path)
        env = {k: v.replace("{root}", str(root)) for k, v in (env or {}).items()}
        cancel = settings.pop("cancel", None)
        on_event = settings.pop("on_event", None)
        result = run_job(
            inputs,
            ScoringSpec(code_dir, script, model_dir, env),
            RunSettings(max_concurrency_per_instance=workers, **settings),
            output_dir=root / "out",
            logs_dir=root / "logs",
            on_event=on_event,
            cancel=cancel,
            backend=None
            if backend == "local"
            else factory(options or RayOptions(address=ray_head.address)),
        )
        return Ran(result, root)

    return run_


@pytest.fixture
def both(run_on: Callable[..., Ran]) -> Callable[..., tuple[Ran, Ran]]:
    """both(contents, ...) -> (local, ray): the same job on each backend."""
    return lambda *args, **kwargs: (
        run_on("local", *args, **kwargs),
        run_on("ray", *args, **kwargs),
    )


def assert_same(local: Ran, ray: Ran) -> None:
    assert ray.result.status == local.result.status
    assert ray.result.error == local.result.error
    assert ray.result.counts == local.result.counts
    assert ray.written() == local.written()


# -- the local suite's jobs, on both backends ------------------------------------------------
def test_a_clean_run_gives_the_same_output(both):
    # Mini-batch 0 is the slowest; "big" rows are past the inline limit of local workers.
    contents = ["sleep 0.5", "ok", "big", "ok", "ok", "sleep 0.1", "ok"]
    local, ray = both(contents, mini_batch_size=2, workers=2)

    assert ray.result.status == "Completed"
    assert_same(local, ray)
    assert ray.output()[2] == "f002.txt " + "x" * 300_000
    assert ray.attempts() == local.attempts()
    assert {r["process"].split()[0] for r in ray.report()} == {"actor"}
    # Azure's layout, with the node's address as the node name.
    stdout = ray.root / "logs" / "user" / "stdout" / "127.0.0.1"
    printed = "".join(path.read_text() for path in sorted(stdout.glob("process*.stdout.txt")))
    assert sorted(re.findall(r"^scoring (\S+)$", printed, re.M)) == [
        f"f{i:03d}.txt" for i in range(7)
    ]


def test_a_raising_script_is_retried_then_its_files_fail(both):
    local, ray = both(["ok", "raise", "ok", "raise"], mini_batch_size=1, workers=2, max_retries=1)

    assert ray.result.status == "Completed"
    assert ray.result.counts.files_failed == 2
    assert_same(local, ray)
    assert ray.attempts() == local.attempts()


def test_a_run_past_the_timeout_kills_the_actor_and_a_new_one_runs_init(both):
    local, ray = both(
        ["ok", "hang-once", "ok"],
        env={"INIT_LOG": "{root}/init.log"},
        mini_batch_size=1,
        workers=1,
        timeout=1,
        max_retries=1,
    )

    assert ray.result.status == "Completed"
    assert_same(local, ray)
    assert ray.attempts() == local.attempts()
    assert ("1", "1", "failed", "run() exceeded the timeout of 1 s") in ray.attempts()
    pids = (ray.root / "init.log").read_text().split()
    assert len(pids) == 2 and pids[0] != pids[1]


def test_a_dead_actor_is_replaced_and_its_mini_batch_retried(both):
    local, ray = both(["exit-once", "ok", "ok"], mini_batch_size=1, workers=1)

    assert ray.result.status == "Completed"
    assert_same(local, ray)
    first = ray.attempts()[0]
    assert first[:3] == ("0", "1", "failed")
    assert re.fullmatch(r"worker 0 died \(Ray actor died: .+\) while running run\(\)", first[3])
    assert [row[:3] for row in ray.attempts()] == [row[:3] for row in local.attempts()]


def test_actors_that_always_die_fail_the_job(both):
    local, ray = both(["kill", "kill"], mini_batch_size=1, workers=2, max_retries=1)

    assert (ray.result.status, local.result.status) == ("Failed", "Failed")
    assert ray.result.error is not None
    assert ray.result.error.startswith(f"{NO_SUCCEEDED_ITEM} (first error: mini-batch ")
    assert ray.result.counts == local.result.counts
    assert ray.written() == local.written() == {}


@pytest.mark.parametrize(("threshold", "status"), [(1, "Failed"), (2, "Completed")])
def test_the_error_threshold_ends_the_job_the_same_way(both, threshold, status):
    contents = ["ok", "raise", "ok", "raise", "ok"]
    local, ray = both(
        contents, mini_batch_size=1, workers=1, max_retries=0, error_threshold=threshold
    )

    assert ray.result.status == status
    if status == "Completed":
        assert_same(local, ray)
        return
    # Stopping is a race on both backends: a mini-batch already handed to the worker ahead of
    # time may finish before the stop reaches it (and Ray may report it first), so only the
    # failure side is pinned.
    assert ray.result.error == local.result.error == "error_threshold exceeded: 2 failed files > 1"
    assert ray.result.counts.files_failed == local.result.counts.files_failed == 2
    for ran in (local, ray):
        lines = ran.written()["predictions.csv"].splitlines()
        assert lines in (
            ["f000.txt ok", "f002.txt ok"],
            ["f000.txt ok", "f002.txt ok", "f004.txt ok"],
        )


def test_summary_only_writes_the_same_files(both):
    local, ray = both(["a", "b", "c"], "summary.py", output_action="summary_only", workers=2)

    assert ray.result.status == "Completed"
    assert ray.result.output_file is None
    assert ray.written() == {"f000.out": "A", "f001.out": "B", "f002.out": "C"}
    assert_same(local, ray)


def test_an_actor_exits_cleanly_running_the_scripts_atexit_handlers(run_on):
    ray = run_on("ray", ["a", "b"], "keeps_open.py", output_action="summary_only", workers=1)

    assert ray.result.status == "Completed"
    written = ray.written()
    assert [text for name, text in written.items() if name.startswith("rows-")] == [
        "f000.txt\nf001.txt\n"
    ]
    assert [text for name, text in written.items() if name.startswith("atexit-")] == ["ran"]


def test_an_init_failure_fails_the_job_with_the_same_error(both):
    both_ = local, ray = both(["ok"] * 3, env={"INIT_FAIL": "/x/model.pkl"}, mini_batch_size=1)

    assert ray.result.status == "Failed"
    assert ray.result.error == local.result.error
    assert (
        ray.result.error
        == "init() failed in worker 0: ValueError: model file not found: /x/model.pkl"
    )
    assert "behave.py" in (ray.result.error_detail or "")
    # The failure records name the job's code folder, not the actor's unpacked copy of it.
    first = [(ran.root / "logs" / "failures.jsonl").read_text().splitlines()[0] for ran in both_]
    where = [json.loads(line)["where"] for line in first]
    assert where[0] == where[1]
    assert where[1].startswith(f"{SCRIPTS.absolute()}/behave.py:")


# -- what only Ray has ----------------------------------------------------------------------------
SHIPPED = """\
import glob, os

def init():
    global weights
    weights = open(glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "*", "w.txt"))[0]).read()

def run(mini_batch):
    import ray
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    here = os.getcwd()
    return [f"{os.path.basename(p)} {weights} {here == ORIGINAL} {cpus}" for p in mini_batch]
"""


RESOURCES = """\
import os, ray

def init():
    pass

def run(mini_batch):
    resources = ray.get_runtime_context().get_assigned_resources()
    return [f"{os.path.basename(p)} {resources}" for p in mini_batch]
"""


def test_code_and_model_reach_actors_through_the_object_store(run_on, tmp_path):
    code, model = tmp_path / "code", tmp_path / "model" / "my-model"
    code.mkdir()
    (code / "score.py").write_text(f"ORIGINAL = {str(code)!r}\n" + SHIPPED)
    model.mkdir(parents=True)
    (model / "w.txt").write_text("w=7")
    ray = run_on(
        "ray", ["x", "y"], "score.py", code_dir=code, model_dir=model.parent, mini_batch_size=1
    )

    assert ray.result.status == "Completed", ray.result.error
    # The actor runs an unpacked copy of the code, not the folder itself, and has the model.
    assert ray.output() == ["f000.txt w=7 False 1.0", "f001.txt w=7 False 1.0"]


def test_worker_resources_become_the_actors_num_cpus(run_on, ray_head, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(RESOURCES)
    options = RayOptions(address=ray_head.address, worker_num_cpus=0.5)
    ray = run_on("ray", ["x"], "score.py", code_dir=code, options=options)

    assert ray.result.status == "Completed", ray.result.error
    assert ray.output() == ["f000.txt {'CPU': 0.5}"]


def test_a_worker_no_node_can_hold_is_refused_before_the_job_starts(run_on, ray_head, tmp_path):
    options = RayOptions(address=ray_head.address, worker_num_gpus=1)
    with pytest.raises(ComputeUnavailableError) as raised:
        run_on("ray", ["ok"], options=options)

    assert raised.value.message == (
        f"no node of the Ray cluster at {ray_head.address} has 1 CPU, 1 GPU for a worker "
        "(its nodes have: 2 CPU, 0 GPU)"
    )


@pytest.mark.parametrize("address", ["client", "auto"])
def test_the_ray_client_and_auto_addresses_run_jobs(run_on, ray_head, monkeypatch, address):
    if address == "auto":
        monkeypatch.setenv("RAY_ADDRESS", ray_head.address)
    options = RayOptions(address=ray_head.client if address == "client" else "auto")
    ray = run_on("ray", ["ok", "raise", "big"], options=options, mini_batch_size=1, max_retries=0)

    assert ray.result.status == "Completed"
    assert ray.output() == ["f000.txt ok", "f002.txt " + "x" * 300_000]


def test_an_unreachable_address_is_a_clear_error_at_once(run_on):
    port = free_port()
    # The message is that of the probe before ray.init, which would retry for half a minute.
    with pytest.raises(
        ComputeUnavailableError, match=rf"no Ray cluster at ray://127.0.0.1:{port}: cannot connect"
    ):
        run_on("ray", ["ok"], options=RayOptions(address=f"ray://127.0.0.1:{port}"))


# Hung runs that were not stopped would hold the job for a minute, past this deadline.
@pytest.mark.timeout(45)
def test_cancel_kills_busy_actors_and_publishes_nothing(run_on):
    cancel = threading.Event()

    def cancel_once_one_hangs(event: JobEvent) -> None:
        # Either hanging mini-batch may start first: 2 may wait behind 1 on the same actor.
        if event.kind == "mini_batch_started" and event.mini_batch in (1, 2):
            cancel.set()

    ray = run_on(
        "ray",
        ["ok", "hang", "hang"],
        mini_batch_size=1,
        workers=2,
        cancel=cancel,
        on_event=cancel_once_one_hangs,
    )

    assert ray.result.status == "Canceled"
    assert ray.written() == {}
