"""CLI latency: `batchml --help` and `batchml batch-endpoint show` against `python -c pass`,
measured in the same run; also `job show` and `job stream` of a finished job (20 files), the
end of every `invoke` + `job stream` (bench/end_to_end.py), without a goal of their own.

Creates a temporary workspace with one endpoint (through the CLI), then times each command as a
fresh process (the venv's `batchml` console script) and prints the medians of wall and CPU
time, and the difference against the interpreter's own start-up. With --baseline (a tree such
as an export of main), each command is also run with PYTHONPATH at that tree, in turn with this
one, and the ratios are printed. Goal (issue 16): both under 0.3 s. It also runs the show path
under `python -X importtime` and lists what it imports, so that a slow start can be traced to
a module; pandas, pyarrow, ray, mlflow, jsonschema and yaml must not be among them.

    .venv/bin/python bench/cli_latency.py [--repeat 15] [--baseline /tmp/main-export]

Exit code 1 when the goal is missed or a heavy module is imported on the show path.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from end_to_end import ENDPOINT as JOB_ENDPOINT
from end_to_end import make_project
from interleaved import bytecode, compared, interleaved, load, trees

GOAL_SECONDS = 0.3
HEAVY = ("pandas", "pyarrow", "ray", "mlflow", "jsonschema", "yaml")
ENDPOINT = "bench-endpoint"


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


def finished_job(root: Path, env: dict[str, str]) -> str:
    """A job of 20 files in the workspace of `env`, run to its end; its name."""
    saved = dict(os.environ)
    os.environ.update(env, BATCHML_ENV_MANAGER="local", BATCHML_TRACKING="off")
    try:
        root.mkdir()
        make_project(root, 20, 10, 2)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    batchml = str(Path(sys.executable).parent / "batchml")
    invoke = [batchml, "batch-endpoint", "invoke", "-n", JOB_ENDPOINT, "--input", str(root / "data"),
              "--query", "name", "-o", "tsv"]  # fmt: skip
    name = subprocess.run(invoke, env=env, check=True, capture_output=True, text=True).stdout
    stream = [batchml, "job", "stream", "-n", name.strip()]
    subprocess.run(stream, env=env, check=True, capture_output=True)
    return name.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per command")
    parser.add_argument("--baseline", help="a tree to compare with (PYTHONPATH), e.g. main's")
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
        env.update(BATCHML_ENV_MANAGER="local", BATCHML_TRACKING="off", BENCH_MARKS=tmp)
        job = finished_job(Path(tmp) / "job", env)
        envs = trees(args.baseline, env)
        timings = {
            "python -c pass": interleaved([sys.executable, "-c", "pass"], envs, args.repeat),
            "batchml --help": interleaved([batchml, "--help"], envs, args.repeat),
            "batchml batch-endpoint show": interleaved([batchml, *show_args], envs, args.repeat),
        }
        goals = list(timings)[1:]
        for command in ("show", "stream"):
            timings[f"batchml job {command}"] = interleaved(
                [batchml, "job", command, "-n", job], envs, args.repeat
            )
        profile = import_profile([*show_args, "-o", "none"], env)

    print(f"median of {args.repeat} runs each, load {load()} at the end; {bytecode()}")
    for label, timing in timings.items():
        print(compared(label, timing))
    top_level = {name.strip().split(".")[0] for _, name in profile}
    heavy = sorted(top_level.intersection(HEAVY))
    print("slowest imports on the show path (cumulative):")
    for cumulative, name in sorted(profile, reverse=True)[:8]:
        print(f"  {cumulative / 1000:7.1f} ms  {name.strip()}")
    print(f"heavy modules imported by show: {', '.join(heavy) if heavy else 'none'}")
    mine = {label: timing["this tree"] for label, timing in timings.items()}
    on_goal = all(mine[label].wall < GOAL_SECONDS for label in goals)
    verdict = "meet" if on_goal else "MISS"
    print(f"--help and show {verdict} the goal of {GOAL_SECONDS} s (wall; see CPU under load)")
    return 0 if on_goal and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
