"""Tabular inputs: what splitting one big CSV into mini-batches of rows costs, against reading
it whole with the same library (pyarrow's CSV reader), measured in the same run.

One CSV of --rows rows (5 columns, quoted text, floats) in an MLTable folder:
  plan    batchml.runner.tabular.plan, by size (--size) and by rows (--per-batch rows)
  read    every mini-batch's DataFrame, one after the other, in this process, against one
          pyarrow.csv.read_csv(...).to_pandas() of the whole file (the baseline)
  job     run_job on the planned row ranges (2 workers, run() returns the frame's ids), against
          the same job with the whole file as one mini-batch ("1000gb")
  storage (--storage) the same plans of the same table in Azurite (a datastore path, ranged
          downloads), and its plan by partition_keys ("key": the blob downloaded into the
          input cache once, then found there), against the plans of the local table in the
          same run
Medians of --repeat runs; ratios are against the baseline of the same run.

    .venv/bin/python bench/tabular.py [--rows 1000000] [--size 10mb] [--per-batch 100000]
        [--storage]   (needs azurite-blob: BATCHML_AZURITE, as bench/remote_inputs.py)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from batchml.core.batch_job import DataInput
from batchml.runner import RunSettings, ScoringSpec, run_job, tabular
from batchml.worker.tabular import mini_batch_frame

SCRIPT = """\
def init():
    pass

def run(frame):
    return frame[["id"]]
"""

TABLE = "paths: [{file: big.csv}]\ntransformations: [{read_delimited: {delimiter: ','}}]\n"


def timed(action: Any, repeat: int) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def write_table(folder: Path, rows: int) -> Path:
    import numpy as np
    import pandas as pd

    ids = np.arange(rows)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": [f'item "{i}", size {i % 7}' for i in ids],
            "value": ids / 8,
            "key": ids % 3,
            "note": np.where(ids % 5 == 0, "", "n"),
        }
    )
    folder.mkdir()
    frame.to_csv(folder / "big.csv", index=False)
    (folder / "MLTable").write_text(TABLE)
    return folder / "big.csv"


def job(root: Path, data: DataInput, size: str, tag: str) -> float:
    code = root / "code"
    code.mkdir(exist_ok=True)
    (code / "score.py").write_text(SCRIPT)
    settings = RunSettings(mini_batch_size=size, max_concurrency_per_instance=2, timeout=600)
    batches = tabular.plan(data, settings)
    started = time.perf_counter()
    result = run_job(
        batches,
        ScoringSpec(code, "score.py", None),
        settings,
        output_dir=root / f"out-{tag}",
        logs_dir=root / f"logs-{tag}",
    )
    assert result.status == "Completed", result.error
    return time.perf_counter() - started


def storage(root: Path, table: Path, sizes: tuple[str, ...], repeat: int) -> None:
    """The plans of `table` from Azurite against those of the local table, alternately."""
    import os
    import signal

    from remote_inputs import ACCOUNT, KEY, batchml, start_azurite

    from batchml.core.batch_job import RemoteData
    from batchml.services import datastores
    from batchml.store.workspace import Workspace

    process, port = start_azurite(root / "azurite")
    try:
        env = {**os.environ, "BATCHML_WORKSPACE": str(root / "ws")}
        (root / "blobs.yml").write_text(
            f"name: blobs\ntype: azure_blob\naccount_name: {ACCOUNT}\ncontainer_name: bench\n"
            f"protocol: http\naccount_url: http://127.0.0.1:{port}/{ACCOUNT}\n"
            f"credentials:\n  account_key: {KEY}\n"
        )
        batchml(env, "datastore", "create", "-f", root / "blobs.yml", "-o", "none")
        workspace = Workspace(root / "ws")
        _, fs = datastores.filesystem(workspace, "blobs")
        fs.mkdir("bench")
        fs.pipe({f"bench/t/{path.name}": path.read_bytes() for path in table.iterdir()})
        local = DataInput("mltable", str(table), str(table))
        remote = DataInput(
            "mltable",
            "azureml://datastores/blobs/paths/t",
            "",
            RemoteData("az", "bench/t", datastore="blobs"),
        )
        cases = [(size, RunSettings(mini_batch_size=size)) for size in sizes]
        cases.append(("key", RunSettings(partition_keys=["key"])))
        for size, settings in cases:
            times: dict[str, list[float]] = {"local": [], "storage": []}
            counts = {}
            for _ in range(repeat):
                for kind, data in (("local", local), ("storage", remote)):
                    started = time.perf_counter()
                    counts[kind] = len(tabular.plan(data, settings, workspace))
                    times[kind].append(time.perf_counter() - started)
            assert counts["local"] == counts["storage"], counts
            here, there = (statistics.median(times[kind]) for kind in ("local", "storage"))
            print(
                f"{size:>12} in storage: {counts['storage']} mini-batches, plan {there:.3f} s "
                f"against {here:.3f} s local ({there / here:.1f} x)"
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--size", default="10mb")
    parser.add_argument("--per-batch", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--storage", action="store_true", help="plan from Azurite too")
    args = parser.parse_args()
    import pyarrow.csv as pacsv

    with tempfile.TemporaryDirectory(prefix="batchml-bench-tabular-") as scratch:
        root = Path(scratch)
        csv = write_table(root / "table", args.rows)
        data = DataInput("mltable", str(csv.parent), str(csv.parent))
        megabytes = csv.stat().st_size / 1e6
        print(f"{csv.name}: {args.rows:,} rows, {megabytes:.1f} MB")
        whole, _ = timed(lambda: pacsv.read_csv(csv).to_pandas(), args.repeat)
        print(f"baseline  read_csv of the whole file: {whole:.3f} s")
        for size in (args.size, f"{args.per_batch} rows"):
            plan_s, batches = timed(
                lambda size=size: tabular.plan(data, RunSettings(mini_batch_size=size)),
                args.repeat,
            )
            read_s, frames = timed(
                lambda batches=batches: [mini_batch_frame(batch) for batch in batches], 1
            )
            assert sum(len(frame) for frame in frames) == args.rows
            print(
                f"{size:>12}: {len(batches)} mini-batches, plan {plan_s:.3f} s "
                f"({plan_s / whole:.3f} x baseline), read all {read_s:.3f} s "
                f"({read_s / whole:.2f} x baseline)"
            )
        if args.storage:
            storage(root, csv.parent, (args.size, f"{args.per_batch} rows"), args.repeat)
        split = job(root, data, args.size, "split")
        one = job(root, data, "1000gb", "one")
        print(
            f"job, 2 workers: {args.size} row ranges {split:.2f} s, one mini-batch {one:.2f} s "
            f"(ratio {split / one:.2f})"
        )


if __name__ == "__main__":
    main()
