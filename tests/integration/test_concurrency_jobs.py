"""Many batchml commands at once on one workspace: 8 invokes of one endpoint from parallel
processes, endpoints and models created and deleted meanwhile, `job show` and `job list` while
the jobs write. Every job completes with its own output, and every state file is whole."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
JOBS = [f"parallel-{i}" for i in range(8)]


def batchml(*args: object) -> str:
    return shlex.join([*BATCHML, *map(str, args)])


def read_until_done(seen: list[subprocess.CompletedProcess[str]]) -> None:
    """`job list` and `job show` over and over, until all the jobs completed (in a thread)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for command in (["job", "list", "--query", "[].status"], ["job", "show", "-n", JOBS[0]]):
            seen.append(subprocess.run([*BATCHML, *command], capture_output=True, text=True))
        statuses = json.loads(seen[-2].stdout) if seen[-2].returncode == 0 else []
        if statuses.count("Completed") == len(JOBS):
            return


def test_eight_invokes_at_once_complete_with_their_own_output(jobs):
    contents = [f"value-{i}" for i in range(12)]
    data = jobs.inputs(contents)
    (jobs.root / "other.yml").write_text("name: other-ep\n")
    reads: list[subprocess.CompletedProcess[str]] = []
    reader = threading.Thread(target=read_until_done, args=(reads,))
    reader.start()
    invoke = [*BATCHML, "batch-endpoint", "invoke", "-n", "jobs-ep", "--input", str(data)]
    # Each job scores every file itself (reuse off): run() is called 8 times per file.
    one_worker = ["--set", "max_concurrency_per_instance=1", "reuse=false", "-o", "none"]
    invokes = [
        subprocess.Popen(
            [*invoke, "--job-name", name, *one_worker], stderr=subprocess.PIPE, text=True
        )
        for name in JOBS
    ]
    # Meanwhile, a shell creates and deletes other resources.
    script = " && ".join(
        [
            batchml("batch-endpoint", "create", "-f", jobs.root / "other.yml", "-o", "none"),
            batchml("model", "create", "--name", "extra", "--path", jobs.root / "model"),
            batchml("batch-endpoint", "delete", "-n", "other-ep", "--yes"),
            batchml("model", "create", "--name", "extra", "--path", jobs.root / "model"),
        ]
    )
    writer = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    for process in invokes:
        assert process.wait(timeout=60) == 0, process.communicate()[1]
    reader.join()

    assert writer.returncode == 0, writer.stderr
    expected = [f"in{i:02d}.txt value-{i}" for i in range(12)]
    for name in JOBS:
        job = jobs.wait(name, "Completed")
        assert job["batch"]["files"] == {"total": 12, "succeeded": 12, "failed": 0}
        assert jobs.output(name).read_text().splitlines() == expected
    assert jobs.scored() == {f"in{i:02d}.txt": 8 for i in range(12)}
    # Every read found whole files: a job, or no such job yet.
    assert len(reads) >= 4
    for read in reads:
        if read.returncode == 3:
            assert read.stderr.startswith(f"ERROR: job '{JOBS[0]}' not found"), read.stderr
        else:
            assert read.returncode == 0, read.stderr
            json.loads(read.stdout)
    assert jobs.cli.ok("model", "list", "-n", "extra", "--query", "[].version") == ["2", "1"]
    assert jobs.cli("batch-endpoint", "show", "-n", "other-ep").code == 3
    for path in jobs.ws.rglob("*.json"):
        assert json.loads(path.read_text())["__meta__"]["format_version"] == 1, path
    assert not [p for p in jobs.ws.rglob("*") if p.name.endswith(".tmp")]
