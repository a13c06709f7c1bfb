"""CLI latency: `batchml batch-endpoint show` against `python -c pass`, measured in the same run.

Creates a temporary workspace with one endpoint (through the CLI), then times each command as a
fresh process (the venv's `batchml` console script) and prints the medians, the ratio and the
difference against the interpreter's own start-up. Goal: `show` under 0.3 s. It also runs the
show path under `python -X importtime` and lists what it imports, so that a slow start can be
traced to a module; pandas, pyarrow, ray, mlflow, jsonschema and yaml must not be among them.

    .venv/bin/python bench/cli_latency.py [--repeat 15]

Exit code 1 when the goal is missed or a heavy module is imported on the show path.
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

GOAL_SECONDS = 0.3
HEAVY = ("pandas", "pyarrow", "ray", "mlflow", "jsonschema", "yaml")
ENDPOINT = "bench-endpoint"


def timed(command: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of `command` over `repeat` runs, after one warm-up run."""
    samples = []
    for index in range(repeat + 1):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        if index:  # the first run warms the file cache and the .pyc files
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def import_profile(show_args: list[str], env: dict[str, str]) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) for every module the show path imports."""
    code = f"from batchml.cli.app import run; run({show_args!r})"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    profile = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        profile.append((int(cumulative), name))
    return profile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per command")
    args = parser.parse_args()

    batchml = str(Path(sys.executable).parent / "batchml")
    with tempfile.TemporaryDirectory(prefix="batchml-bench-") as tmp:
        env = {
            **os.environ,
            "BATCHML_WORKSPACE": str(Path(tmp) / "ws"),
            "BATCHML_CONFIG_DIR": str(Path(tmp) / "config"),
        }
        spec = Path(tmp) / "endpoint.yml"
        spec.write_text(f"name: {ENDPOINT}\ndescription: latency benchmark\n")
        subprocess.run(
            [batchml, "batch-endpoint", "create", "-f", str(spec), "-o", "none"],
            env=env,
            check=True,
        )
        show_args = ["batch-endpoint", "show", "-n", ENDPOINT]
        baseline = timed([sys.executable, "-c", "pass"], env, args.repeat)
        help_time = timed([batchml, "--help"], env, args.repeat)
        show_time = timed([batchml, *show_args], env, args.repeat)
        profile = import_profile([*show_args, "-o", "none"], env)

    print(f"median of {args.repeat} runs each")
    print(f"  python -c pass               {baseline:.3f} s")
    for label, seconds in (
        ("batchml --help", help_time),
        ("batchml batch-endpoint show", show_time),
    ):
        print(
            f"  {label:<28} {seconds:.3f} s  ({seconds / baseline:.1f}x python -c pass, "
            f"+{seconds - baseline:.3f} s)"
        )
    top_level = {name.strip().split(".")[0] for _, name in profile}
    heavy = sorted(top_level.intersection(HEAVY))
    print("slowest imports on the show path (cumulative):")
    for cumulative, name in sorted(profile, reverse=True)[:8]:
        print(f"  {cumulative / 1000:7.1f} ms  {name.strip()}")
    print(f"heavy modules imported by show: {', '.join(heavy) if heavy else 'none'}")
    on_goal = show_time < GOAL_SECONDS
    verdict = "meets" if on_goal else "MISSES"
    print(f"show {verdict} the goal of {GOAL_SECONDS} s ({show_time:.3f} s)")
    return 0 if on_goal and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
