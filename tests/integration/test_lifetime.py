"""The runner owns its process tree: what its children leave behind ends with it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from waiting import wait_for

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

OWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from batchml.worker.lifetime import become_subreaper, descendants, end_descendants
    assert become_subreaper()
    marker = sys.argv[1]
    # A child that leaves a setsid daemon, a plain background child and a forked copy behind.
    fork = f"import os, time; os.fork() or open({marker!r}, 'w').close(); time.sleep(302)"
    subprocess.run(
        ["bash", "-c", f"setsid sleep 300 & sleep 301 & python3 -c \\"{fork}\\" & exit 0"],
        check=True,
    )
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) or len(descendants(os.getpid())) < 4:
        assert time.monotonic() < deadline, descendants(os.getpid())
        time.sleep(0.01)
    print(" ".join(map(str, descendants(os.getpid()))), flush=True)
    print(end_descendants(), flush=True)
    print(len(descendants(os.getpid())), flush=True)
    """
)


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_orphans_become_the_owners_children_and_end_with_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", OWNER, str(tmp_path / "forked")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pids_line, killed, left = result.stdout.splitlines()
    pids = [int(pid) for pid in pids_line.split()]
    assert len(pids) >= 4
    assert int(killed) >= 4
    assert int(left) == 0
    assert [pid for pid in pids if _exists(pid)] == []
    assert os.getpid() not in pids


LEAVER = """
import os, subprocess, time


def init():
    pass


def run(mini_batch):
    pids = [subprocess.Popen(["setsid", "sleep", "300"]).pid]
    pids.append(subprocess.Popen(["sleep", "301"]).pid)
    child = os.fork()
    if child == 0:
        time.sleep(302)
        os._exit(0)
    pids.append(child)
    with open(os.environ["SCORED_LOG"], "a") as log:
        log.write(" ".join(map(str, pids)) + "\\n")
    for path in mini_batch:
        if open(path).read() == "wait":
            while not os.path.exists(os.environ["GATE"]):
                time.sleep(0.01)
    return [os.path.basename(path) for path in mini_batch]
"""


def _left_behind(jobs: JobsWorkspace) -> list[int]:
    started = [int(pid) for pid in (jobs.root / "scored.log").read_text().split()]
    assert len(started) >= 3
    return [pid for pid in started if _exists(pid)]


def _deploy_the_leaver(jobs: JobsWorkspace) -> None:
    (jobs.root / "code" / "logged.py").write_text(LEAVER)
    jobs.cli.ok("batch-deployment", "update", "-f", jobs.root / "deployment.yml", "-o", "none")


@pytest.mark.slow
def test_nothing_a_completed_job_started_outlives_it(jobs: JobsWorkspace) -> None:
    _deploy_the_leaver(jobs)
    name = jobs.invoke("--input", jobs.inputs(["ok"] * 4))
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
    jobs.wait_runners_gone()
    assert _left_behind(jobs) == []


@pytest.mark.slow
def test_nothing_a_canceled_job_started_outlives_it(jobs: JobsWorkspace) -> None:
    _deploy_the_leaver(jobs)
    name = jobs.invoke("--input", jobs.inputs(["wait"] * 4))
    jobs.wait(name, "Running")
    log = jobs.root / "scored.log"
    wait_for(lambda: log.exists() and len(log.read_text().split()) >= 6, "both workers' processes")
    assert jobs.cli.ok("job", "cancel", "-n", name)["status"] == "Canceled"
    jobs.wait_runners_gone()
    assert _left_behind(jobs) == []
