"""`batch-endpoint invoke --dry-run`: the plan of a job, made without creating it, is the plan
the job then runs (its mini-batches, their files and bytes); `--sample N` runs N of them in
the foreground for an estimate that states its assumptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from projects import Project, model_deployment, project_at

from tests.conftest import tree_digest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Cli

pytestmark = pytest.mark.timeout(180)

# Each row names its file and the first file of its mini-batch: the job's grouping.
SCRIPT = """\
import os

def init():
    pass

def run(mini_batch):
    first = os.path.basename(mini_batch[0])
    return [f"{os.path.basename(path)} {first}" for path in mini_batch]
"""

# Five files of known sizes, in the order the job takes them (by name).
SIZES = {"a.txt": 300, "b.txt": 20, "c.txt": 1, "d.txt": 4000, "e.txt": 50}


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_at(cli, ws, tmp_path, monkeypatch, "plan-ep") as project:
        root = project.root
        for old in (root / "data").iterdir():
            old.unlink()
        for name, size in SIZES.items():
            (root / "data" / name).write_bytes(b"x" * size)
        project.deploy(model_deployment("svc"), SCRIPT)
        yield project


def ran_batches(project: Project, name: str) -> list[list[str]]:
    """The files of each mini-batch job `name` ran, from its rows, in order."""
    batches: dict[str, list[str]] = {}
    for row in project.rows(name):
        file, first = row.split()
        batches.setdefault(first, []).append(file)
    return [sorted(files) for _, files in sorted(batches.items())]


def test_dry_run_creates_nothing_and_plans_the_job_that_runs(project: Project, cli: Cli) -> None:
    before = tree_digest(project.ws)
    plan = cli.ok("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                  "--dry-run")  # fmt: skip
    assert tree_digest(project.ws) == before

    name = project.invoke()
    job = project.wait(name)
    assert job["status"] == "Completed", job.get("error")
    ran = ran_batches(project, name)
    assert ran == [["a.txt", "b.txt"], ["c.txt", "d.txt"], ["e.txt"]]
    weights = [sum(SIZES[file] for file in files) for files in ran]
    assert job["batch"]["mini_batches"]["total"] == len(ran)

    assert plan["files"] == len(SIZES)
    assert plan["bytes"] == sum(SIZES.values())
    assert plan["workers"] == 1
    assert plan["deployment_name"] == "svc"
    assert plan["mini_batches"] == {
        "count": 3,
        "largest": {"index": 1, "files": 2, "bytes": weights[1]},
        "smallest": {"index": 2, "files": 1, "bytes": weights[2]},
        "median_bytes": weights[0],
        "skew": {
            "largest_to_smallest": round(weights[1] / weights[2], 2),
            "largest_to_median": round(weights[1] / weights[0], 2),
        },
    }
    assert "estimate" not in plan

    # The real invoke would refuse the name of an existing job; so does its plan.
    taken = cli("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                "--dry-run", "--job-name", name)  # fmt: skip
    assert (taken.code, taken.out) == (5, "")
    assert taken.err.startswith(f"ERROR: job '{name}' already exists"), taken.err


def test_sample_estimates_with_its_assumptions(project: Project, cli: Cli) -> None:
    before = tree_digest(project.ws)
    result = cli("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                 "--dry-run", "--sample", "2", "--query", "estimate")  # fmt: skip
    assert result.code == 0, result.err
    assert tree_digest(project.ws) == before
    import json

    estimate = json.loads(result.out)
    # The first and the last mini-batch, run in the foreground.
    assert estimate["sampled_mini_batches"] == [0, 2]
    assert len(estimate["seconds_per_mini_batch"]) == 2
    assert estimate["rows"] == len(SIZES)  # one row per file
    assert estimate["duration_seconds"] >= 0
    assert any("parallel" in line for line in estimate["assumptions"])


def test_sample_needs_dry_run(project: Project, cli: Cli) -> None:
    result = cli("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                 "--sample", "2")  # fmt: skip
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("ERROR: --sample goes with --dry-run")


def test_mini_batches_by_size_pack_files_in_order(project: Project, cli: Cli) -> None:
    plan = cli.ok("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                  "--mini-batch-size", "1kb", "--dry-run", "--query", "mini_batches")  # fmt: skip
    assert (plan["count"], plan["largest"], plan["smallest"]) == (
        3,
        {"index": 1, "files": 1, "bytes": 4000},  # bigger than the bound: alone
        {"index": 2, "files": 1, "bytes": 50},
    )

    name = project.invoke("--set", "mini_batch_size=1KB")
    job = project.wait(name)
    assert job["status"] == "Completed", job.get("error")
    assert job["settings"]["mini_batch_size"] == "1KB"
    assert ran_batches(project, name) == [
        ["a.txt", "b.txt", "c.txt"],
        ["d.txt"],
        ["e.txt"],
    ]
    report = project.folder(name) / "logs/sys/job_report/processed_mini-batches.csv"
    lines = report.read_text().splitlines()[1:]
    assert sorted(line.split(",")[6] for line in lines) == ["1", "1", "3"]


def test_a_size_that_is_none_is_refused(project: Project, cli: Cli) -> None:
    before = tree_digest(project.ws)
    result = cli("batch-endpoint", "invoke", "-n", "plan-ep", "--input", project.root / "data",
                 "--mini-batch-size", "10 parsecs")  # fmt: skip
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        "ERROR: invoke --mini-batch-size: settings.mini_batch_size: must be a number of files (1 or more), "
        "a size such as 10MB, 512kb or 1gb, or rows such as '1000 rows' (got \"10 parsecs\")\n"
    )
    assert tree_digest(project.ws) == before


def _stamps(folder: Path) -> dict[str, int]:
    """Every path under `folder` with its mtime_ns: a lookup that refreshed an entry shows."""
    return {str(path): path.stat().st_mtime_ns for path in sorted(folder.rglob("*"))}


def test_dry_run_says_what_reuse_would_skip_and_the_job_skips_that(
    project: Project, cli: Cli
) -> None:
    def planned(*args: str) -> dict[str, Any]:
        data = project.root / "data"
        reuse: dict[str, Any] = cli.ok("batch-endpoint", "invoke", "-n", "plan-ep", "--input",
                                       data, *args, "--dry-run", "--query", "reuse")  # fmt: skip
        return reuse

    assert planned() == {"enabled": True, "mini_batches": 0, "files": 0, "mini_batches_to_run": 3}
    job = project.wait(project.invoke())
    assert job["status"] == "Completed", job.get("error")
    (project.root / "data" / "e.txt").write_bytes(b"y" * 51)

    cache = project.root.parent / "cache"
    before = (tree_digest(project.ws), _stamps(cache))
    assert planned() == {"enabled": True, "mini_batches": 2, "files": 4, "mini_batches_to_run": 1}
    assert (tree_digest(project.ws), _stamps(cache)) == before
    assert planned("--set", "reuse=false") == {
        "enabled": False,
        "reason": "the settings say reuse: false",
    }

    job = project.wait(project.invoke())
    assert job["status"] == "Completed", job.get("error")
    assert job["batch"]["mini_batches"]["reused"] == 2
