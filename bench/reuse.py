"""Reuse across jobs: re-invoking on the same 2,000 files, and on the folder with 10% of its files
changed, as ratios to a fresh run (`--set reuse=false`); and a fresh run's cost of reuse (hashing
the inputs, storing the results) as a ratio to the same run without it. Then a pipeline job
(bench/pipeline.py's chain of --steps steps) run again with every step reused, as a ratio to
running its steps (`settings.force_rerun`).

The project is end_to_end.py's (mini_batch_size 10, 2 workers) with a run() that costs
--cost-ms per file (a model's work; 0 for none). Each job is `invoke` + `job stream`; outputs
are compared: a reused job's must be the fresh one's, byte for byte. Medians of --repeat.

    .venv/bin/python bench/reuse.py [--files 2000] [--cost-ms 2] [--repeat 3] [--steps 6]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import end_to_end
import pipeline
from end_to_end import make_project
from end_to_end import time_job as job

SCRIPT = """\
import os
import time

COST = float(os.environ.get("BENCH_COST_MS", "0")) / 1000


def init():
    pass


def run(mini_batch):
    time.sleep(COST * len(mini_batch))
    return [f"{os.path.basename(path)} {open(path).read().strip()}" for path in mini_batch]
"""


def change(data: Path, share: float, round_: int, *, spread: bool) -> None:
    """Rewrite `share` of the files with new contents: the first ones (a tenth of the
    mini-batches), or one in every 1/share, spread over the folder (every mini-batch)."""
    files = sorted(data.iterdir())
    chosen = files[:: round(1 / share)] if spread else files[: round(len(files) * share)]
    for path in chosen:
        path.write_text(f"{path.stem} changed {round_}{spread}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--cost-ms", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6, help="steps of the pipeline case")
    args = parser.parse_args()

    times: dict[str, list[float]] = {
        "fresh": [],
        "fresh, reuse on": [],
        "same": [],
        "10%": [],
        "10% spread": [],
    }
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        os.environ.update(
            BATCHML_WORKSPACE=str(root / "ws"),
            BATCHML_CONFIG_DIR=str(root / "config"),
            BATCHML_CACHE_DIR=str(root / "cache"),
            BATCHML_ENV_MANAGER="local",
            BATCHML_TRACKING="off",
            BENCH_COST_MS=str(args.cost_ms),
        )
        end_to_end.SCRIPT = SCRIPT  # the deployment's code/score.py
        make_project(root, args.files, 10, 2, reuse=True)
        job(root, "--set", "reuse=false")  # warms the file cache
        for round_ in range(args.repeat):
            shutil.rmtree(root / "cache" / "results", ignore_errors=True)
            fresh, expected = job(root, "--set", "reuse=false")
            fresh_reusing, output = job(root)  # an empty cache: hashes and stores everything
            same, same_output = job(root)
            if not expected == output == same_output:
                raise SystemExit("a reused job wrote another output than a fresh one")
            partly = []
            for spread in (False, True):
                change(root / "data", 0.1, round_, spread=spread)
                seconds, partly_output = job(root)
                _, partly_expected = job(root, "--set", "reuse=false")
                if partly_output != partly_expected:
                    raise SystemExit("a partly reused job wrote another output than a fresh one")
                partly.append(seconds)
            measured = (fresh, fresh_reusing, same, *partly)
            for label, seconds in zip(times, measured, strict=True):
                times[label].append(seconds)

    fresh = statistics.median(times["fresh"])
    print(
        f"{args.files} files, mini_batch_size 10, 2 workers, run() {args.cost_ms:g} ms a file; "
        f"medians of {args.repeat}; outputs identical"
    )
    for label, what in (
        ("fresh", "fresh run (reuse=false)"),
        ("fresh, reuse on", "fresh run, empty cache"),
        ("same", "same files again"),
        ("10%", "10% changed (first files)"),
        ("10% spread", "10% changed, 1 in 10 files"),
    ):
        seconds = statistics.median(times[label])
        print(f"  {what:<26} {seconds:7.3f} s   {seconds / fresh:5.2f}x fresh")
    ran, reused = pipeline_case(args.steps, args.repeat)
    print(
        f"pipeline job, a chain of {args.steps} steps of 0.5 CPU-seconds; medians of "
        f"{args.repeat}:\n  {'steps run (force_rerun)':<26} {ran:7.3f} s\n"
        f"  {'every step reused':<26} {reused:7.3f} s   {reused / ran:5.2f}x run"
    )
    return 0


def pipeline_case(steps: int, repeat: int) -> tuple[float, float]:
    """Medians of a pipeline job whose steps run and of the same job with every step reused
    (the one before it ran them with the same inputs)."""
    ran, reused = [], []
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        folder = Path(temporary)
        os.environ.update(BATCHML_CACHE_DIR=str(folder / "cache"), BATCHML_TRACKING="off")
        (folder / "pipeline.yml").write_text(pipeline.pipeline_yaml(steps, 0.5, chained=True))
        (folder / "forced.yml").write_text(pipeline.FORCED_JOB)
        (folder / "job.yml").write_text("type: pipeline\ncomponent: pipeline.yml\n")
        workspace = folder / "ws"
        os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
        for _ in range(repeat):
            ran.append(pipeline.run_batchml(folder, workspace, "forced.yml"))
            reused.append(pipeline.run_batchml(folder, workspace, "job.yml"))
    return statistics.median(ran), statistics.median(reused)


if __name__ == "__main__":
    sys.exit(main())
