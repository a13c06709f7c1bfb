"""Inputs in storage: 2,000 small blobs in Azurite (the Azure Blob Storage emulator, started
here on 127.0.0.1) against the same files on local disk, through the CLI as a user runs it.

Each job: `batch-endpoint invoke --stream` (it returns when the job has ended), a no-op run()
returning one row per file, mini-batches of 10, 2 workers, in batchml's own interpreter. Three
inputs: the local folder, the datastore path with a cold input cache (every file downloaded),
and again with the cache warm (every file found there). Measured: time to the first result
(from invoke's start to the end of the first run() call, which the script stamps) and the total
time; medians of --repeat runs; ratios against the local job. Outputs must be identical. The
floor for the cold job is printed too: one adlfs `get` of every blob at once, nothing else.

    .venv/bin/python bench/remote_inputs.py [--files 200 2000] [--repeat 3]

With several --files counts, it also says how the cold first result grows with the count:
storage inputs are planned as they are listed, so it should not grow with it.
    (BATCHML_AZURITE names the azurite-blob to run, else one on PATH)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SCRIPT = """\
import os, time

def init():
    pass

def run(mini_batch):
    stamp = os.path.join(os.environ["STAMPS"], f"{os.getpid()}-{time.time()}")
    if not os.listdir(os.environ["STAMPS"]):
        open(stamp, "w").close()
    return [f"{os.path.basename(path)} 0" for path in mini_batch]
"""
DEPLOYMENT = """\
name: noop
endpoint_name: bench
type: model
model: {{name: m, path: {root}/model}}
code_configuration: {{code: {root}/code, scoring_script: score.py}}
environment: {{image: python:3.11}}
compute: azureml:cpu
settings:
  mini_batch_size: 10
  max_concurrency_per_instance: 2
  environment_variables: {{STAMPS: {root}/stamps}}
  reuse: false  # every job scores every mini-batch (the same files would be taken from the cache)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_azurite(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    command = os.environ.get("BATCHML_AZURITE") or shutil.which("azurite-blob")
    if command is None:
        sys.exit("no azurite-blob: npm install azurite@3, or set BATCHML_AZURITE")
    port = free_port()
    process = subprocess.Popen(
        [command, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
         str(folder), "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    process.kill()
    sys.exit("Azurite did not start")


def batchml(env: dict[str, str], *args: str | Path) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "batchml"), *map(str, args)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"batchml {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def timed(env: dict[str, str], root: Path, value: str, output: Path) -> tuple[float, float]:
    """(seconds to the first result, seconds in all) of one job on input `value`."""
    stamps = root / "stamps"
    shutil.rmtree(stamps, ignore_errors=True)
    stamps.mkdir()
    started = time.time()
    batchml(env, "batch-endpoint", "invoke", "-n", "bench", "--input", value, "--output-path",
            output, "--stream", "-o", "none")  # fmt: skip
    total = time.time() - started
    first = min(float(stamp.name.split("-", 1)[1]) for stamp in stamps.iterdir())
    return first - started, total


def setup(root: Path, port: int) -> dict[str, str]:
    """A workspace with the no-op deployment and the datastore on Azurite; its environment."""
    env = {**os.environ, "BATCHML_WORKSPACE": str(root / "ws"), "BATCHML_TRACKING": "off",
           "BATCHML_ENV_MANAGER": "local", "BATCHML_CACHE_DIR": str(root / "cache")}  # fmt: skip
    for folder in ("model", "code"):
        (root / folder).mkdir()
    (root / "model" / "weights.txt").write_text("w")
    (root / "code" / "score.py").write_text(SCRIPT)
    (root / "endpoint.yml").write_text("name: bench\n")
    (root / "deployment.yml").write_text(DEPLOYMENT.format(root=root))
    (root / "blobs.yml").write_text(
        f"name: blobs\ntype: azure_blob\naccount_name: {ACCOUNT}\ncontainer_name: bench\n"
        f"protocol: http\naccount_url: http://127.0.0.1:{port}/{ACCOUNT}\n"
        f"credentials:\n  account_key: {KEY}\n"
    )
    batchml(env, "compute", "create", "-n", "cpu", "--type", "amlcompute", "-o", "none")
    batchml(env, "batch-endpoint", "create", "-f", root / "endpoint.yml", "-o", "none")
    batchml(env, "batch-deployment", "create", "-f", root / "deployment.yml", "--set-default")
    batchml(env, "datastore", "create", "-f", root / "blobs.yml", "-o", "none")
    os.environ.update(env)
    return env


def measure(root: Path, env: dict[str, str], count: int, repeat: int) -> float:
    """Print the figures of `count` files (local, cold, warm); the cold first result."""
    from batchml.services import datastores
    from batchml.store.workspace import Workspace

    _, storage = datastores.filesystem(Workspace(root / "ws"), "blobs")
    if not storage.exists("bench"):
        storage.mkdir("bench")
    data, blobs = root / f"data-{count}", f"bench/in-{count}"
    data.mkdir()
    files = {f"f{index:05d}.csv": f"{index},{index * 7}\n" for index in range(count)}
    for name, text in files.items():
        (data / name).write_text(text)
    storage.pipe({f"{blobs}/{name}": text.encode() for name, text in files.items()})
    # The floor for a cold job: every blob downloaded at once, as adlfs can, and nothing else.
    bare = root / f"bare-{count}"
    bare.mkdir()
    started = time.time()
    storage.get([f"{blobs}/{name}" for name in files], [str(bare / name) for name in files])
    floor = time.time() - started
    remote = f"azureml://datastores/blobs/paths/in-{count}"
    results: dict[str, list[tuple[float, float]]] = {"local": [], "cold": [], "warm": []}
    outputs = {}
    for run in range(repeat):
        for kind, value in (("local", str(data)), ("cold", remote), ("warm", remote)):
            if kind == "cold":
                shutil.rmtree(root / "cache" / "inputs", ignore_errors=True)
            output = root / "out" / f"{count}-{kind}-{run}"
            results[kind].append(timed(env, root, value, output))
            outputs[kind] = (output / "predictions.csv").read_bytes()
    assert outputs["local"] == outputs["cold"] == outputs["warm"], "outputs differ"
    print(f"{count} files, mini_batch_size 10, 2 workers, medians of {repeat}")
    base_first = statistics.median(first for first, _ in results["local"])
    base_total = statistics.median(total for _, total in results["local"])
    for kind, label in (("local", "local disk"), ("cold", "Azurite, cold cache"),
                        ("warm", "Azurite, warm cache")):  # fmt: skip
        first = statistics.median(first for first, _ in results[kind])
        total = statistics.median(total for _, total in results[kind])
        print(
            f"{label:22} first result {first:6.2f} s ({first / base_first:4.2f}x)   "
            f"total {total:6.2f} s ({total / base_total:4.2f}x)"
        )
    cold = statistics.median(total for _, total in results["cold"])
    print(
        f"one bare adlfs get of all {count} blobs: {floor:.2f} s; the cold job's total "
        f"is {cold / floor:.2f}x that"
    )
    return statistics.median(first for first, _ in results["cold"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    process, port = start_azurite(root / "azurite")
    try:
        env = setup(root, port)
        firsts = {count: measure(root, env, count, args.repeat) for count in args.files}
        if len(firsts) > 1:
            few, many = min(firsts), max(firsts)
            print(
                f"cold first result at {many} blobs is {firsts[many] / firsts[few]:.2f}x the one "
                f"at {few} ({many / few:.0f}x the blobs)"
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
