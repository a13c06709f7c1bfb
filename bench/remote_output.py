"""Publishing a job's output to a datastore: the upload step (batchml.runner.upload) against a
real Azure Blob Storage emulator, Azurite, started here on 127.0.0.1, vs publishing the same
folder on local disk (a copy), measured in one run.

Two outputs: `files`, 2,000 small files (what a summary_only script writes, one per input), and
`rows`, one 64 MiB append_row file (16 blocks). Medians of --repeat runs, and the ratios
emulator / local, are printed; what was uploaded is read back and compared.

    BATCHML_AZURITE=.../azurite-blob .venv/bin/python bench/remote_output.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from batchml.core import spec as specs
from batchml.runner.upload import upload
from batchml.services import datastores
from batchml.store.workspace import Workspace

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (published in its README, the same for everyone).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_azurite(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = os.environ.get("BATCHML_AZURITE") or shutil.which("azurite-blob")
    if command is None:
        raise SystemExit("set BATCHML_AZURITE to an azurite-blob (npm install azurite@3)")
    process = subprocess.Popen(
        [command, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
         str(folder), "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    process.kill()
    raise SystemExit("Azurite did not start")


def outputs(root: Path, files: int) -> dict[str, Path]:
    many = root / "files"
    many.mkdir(parents=True)
    for index in range(files):
        (many / f"in{index:05d}.out").write_bytes(os.urandom(100))
    one = root / "rows"
    one.mkdir(parents=True)
    (one / "predictions.csv").write_bytes(os.urandom(64 * 1024 * 1024))
    return {"files": many, "rows": one}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        azurite, port = start_azurite(root / "azurite")
        try:
            workspace = Workspace(root / "ws")
            data = {
                "name": "bench", "type": "azure_blob", "account_name": ACCOUNT,
                "container_name": "bench", "protocol": "http",
                "account_url": f"http://127.0.0.1:{port}/{ACCOUNT}",
                "credentials": {"account_key": KEY},
            }  # fmt: skip
            datastores.create(workspace, specs.Spec(data=data, source="bench", base_dir=root))
            _, storage = datastores.filesystem(workspace, "bench")
            storage.mkdir("bench")
            sources = outputs(root / "out", args.files)
            for kind, folder in sources.items():
                remote, local = [], []
                for run in range(args.repeat):
                    started = time.perf_counter()
                    target = f"azureml://datastores/bench/paths/{kind}{run}"
                    upload(workspace, folder, target, f"job{run}", lambda _line: None)
                    remote.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    shutil.copytree(folder, root / f"local-{kind}{run}")
                    local.append(time.perf_counter() - started)
                    for path in folder.iterdir():
                        blob = f"bench/{kind}{run}/{path.name}"
                        if kind == "rows" or path.name.endswith("00.out"):
                            assert storage.cat(blob) == path.read_bytes(), blob
                    assert len(storage.ls(f"bench/{kind}{run}")) == len(list(folder.iterdir()))
                r, lo = statistics.median(remote), statistics.median(local)
                print(f"{kind:6} emulator {r:7.3f} s  local copy {lo:7.3f} s  ratio {r / lo:6.1f}")
        finally:
            azurite.terminate()
            azurite.wait(30)


if __name__ == "__main__":
    main()
