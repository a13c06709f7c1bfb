"""Planning a table at an http URL (ranged reads, batchml.store.blob_ranges.HttpFile): this
tree against a baseline tree (an export of main), planned in turn in fresh processes against
the same Range-honouring HTTP/1.1 server on 127.0.0.1 (tests/integration/ranged_http.py).

Two tables: one CSV of --rows rows (bench/tabular.py's) cut by --size, so a ranged read at
each cut one after the other; and --files CSVs of a tenth of that, cut by the same size, the
files planned a few at once. Each plan is timed inside its process (imports not counted);
medians of --repeat, with the server's count of GETs and connections per plan.

    .venv/bin/python bench/http_tables.py --baseline /tmp/base [--rows 300000] [--size 100kb]
        [--files 20] [--https]   (https: a self-signed certificate made with openssl)
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

HERE = Path(__file__).resolve().parent
MANY = "paths: [{pattern: ./*.csv}]\ntransformations: [{read_delimited: {delimiter: ','}}]\n"


def plan(url: str, size: str) -> None:
    """In the child: plan the table at `url` and print the mini-batches and the seconds."""
    from batchml.core.batch_job import DataInput, RemoteData
    from batchml.runner import RunSettings, tabular
    from batchml.store.workspace import Workspace

    data = DataInput("mltable", url, "", RemoteData("http", url))
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        batches = tabular.plan(data, RunSettings(mini_batch_size=size), Workspace(Path(scratch)))
        print(len(batches), time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH)")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--size", default="100kb")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--https", action="store_true", help="serve over TLS (self-signed)")
    parser.add_argument("--plan", help=argparse.SUPPRESS)  # the child: a table's URL
    args = parser.parse_args()
    if args.plan:
        plan(args.plan, args.size)
        return
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "integration")]
    from interleaved import load, trees
    from ranged_http import certificate, served
    from tabular import write_table

    with tempfile.TemporaryDirectory(prefix="batchml-bench-http-") as scratch:
        root = Path(scratch)
        big = write_table(root / "one", args.rows)
        (root / "many").mkdir()
        part = big.read_bytes()[: big.stat().st_size // 10].rpartition(b"\n")[0] + b"\n"
        for index in range(args.files):
            (root / "many" / f"part{index:03}.csv").write_bytes(part)
        (root / "many" / "MLTable").write_text(MANY)
        tls = certificate(root) if args.https else None
        env = {**os.environ, **({"SSL_CERT_FILE": str(tls)} if tls else {})}
        envs = trees(args.baseline, env)
        print(f"load {load()}; {big.stat().st_size / 1e6:.1f} MB CSV; {args.files} files of "
              f"{len(part) / 1e6:.1f} MB; by {args.size}")  # fmt: skip
        with served(root, tls=tls) as site:
            for table in ("one", "many"):
                seconds: dict[str, list[float]] = {label: [] for label in envs}
                asked: dict[str, tuple[int, int]] = {}
                for _ in range(args.repeat):
                    for label, env in envs.items():
                        gets, connections = len(site.asked), len(site.connections)
                        out = subprocess.run(
                            [sys.executable, __file__, "--plan", f"{site.url}/{table}",
                             "--size", args.size],
                            env=env, check=True, capture_output=True, text=True,
                        ).stdout.split()  # fmt: skip
                        seconds[label].append(float(out[1]))
                        asked[label] = (
                            len(site.asked) - gets, len(site.connections) - connections
                        )  # fmt: skip
                medians = {label: statistics.median(times) for label, times in seconds.items()}
                for label, median in medians.items():
                    ratio = ""
                    if label != "baseline" and "baseline" in medians:
                        ratio = f"  ({median / medians['baseline']:.2f}x baseline)"
                    gets, connections = asked[label]
                    print(
                        f"  {table:<5} {label:<9} {out[0]} mini-batches, plan {median:.3f} s, "
                        f"{gets} GETs on {connections} connections{ratio}"
                    )
        print(f"load {load()}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
