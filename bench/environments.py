"""B4 environments: building a deployment's environment with uv, then reusing it from the cache.

Builds the environment of a conda file (default: the digits sample's) into a fresh cache folder,
then asks for it again, and prints both times and the reuse as a ratio to starting the current
interpreter (`python -c pass`), the least any job pays for its workers. Then whole jobs through
the CLI (`invoke`, then `job stream` until it ends; 20 files, 2 workers, a script that imports
scikit-learn in init()) in that cached environment (env_manager=uv) and in batchml's own
interpreter (env_manager=local), alternating, and prints their medians and ratio. Needs the
package index uv is configured with.

    .venv/bin/python bench/environments.py [--conda FILE] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from batchml.core import spec as specs
from batchml.envs import cache, requirements

DIGITS = (
    Path(__file__).resolve().parents[1] / "samples/digits/deployment-svc/environment/conda.yaml"
)


SCRIPT = """\
import os

def init():
    import sklearn  # what a digits job imports first

def run(mini_batch):
    return [os.path.basename(path) for path in mini_batch]
"""


def batchml(*args: str | Path) -> str:
    """Run the CLI as a user would (its own process); its stdout."""
    command = [str(Path(sys.executable).parent / "batchml"), *map(str, args)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def job_project(folder: Path, conda: Path) -> None:
    """A workspace in `folder` with endpoint `bench-ep` whose default deployment uses `conda`."""
    os.environ["BATCHML_WORKSPACE"] = str(folder / "ws")
    for name in ("code", "model", "data"):
        (folder / name).mkdir()
    (folder / "code" / "score.py").write_text(SCRIPT)
    (folder / "model" / "weights.txt").write_text("w")
    for index in range(20):
        (folder / "data" / f"f{index:02d}.txt").write_text(str(index))
    shutil.copy(conda, folder / "conda.yml")
    (folder / "endpoint.yml").write_text("name: bench-ep\n")
    deployment = {
        "name": "bench",
        "endpoint_name": "bench-ep",
        "type": "model",
        "model": {"name": "m", "path": "model"},
        "code_configuration": {"code": "code", "scoring_script": "score.py"},
        "environment": {"conda_file": "conda.yml"},
        "compute": "azureml:cpu",
        "settings": {"mini_batch_size": 2, "max_concurrency_per_instance": 2},
    }
    (folder / "deployment.yml").write_text(yaml.safe_dump(deployment))
    batchml("compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
    batchml("batch-endpoint", "create", "-f", folder / "endpoint.yml", "-o", "none")
    batchml("batch-deployment", "create", "-f", folder / "deployment.yml", "--set-default")


def time_job(folder: Path, manager: str) -> float:
    """One job end to end: invoke, then job stream until it ends."""
    started = time.perf_counter()
    name = batchml(
        "batch-endpoint", "invoke", "-n", "bench-ep", "--input", folder / "data",
        "--set", f"env_manager={manager}", "reuse=false", "--query", "name", "-o", "tsv",
    ).strip()  # fmt: skip
    batchml("job", "stream", "-n", name)
    elapsed = time.perf_counter() - started
    job = json.loads(batchml("job", "show", "-n", name))
    assert job["status"] == "Completed", job.get("error")
    assert job["runs_in"]["manager"] == manager
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conda", type=Path, default=DIGITS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    wanted = requirements.from_conda(specs.load_file(args.conda))
    print(f"{args.conda}: python {wanted.python}, {len(wanted.packages)} packages")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["BATCHML_CACHE_DIR"] = folder
        log = Path(folder) / "build.log"
        started = time.perf_counter()
        built = cache.ensure(wanted, log=print, build_log=log)
        first = time.perf_counter() - started
        print(f"first build: {first:.1f} s ({built.python_version}; {built.note or 'as asked'})")
        reuses, starts = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            assert cache.ensure(wanted, log=print, build_log=log).reused
            reuses.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            starts.append(time.perf_counter() - started)
        reuse, start = statistics.median(reuses), statistics.median(starts)
        print(f"cached reuse: {reuse * 1000:.1f} ms (median of {args.repeat})")
        print(f"interpreter start: {start * 1000:.1f} ms; reuse / start = {reuse / start:.2f}")
        project = Path(folder) / "project"
        project.mkdir()
        job_project(project, args.conda)
        times: dict[str, list[float]] = {"uv": [], "local": []}
        for _ in range(args.repeat):
            for manager in times:
                times[manager].append(time_job(project, manager))
        built_job, local_job = (statistics.median(times[m]) for m in ("uv", "local"))
        print(
            f"a job (20 files, 2 workers) in the cached environment: {built_job:.2f} s; in "
            f"batchml's interpreter: {local_job:.2f} s; ratio {built_job / local_job:.2f} "
            f"(medians of {args.repeat})"
        )


if __name__ == "__main__":
    main()
