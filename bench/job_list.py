"""`job list` and `batch-endpoint list-jobs` as the workspace fills up: 50, 500, then --jobs jobs.

One real job is run through the CLI (`invoke`, `job stream`); its record is the template of the
others, which are written straight into the workspace by batchml's store (job.json each, with
names and creation times of their own, and the line of batchml's index of jobs), which is far
quicker than invoking them. Each command runs as a fresh process of the venv's `batchml`: the
median wall and CPU time and the peak memory (max RSS) are printed, with the ratio to the same
command at 50 jobs; with --baseline (a tree such as an export of main), also with PYTHONPATH at
that tree, in turn with this one, and the ratio to it. Goals (issue 16): the default page under
0.4 s at 5,000 jobs, and memory that does not grow with the number of jobs.

    .venv/bin/python bench/job_list.py [--jobs 5000] [--repeat 5] [--baseline /tmp/main-export]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from end_to_end import ENDPOINT, batchml, make_project
from interleaved import Timing, compared, interleaved, load, trees

from batchml.store import job_files, job_index
from batchml.store.workspace import Workspace

GOAL_SECONDS = 0.4


def add_jobs(workspace: Workspace, template: str, count: int, start: int) -> None:
    """Jobs start .. start+count-1, copies of the job `template`, each a second newer."""
    job = job_files.get(workspace, template)
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for index in range(start, start + count):
        stamp = (created + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        copy = dataclasses.replace(job, name=f"benchjob-{index:07d}", created_at=stamp)
        job_files.job_dir(workspace, copy.name).mkdir(parents=True)
        job_files.save(workspace, copy)
        job_index.add(workspace, copy)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH), e.g. main's")
    args = parser.parse_args()
    executable = str(Path(sys.executable).parent / "batchml")
    commands = {
        "job list": [executable, "job", "list"],
        "job list --all-results": [executable, "job", "list", "--all-results"],
        "batch-endpoint list-jobs": [executable, "batch-endpoint", "list-jobs", "-n", ENDPOINT],
    }
    on_goal = True
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        os.environ.update(
            BATCHML_WORKSPACE=str(root / "ws"),
            BATCHML_CONFIG_DIR=str(root / "config"),
            BATCHML_ENV_MANAGER="local",
            BATCHML_TRACKING="off",
        )
        make_project(root, 4, 1, 1)
        os.environ["BENCH_MARKS"] = str(root)  # the script's marks go beside the project
        template = batchml(
            "batch-endpoint", "invoke", "-n", ENDPOINT, "--input", root / "data",
            "--query", "name", "-o", "tsv",
        ).strip()  # fmt: skip
        batchml("job", "stream", "-n", template)
        workspace = Workspace(Path(os.environ["BATCHML_WORKSPACE"]))
        first: dict[str, Timing] = {}
        made = 1
        for total in (50, 500, args.jobs):
            add_jobs(workspace, template, total - made, made)
            made = total
            print(f"{total} jobs (median of {args.repeat}, peak memory):")
            for label, command in commands.items():
                timings = interleaved(command, trees(args.baseline), args.repeat)
                mine = timings["this tree"]
                at_50 = first.setdefault(label, mine)
                print(
                    compared(label, timings)
                    + f"\n  {'':<28} this tree: {mine.wall / at_50.wall:.2f}x "
                    f"time, {mine.peak / at_50.peak:.2f}x memory of 50 jobs; load {load()}"
                )
                if total == args.jobs and label != "job list --all-results":
                    on_goal = on_goal and mine.wall < GOAL_SECONDS
    print(f"default pages {'meet' if on_goal else 'MISS'} the goal of {GOAL_SECONDS} s")
    return 0 if on_goal else 1


if __name__ == "__main__":
    sys.exit(main())
