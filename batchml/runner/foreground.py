"""Starting a foreground run (batchml.worker.foreground) in the interpreter of a deployment's
or a job's environment, attached to this terminal: `batch-deployment test`, `job replay`.

Its scratch files (the worker's logs, part files) go to a temporary folder that is removed
after, never to the workspace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from batchml.backends.interpreter import OtherPython

# The child's sys.path is given whole (`-I`: no PYTHONPATH, no user site-packages; `-B`: no
# __pycache__ written into the code it runs, which may be the workspace's): this
# batchml and the environment's own packages, as a job's workers have them.
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from batchml.worker.foreground import main; sys.exit(main(sys.argv[2]))"
)


def run_in_foreground(request: dict[str, Any], python: Path | None, *, rows: bool = True) -> int:
    """Run `request` (see batchml.worker.foreground) with `python` (None: this interpreter,
    with its packages); returns the foreground process's exit status. The rows go to this
    process's stdout, or nowhere if not `rows`."""
    other = OtherPython(python) if python is not None else None
    try:
        with tempfile.TemporaryDirectory(prefix="batchml-foreground-") as scratch:
            path = Path(scratch) / "request.json"
            path.write_text(json.dumps({**request, "scratch": scratch}), encoding="utf-8")
            executable = other.executable if other is not None else sys.executable
            sys_path = other.sys_path if other is not None else [p for p in sys.path if p]
            command = [executable, "-I", "-B", "-c", _BOOT, json.dumps(sys_path), str(path)]
            stdout = None if rows else subprocess.DEVNULL
            return subprocess.run(command, check=False, stdout=stdout).returncode
    finally:
        if other is not None:
            other.close()
