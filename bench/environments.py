"""B4 environments: building a deployment's environment with uv, then reusing it from the cache.

Builds the environment of a conda file (default: the digits sample's) into a fresh cache folder,
then asks for it again, and prints both times and the reuse as a ratio to starting the current
interpreter (`python -c pass`), the least any job pays for its workers. Needs the package index
the machine's pip and uv are configured with.

    .venv/bin/python bench/environments.py [--conda FILE] [--repeat 5]
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

from batchml.core import spec as specs
from batchml.envs import cache, requirements

DIGITS = (
    Path(__file__).resolve().parents[1] / "samples/digits/deployment-svc/environment/conda.yaml"
)


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


if __name__ == "__main__":
    main()
