"""Backends: the same jobs on local worker processes and on Ray actors, measured in one run.

Three jobs, 2 workers each:
  cpu   a real model: a 200-tree random forest on scikit-learn's bundled digits (about 12 MB
        pickled), 200 CSV files of 2,000 rows; run() predicts every row.
  noop  2,000 tiny files, a no-op run(), mini-batches of 10 (the overhead benchmark's job).
  one   1 tiny file, a no-op run(): what a job costs before and after its work (fixed cost).
Each runs on: local processes (batchml's default), Ray actors on a running Ray head (started
here on 127.0.0.1 with 2 CPUs; the job connects to it), and, once, Ray with `address: local`
(the job starts and stops a Ray instance of its own). Medians of --repeat runs (alternating
local and Ray), and the ratios Ray / local, are printed; outputs must be identical.

    .venv/bin/python bench/backends.py [--repeat 3] [--cpu-files 200] [--noop-files 2000]
"""

from __future__ import annotations

import argparse
import os
import pickle
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batchml.backends.ray import RayOptions, factory
from batchml.runner import RunSettings, ScoringSpec, run_job

CPU_SCRIPT = """\
import glob, os, pickle
import pandas as pd

def init():
    global model
    path = glob.glob(os.path.join(os.environ["AZUREML_MODEL_DIR"], "*.pkl"))[0]
    with open(path, "rb") as f:
        model = pickle.load(f)

def run(mini_batch):
    rows = []
    for path in mini_batch:
        features = pd.read_csv(path, header=None).to_numpy()
        labels = model.predict(features)
        rows.append(f"{os.path.basename(path)} {int((labels == 7).sum())}")
    return rows
"""
NOOP_SCRIPT = """\
import os

def init():
    pass

def run(mini_batch):
    return [f"{os.path.basename(path)} 0" for path in mini_batch]
"""


def make_cpu_job(root: Path, files: int) -> tuple[Path, Path, list[Path]]:
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    digits = load_digits()
    model = RandomForestClassifier(n_estimators=200, random_state=0).fit(digits.data, digits.target)
    model_dir = root / "cpu-model"
    model_dir.mkdir()
    with open(model_dir / "forest.pkl", "wb") as handle:
        pickle.dump(model, handle)
    code_dir = root / "cpu-code"
    code_dir.mkdir()
    (code_dir / "score.py").write_text(CPU_SCRIPT)
    rng = np.random.default_rng(0)
    inputs = root / "cpu-inputs"
    inputs.mkdir()
    paths = []
    for index in range(files):
        rows = digits.data[rng.integers(0, len(digits.data), 2000)]
        path = inputs / f"file{index:04d}.csv"
        np.savetxt(path, rows + rng.normal(0, 0.5, rows.shape), fmt="%.2f", delimiter=",")
        paths.append(path)
    return code_dir, model_dir, paths


def make_noop_job(root: Path, name: str, files: int) -> tuple[Path, list[Path]]:
    code_dir = root / f"{name}-code"
    code_dir.mkdir()
    (code_dir / "score.py").write_text(NOOP_SCRIPT)
    inputs = root / f"{name}-inputs"
    inputs.mkdir()
    paths = []
    for index in range(files):
        path = inputs / f"file{index:05d}.txt"
        path.write_text(f"{index}\n")
        paths.append(path)
    return code_dir, paths


class Head:
    """`ray start --head --block` on 127.0.0.1 with 2 CPUs, stopped by stop()."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        command = [
            str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={self.port}", "--num-cpus=2",
            f"--ray-client-server-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={folder}",
        ]  # fmt: skip
        self.log = open(folder / "head.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"ray start failed; see {folder / 'head.log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def timed(job: dict[str, Any], out: Path, backend: Any) -> tuple[float, bytes]:
    started = time.perf_counter()
    result = run_job(
        job["files"],
        ScoringSpec(job["code"], "score.py", job.get("model")),
        RunSettings(
            mini_batch_size=job["mini_batch_size"], max_concurrency_per_instance=2, timeout=300
        ),
        output_dir=out / "out",
        logs_dir=out / "logs",
        backend=backend,
    )
    elapsed = time.perf_counter() - started
    if result.status != "Completed" or result.output_file is None:
        raise SystemExit(f"benchmark job {result.status}: {result.error}")
    return elapsed, result.output_file.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-files", type=int, default=200)
    parser.add_argument("--noop-files", type=int, default=2000)
    args = parser.parse_args()
    # Read by ray when it is imported (in the first Ray job): every port of the head and of
    # this driver on 127.0.0.1, and token authentication with a token of this run's own.
    os.environ.update(
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),
    )

    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as temporary:
        root = Path(temporary)
        code, model, files = make_cpu_job(root, args.cpu_files)
        jobs: dict[str, dict[str, Any]] = {
            "cpu": {"code": code, "model": model, "files": files, "mini_batch_size": 10},
        }
        for name, count in (("noop", args.noop_files), ("one", 1)):
            code, files = make_noop_job(root, name, count)
            jobs[name] = {"code": code, "files": files, "mini_batch_size": 10}
        (root / "ray").mkdir()
        head = Head(root / "ray")
        try:
            backends = {
                "local": None,
                "ray": factory(RayOptions(address=f"127.0.0.1:{head.port}")),
            }
            print(
                f"2 workers; local processes vs Ray actors on a running 2-CPU head on 127.0.0.1; "
                f"medians of {args.repeat} runs"
            )
            run = 0
            for name, job in jobs.items():
                # One untimed round each first: pyc files, Ray's worker pool and packages.
                for backend in backends.values():
                    run += 1
                    timed(job, root / f"run{run}", backend)
                times: dict[str, list[float]] = {key: [] for key in backends}
                outputs: set[bytes] = set()
                for rep in range(args.repeat):
                    order = list(backends) if rep % 2 == 0 else list(reversed(backends))
                    for key in order:
                        run += 1
                        elapsed, output = timed(job, root / f"run{run}", backends[key])
                        times[key].append(elapsed)
                        outputs.add(output)
                if len(outputs) != 1:
                    raise SystemExit(f"{name}: the backends wrote different outputs")
                local, ray = (statistics.median(times[key]) for key in ("local", "ray"))
                count = len(job["files"])
                print(
                    f"{name:5s} {count:5d} files  local {local:7.2f} s   ray {ray:7.2f} s   "
                    f"ratio ray/local {ray / local:5.2f}x"
                )
            run += 1
            # The instance's files go with the rest, not to /tmp/ray.
            os.environ["RAY_TMPDIR"] = str(root)
            elapsed, _ = timed(jobs["one"], root / f"run{run}", factory(RayOptions("local")))
            print(
                f"one       1 file   ray with address local (starts its own instance): {elapsed:.2f} s"
            )
        finally:
            head.stop()


if __name__ == "__main__":
    main()
