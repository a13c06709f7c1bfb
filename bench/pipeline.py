"""Pipeline jobs: what running commands as the steps of a pipeline job costs, measured in one run.

A pipeline of --steps command steps, each reading the previous step's output folder and writing
one file, runs as a batchml pipeline job (`job create`, then `job stream` until it ends), against a baseline that runs the same commands one after the other with
subprocess. Two shapes: a chain (each step waits for the one before) and a fan-out (independent
steps, which batchml runs side by side, up to one per CPU). Each step runs WORK (a Python
interpreter doing --work seconds of arithmetic). Medians of --repeat runs and the ratios
batchml / baseline are printed, with the cost per step.

    .venv/bin/python bench/pipeline.py [--repeat 3] [--steps 6] [--work 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Busy for `work` CPU-seconds, on one line (the command runs in bash).
WORK = (
    "import time; end = time.process_time() + {work}; "
    "[0 for _ in iter(lambda: time.process_time() < end, False)]"
)


FORCED_JOB = "type: pipeline\ncomponent: pipeline.yml\nsettings: {force_rerun: true}\n"


def _component(work: float, chained: bool) -> str:
    script = WORK.format(work=work)
    reads = "test -d ${{inputs.previous}} && " if chained else ""
    return (
        "      environment: {image: python:3.11}\n"
        + ("      inputs: {previous: {type: uri_folder}}\n" if chained else "")
        + "      outputs: {done: {type: uri_folder}}\n"
        + "      command: |-\n"
        + f"        {reads}python -c '{script}' && touch ${{{{outputs.done}}}}/ok\n"
    )


def pipeline_yaml(steps: int, work: float, chained: bool) -> str:
    lines = ["type: pipeline", "jobs:"]
    for index in range(steps):
        previous = chained and index > 0
        lines.append(f"  step{index}:\n    type: command\n    component:")
        lines.append(_component(work, previous).rstrip("\n"))
        if previous:
            lines.append(
                f"    inputs: {{previous: '${{{{parent.jobs.step{index - 1}.outputs.done}}}}'}}"
            )
    return "\n".join(lines) + "\n"


def batchml(*args: str, workspace: Path) -> str:
    env = {**os.environ, "BATCHML_WORKSPACE": str(workspace)}
    command = [str(Path(sys.executable).parent / "batchml"), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout


def run_batchml(folder: Path, workspace: Path, job: str = "job.yml") -> float:
    start = time.perf_counter()
    name = batchml(
        "job",
        "create",
        "-f",
        str(folder / job),
        "--query",
        "name",
        "-o",
        "tsv",
        workspace=workspace,
    ).strip()
    # One process follows the job (as a user would), instead of a `job show` per poll, which
    # would take a CPU from the steps.
    subprocess.run(
        [str(Path(sys.executable).parent / "batchml"), "job", "stream", "-n", name],
        env={**os.environ, "BATCHML_WORKSPACE": str(workspace)},
        stdout=subprocess.DEVNULL,
        check=False,
    )
    status = batchml(
        "job", "show", "-n", name, "--query", "status", "-o", "tsv", workspace=workspace
    ).strip()
    if status != "Completed":
        raise SystemExit(f"pipeline job {name} ended {status}")
    return time.perf_counter() - start


def run_baseline(steps: int, work: float, folder: Path) -> float:
    start = time.perf_counter()
    for index in range(steps):
        out = folder / f"baseline-{index}"
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "bash",
                "-c",
                f"python -c '{WORK.format(work=work)}' && touch {out}/ok",
            ],
            check=True,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--work", type=float, default=0.5, help="CPU seconds per step")
    args = parser.parse_args()
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    print(
        f"{args.steps} steps of {args.work:g} CPU-seconds each, {os.cpu_count()} CPUs, "
        f"medians of {args.repeat}"
    )
    for shape, chained in (("chain", True), ("fan-out", False)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "pipeline.yml").write_text(pipeline_yaml(args.steps, args.work, chained))
            # Every run runs its steps: none takes an earlier run's outputs (step reuse).
            (folder / "job.yml").write_text(FORCED_JOB)
            workspace = folder / "ws"
            ours, base = [], []
            for _ in range(args.repeat):
                base.append(run_baseline(args.steps, args.work, folder))
                ours.append(run_batchml(folder, workspace))
            b, o = statistics.median(base), statistics.median(ours)
            print(
                f"{shape:8s} baseline (sequential subprocess) {b:6.2f} s   batchml pipeline job "
                f"{o:6.2f} s   ratio {o / b:4.2f}x   ({(o - b) / args.steps * 1000:+.0f} ms per step)"
            )


if __name__ == "__main__":
    main()
