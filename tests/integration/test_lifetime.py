"""The runner owns its process tree: what its children leave behind ends with it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

OWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from batchml.worker.lifetime import become_subreaper, descendants, end_descendants
    assert become_subreaper()
    # A child that leaves a setsid daemon, a plain background child and a forked copy behind.
    subprocess.run(
        ["bash", "-c", "setsid sleep 300 & sleep 301 & python3 -c 'import os, time; os.fork(); time.sleep(302)' & exit 0"],
        check=True,
    )
    deadline = time.monotonic() + 30
    while len(descendants(os.getpid())) < 4:
        assert time.monotonic() < deadline, descendants(os.getpid())
        time.sleep(0.01)
    left = descendants(os.getpid())
    print(" ".join(map(str, left)), flush=True)
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


def test_orphans_become_the_owners_children_and_end_with_it() -> None:
    result = subprocess.run(
        [sys.executable, "-c", OWNER], capture_output=True, text=True, timeout=120, check=True
    )
    pids_line, killed, left = result.stdout.splitlines()
    pids = [int(pid) for pid in pids_line.split()]
    assert len(pids) >= 4
    assert int(killed) >= 4
    assert int(left) == 0
    assert [pid for pid in pids if _exists(pid)] == []
    assert os.getpid() not in pids
