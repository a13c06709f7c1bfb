"""GPUs on real local workers: each worker process gets one device in CUDA_VISIBLE_DEVICES, in
turn by worker slot, before init(); without devices, or when the deployment sets the variable,
the workers' CUDA_VISIBLE_DEVICES is left alone. The devices are fakes: the job's own
CUDA_VISIBLE_DEVICES, or a fake nvidia-smi."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.conftest import Job, JobsWorkspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60), pytest.mark.usefixtures("no_worker_left")]


def seen(job: Job) -> list[tuple[int, str, str]]:
    """(worker slot, pid, CUDA_VISIBLE_DEVICES or "unset") of each mini-batch, in input order."""
    assert job.result.status == "Completed", job.result.error
    rows = [line.split() for line in job.output_lines()]
    report = {int(row["mini_batch"]): row for row in job.report()}
    assert [report[index]["process"] for index in range(len(rows))] == [
        f"pid {pid}" for _, pid, _ in rows
    ]
    return [
        (int(report[index]["worker"]), pid, device) for index, (_, pid, device) in enumerate(rows)
    ]


def both_workers(tmp_path: Path) -> dict[str, str]:
    """The environment variables with which devices.py's run() waits for both workers."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    return {"BARRIER": str(barrier), "WORKERS": "2"}


def test_each_worker_process_gets_its_own_device_in_turn(
    run: Callable[..., Job], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    job = run(["a", "b"], "devices.py", env=both_workers(tmp_path), workers=2, mini_batch_size=1)

    by_pid: defaultdict[str, set[str]] = defaultdict(set)
    by_slot: defaultdict[int, set[str]] = defaultdict(set)
    for slot, pid, device in seen(job):
        by_pid[pid].add(device)
        by_slot[slot].add(device)
    assert sorted(sorted(devices) for devices in by_pid.values()) == [["3"], ["5"]]
    assert by_slot == {0: {"3"}, 1: {"5"}}


def test_without_devices_workers_have_no_variable_and_nvidia_smi_runs_once(
    run: Callable[..., Job], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = tmp_path / "nvidia-smi-calls.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexit 9\n')
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    job = run(["a", "b"], "devices.py", env=both_workers(tmp_path), workers=2, mini_batch_size=1)

    assert sorted((slot, device) for slot, _, device in seen(job)) == [(0, "unset"), (1, "unset")]
    assert calls.read_text().splitlines() == ["--query-gpu=index --format=csv,noheader"]


def test_the_deployments_own_value_reaches_every_worker_unchanged(
    run: Callable[..., Job], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    env = {**both_workers(tmp_path), "CUDA_VISIBLE_DEVICES": "0,1"}
    job = run(["a", "b"], "devices.py", env=env, workers=2, mini_batch_size=1)

    assert sorted((slot, device) for slot, _, device in seen(job)) == [(0, "0,1"), (1, "0,1")]


def test_the_driver_log_says_which_gpus_the_workers_share(
    jobs: JobsWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    name = jobs.invoke("--input", jobs.inputs(["a", "b"]))
    jobs.wait(name, "Completed")

    driver_log = (jobs.folder(name) / "azureml-logs" / "70_driver_log.txt").read_text()
    lines = [line.split(" ", 2)[2] for line in driver_log.splitlines() if "GPU" in line]
    assert lines == ["GPUs 3, 5: each worker process gets one, in turn, in CUDA_VISIBLE_DEVICES"]
