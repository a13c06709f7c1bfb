"""The runner owns its process tree: what its children leave behind ends with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from waiting import wait_for

from batchml.worker import lifetime

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


def test_the_scan_of_proc_finds_what_the_children_lists_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process with two children, one of them with a child of its own: where Linux keeps no
    # children lists, descendants() reads every process's parent in /proc instead.
    ready = tmp_path / "ready"
    grandchild = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "subprocess.Popen(['sleep', '300'])\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(300)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_for(lambda: ready.exists() and len(lifetime.descendants(holder.pid)) == 3, "3")
        listed = lifetime.descendants(holder.pid)
        monkeypatch.setattr(lifetime, "_LISTS_CHILDREN", False)
        scanned = lifetime.descendants(holder.pid)
        parent_of_last = _parent(listed[-1])
    finally:
        for pid in [*lifetime.descendants(holder.pid), holder.pid]:
            os.kill(pid, signal.SIGKILL)
        holder.wait()
    assert len(listed) == 3 and sorted(scanned) == sorted(listed)
    assert parent_of_last in listed[:2]  # children first


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
