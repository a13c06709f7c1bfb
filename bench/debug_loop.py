"""The debugging loop: one try of a scoring script on one file, as `batch-deployment test` (in
the foreground, no job) against `batch-endpoint invoke --stream` (a job: runner, workers,
journal, output, tracking as configured), both through the CLI as a user runs them, on one
deployment (env_manager local). Medians of --repeat alternating runs, and the ratio.

    .venv/bin/python bench/debug_loop.py [--repeat 3]
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

BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]
SCRIPT = """\
import os

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(path)} ok" for path in mini_batch]
"""
DEPLOYMENT = """\
name: dep
endpoint_name: bench-ep
type: model
model: {name: m, path: model}
code_configuration: {code: code, scoring_script: score.py}
environment: {image: python:3.11, conda_file: conda.yml}
compute: azureml:cpu
settings: {mini_batch_size: 1, env_manager: local}
"""


def batchml(*args: str) -> float:
    """Seconds one command took; it must succeed."""
    started = time.perf_counter()
    subprocess.run([*BATCHML, *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory(prefix="bench-debug-loop-") as folder:
        root = Path(folder)
        os.environ["BATCHML_WORKSPACE"] = str(root / "ws")
        for sub in ("code", "model", "data"):
            (root / sub).mkdir()
        (root / "code" / "score.py").write_text(SCRIPT)
        (root / "model" / "m.txt").write_text("m")
        (root / "data" / "in.txt").write_text("1")
        (root / "conda.yml").write_text("dependencies: [python=3.11, pip]\n")
        (root / "endpoint.yml").write_text("name: bench-ep\n")
        (root / "deployment.yml").write_text(DEPLOYMENT)
        os.chdir(root)
        batchml("compute", "create", "-n", "cpu", "--type", "amlcompute")
        batchml("batch-endpoint", "create", "-f", "endpoint.yml")
        batchml("batch-deployment", "create", "-f", "deployment.yml", "--set-default")
        tried, invoked = [], []
        for _ in range(repeat):
            tried.append(batchml("batch-deployment", "test", "-n", "dep", "-e", "bench-ep",
                                 "--input", "data/in.txt"))  # fmt: skip
            invoked.append(batchml("batch-endpoint", "invoke", "-n", "bench-ep", "--input",
                                   "data/in.txt", "--set", "reuse=false", "--stream"))  # fmt: skip
    test, invoke = statistics.median(tried), statistics.median(invoked)
    print(f"batch-deployment test           {test:6.2f} s (median of {repeat})")
    print(f"batch-endpoint invoke --stream  {invoke:6.2f} s")
    print(f"ratio invoke / test             {invoke / test:6.1f}x")


if __name__ == "__main__":
    main()
