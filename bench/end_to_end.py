"""End to end through the CLI: `invoke`, then `job stream` until it exits, against a bare
multiprocessing.Pool script (fork and spawn) that writes the same output, measured in one run.

--files tiny files, a no-op run() returning one row per file, mini_batch_size 10, 2 workers, in
batchml's own interpreter (env_manager local) and untracked unless --tracked. The pools load the
same script in each worker (init() once) and map run() over the same mini-batches in order; the
outputs must be byte-identical. Also printed: when the first mini-batch started, counted from
`invoke` starting (each worker's first run() call notes the time in a file of its own). Goals
(issue 16): at most 2x the spawn pool and 5x the fork pool; the first mini-batch within 0.5 s.
With --baseline (a tree such as an export of main), each round also runs the job with
PYTHONPATH at that tree, in turn with this one, and the ratios between the two are printed.

    .venv/bin/python bench/end_to_end.py [--files 2000] [--repeat 7] [--tracked]
        [--baseline /tmp/main-export]
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
from typing import Any

import yaml
from interleaved import bytecode, load, trees

# Each worker notes when its first run() started, in a file of BENCH_MARKS of its own.
SCRIPT = """\
import os
import time

_noted = False


def init():
    pass


def run(mini_batch):
    global _noted
    if not _noted:
        _noted = True
        mark = os.path.join(os.environ["BENCH_MARKS"], f"{os.getpid()}")
        with open(mark, "w") as out:
            out.write(repr(time.time()))
    return [f"{os.path.basename(path)} 0" for path in mini_batch]
"""
# The baseline, a script of its own: python POOL START_METHOD WORKERS SIZE SCRIPT DATA OUT
POOL = """\
import importlib.util, multiprocessing, os, sys

def load(path):
    global run
    spec = importlib.util.spec_from_file_location("score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.init()
    run = module.run

def score(mini_batch):
    return run(list(mini_batch))

if __name__ == "__main__":
    method, workers, size, script, data, out = sys.argv[1:]
    paths = sorted(os.path.join(data, name) for name in os.listdir(data))
    size = int(size)
    batches = [paths[start : start + size] for start in range(0, len(paths), size)]
    context = multiprocessing.get_context(method)
    with context.Pool(int(workers), load, (script,)) as pool, open(out, "w") as output:
        for rows in pool.imap(score, batches):
            output.writelines(f"{row}\\n" for row in rows)
"""
ENDPOINT = "bench-ep"


def batchml(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """Run the CLI as a user would (its own process); its stdout."""
    command = [str(Path(sys.executable).parent / "batchml"), *map(str, args)]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout


def make_project(
    root: Path, files: int, mini_batch_size: int, workers: int, *, reuse: bool = False
) -> None:
    """A workspace (BATCHML_WORKSPACE) with the default deployment of `bench-ep`; its inputs
    in root/data. Without `reuse`, every job scores every mini-batch (see bench/reuse.py)."""
    for name in ("code", "model", "data"):
        (root / name).mkdir()
    (root / "code" / "score.py").write_text(SCRIPT)
    (root / "model" / "weights.txt").write_text("w")
    write_files(root / "data", files)
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\n")
    deployment = {
        "name": "bench",
        "endpoint_name": ENDPOINT,
        "type": "model",
        "model": {"name": "m", "path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "score.py"},
        "environment": {"image": "python:3.11"},
        "compute": "azureml:cpu",
        "settings": {
            "mini_batch_size": mini_batch_size,
            "max_concurrency_per_instance": workers,
            "reuse": reuse,
        },
    }
    (root / "deployment.yml").write_text(yaml.safe_dump(deployment))
    batchml("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
    batchml("batch-endpoint", "create", "-f", root / "endpoint.yml", "-o", "none")
    batchml("batch-deployment", "create", "-f", root / "deployment.yml", "--set-default", "-o",
            "none")  # fmt: skip


def write_files(data: Path, files: int) -> None:
    """The inputs: `files` tiny files in the folder `data`, which exists (os.open, write and
    close: a third of pathlib's write_text's time, which ten million files made minutes)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for index in range(files):
        out = os.open(data / f"file{index:07d}.txt", flags, 0o644)
        try:
            os.write(out, b"%d\n" % index)
        finally:
            os.close(out)


def first_mark(marks: Path) -> float:
    """The earliest time a worker's first run() started; the marks are removed."""
    times = []
    for mark in marks.iterdir():
        times.append(float(mark.read_text()))
        mark.unlink()
    return min(times)


def time_batchml(root: Path, marks: Path, env: dict[str, str]) -> tuple[float, float, bytes]:
    """One job, its commands run with `env`: (seconds end to end, seconds to the first
    mini-batch, the output)."""
    started_wall = time.time()
    elapsed, output = time_job(root, env=env)
    return elapsed, first_mark(marks) - started_wall, output


def time_job(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, bytes]:
    """One job on root/data, `invoke` (with `args`) + `job stream`, run with `env` (this
    process's if None): (seconds, the output)."""
    started = time.perf_counter()
    name = batchml(
        "batch-endpoint", "invoke", "-n", ENDPOINT, "--input", root / "data",
        "--query", "name", "-o", "tsv", *args, env=env,
    ).strip()  # fmt: skip
    stream = [Path(sys.executable).parent / "batchml", "job", "stream", "-n", name]
    streamed = subprocess.run(stream, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    workspace = Path(os.environ["BATCHML_WORKSPACE"])
    if streamed.returncode != 0:
        driver_log = workspace / "jobs" / name / "azureml-logs/70_driver_log.txt"
        raise SystemExit(f"job {name} did not complete:\n{driver_log.read_text()[-2000:]}")
    output = workspace / "datastores/workspaceblobstore/azureml" / name / "score"
    return elapsed, (output / "predictions.csv").read_bytes()


def time_pool(root: Path, method: str, args: Any, marks: Path) -> tuple[float, float, bytes]:
    """The baseline script, run as its own process, as batchml's CLI is."""
    out = root / f"pool-{method}.csv"
    command = [sys.executable, root / "pool.py", method, str(args.workers),
               str(args.mini_batch_size), root / "code" / "score.py", root / "data", out]  # fmt: skip
    started_wall, started = time.time(), time.perf_counter()
    subprocess.run(command, check=True)
    elapsed = time.perf_counter() - started
    return elapsed, first_mark(marks) - started_wall, out.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mini-batch-size", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tracked", action="store_true", help="jobs tracked in MLflow")
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH), e.g. main's")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        marks = root / "marks"
        marks.mkdir()
        os.environ.update(
            BATCHML_WORKSPACE=str(root / "ws"),
            BATCHML_CONFIG_DIR=str(root / "config"),
            BATCHML_ENV_MANAGER="local",
            BATCHML_TRACKING="on" if args.tracked else "off",
            BENCH_MARKS=str(marks),
        )
        make_project(root, args.files, args.mini_batch_size, args.workers)
        (root / "pool.py").write_text(POOL)
        envs = trees(args.baseline)
        labels = ["batchml", *(["baseline"] if args.baseline else []), "fork", "spawn"]
        runs: dict[str, list[tuple[float, float, bytes]]] = {label: [] for label in labels}
        for rep in range(args.repeat + 1):
            results = {"batchml": time_batchml(root, marks, envs["this tree"])}
            if args.baseline:
                results["baseline"] = time_batchml(root, marks, envs["baseline"])
            for method in ("fork", "spawn"):
                results[method] = time_pool(root, method, args, marks)
            if len({output for _, _, output in results.values()}) != 1:
                raise SystemExit("batchml and the pools wrote different outputs")
            if rep:  # the first round warms the file cache
                for label, result in results.items():
                    runs[label].append(result)

    def median(label: str, field: int) -> float:
        return statistics.median(result[field] for result in runs[label])

    print(
        f"{args.files} files, mini_batch_size {args.mini_batch_size}, {args.workers} workers"
        f"{', tracked' if args.tracked else ''}; medians of {args.repeat}; outputs identical; "
        f"load {load()} at the end; {bytecode()}"
        + (f" (baseline: {bytecode(args.baseline)})" if args.baseline else "")
    )
    total = median("batchml", 0)
    whats = {"batchml": "invoke + job stream", "baseline": "  the same, baseline tree"}
    for label in labels:
        what = whats.get(label, f"multiprocessing.Pool {label}")
        print(
            f"  {what:<28} {median(label, 0):7.3f} s   first mini-batch at "
            f"{median(label, 1):6.3f} s"
        )
    fork, spawn = total / median("fork", 0), total / median("spawn", 0)
    first = median("batchml", 1)
    print(f"  ratio: {fork:.1f}x fork (goal 5x), {spawn:.1f}x spawn (goal 2x)")
    print(f"  first mini-batch {first:.3f} s after invoke started (goal 0.5 s)")
    if args.baseline:
        ratio, first_ratio = total / median("baseline", 0), first / median("baseline", 1)
        print(
            f"  this tree / baseline: {ratio:.2f}x end to end, {first_ratio:.2f}x first mini-batch"
        )
    return 0 if fork <= 5 and spawn <= 2 and first <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
