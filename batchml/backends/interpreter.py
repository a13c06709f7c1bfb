"""Local workers run by another Python interpreter than the job's, and isolated from batchml's
own dependencies: the seam for deployments whose environment is a virtualenv of its own.

The standard library cannot do this alone. multiprocessing.set_executable() sets the
interpreter of every spawn of the process, whatever context it is called on. And a spawned
child's sys.path is the parent's, set before the parent's __main__ is imported again (as
__mp_main__) and before the process object (its target and arguments) is unpickled: another
interpreter would import the parent's site-packages, and one of another version (3.10 under
a 3.11 job) the parent's standard library too, which fails (no module named '_ctypes').

So such a worker is started by a Popen of its own, popen_spawn_posix.Popen's launch (the same
from Python 3.10 to 3.13) with three changes, made before the child unpickles anything:
- the command runs the other interpreter;
- the child's sys.path is a folder holding nothing but batchml (a link to this batchml, so
  the worker's modules and messages are the job's own; not batchml's parent folder, which is
  site-packages when batchml is installed), then the interpreter's own default path, as
  `python -I` has it: its standard library and site-packages, .pth files included; no
  PYTHONPATH, no user site-packages, no current folder;
- the parent's __main__ is not imported again. Nothing a worker is sent is defined there, and
  the caller's main module may import what the interpreter lacks (a `pytest` script does).

The same Popen starts the workers of batchml's own interpreter too (spawn_process), with the
parent's sys.path and the other two changes: importing the parent's __main__ again costs each
worker the imports of the job's runner (a tenth of a second), and no resource tracker process
is started for the workers (a worker whose own code needs one starts it, as any process does).
"""

from __future__ import annotations

import copyreg
import io
import json
import os
import subprocess
import sys
import tempfile
from multiprocessing import popen_spawn_posix, reduction, spawn, util
from multiprocessing.context import SpawnProcess, set_spawning_popen
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import batchml
from batchml.core.errors import BatchmlError

# batchml's own floor (pyproject's requires-python): its worker code must run there.
MIN_VERSION = (3, 10)

_QUERY = "import json, sys; print(json.dumps([sys.version_info[:2], sys.path]))"


class OtherPython:
    """An interpreter workers run with, and the folder that puts batchml alone on their path.

    Made once per backend: asking the interpreter for its path takes one start of it (about
    30 ms); close() removes the folder once no worker is left to import from it.
    """

    def __init__(self, python: Path) -> None:
        self.executable = str(python)
        default_path = _default_path(python)
        self._folder = tempfile.TemporaryDirectory(prefix="batchml-worker-path-")
        package = Path(batchml.__file__).parent.absolute()
        (Path(self._folder.name) / "batchml").symlink_to(package, target_is_directory=True)
        self.sys_path = [self._folder.name, *default_path]

    def process(self, **kwargs: Any) -> SpawnProcess:
        """A process (not started) that runs in this interpreter; kwargs are Process()'s."""
        return _Process(self.executable, self.sys_path, **kwargs)

    def close(self) -> None:
        self._folder.cleanup()


def spawn_process(**kwargs: Any) -> SpawnProcess:
    """A spawned process (not started) of this interpreter, with this process's sys.path, that
    neither imports this process's __main__ again nor has a resource tracker started for it;
    kwargs are Process()'s."""
    return _Process(sys.executable, None, **kwargs)


def _default_path(python: Path) -> list[str]:
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _QUERY],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        version, path = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", None)
        cause = stderr.strip().splitlines()[-1] if stderr and stderr.strip() else str(exc)
        raise BatchmlError(f"cannot run the workers' Python {python}: {cause}") from exc
    if tuple(version) < MIN_VERSION:
        raise BatchmlError(
            f"the workers' Python {python} is Python {version[0]}.{version[1]}; "
            f"batchml needs {MIN_VERSION[0]}.{MIN_VERSION[1]} or later"
        )
    return [str(entry) for entry in path]


class _Process(SpawnProcess):
    """A spawned process run by `executable` with `sys_path` (None: the parent's); see the
    module's docstring."""

    def __init__(self, executable: str, sys_path: list[str] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.executable = executable
        self.sys_path = sys_path

    @staticmethod
    def _Popen(process_obj: Any) -> popen_spawn_posix.Popen:
        return _Popen(process_obj)

    def __reduce__(self) -> tuple[Any, ...]:
        # The child gets a plain SpawnProcess, so it imports nothing of this module.
        return copyreg._reconstructor, (SpawnProcess, object, None), self.__dict__  # type: ignore[attr-defined]


class _Popen(popen_spawn_posix.Popen):
    """popen_spawn_posix.Popen, with the executable and sys.path of the _Process it starts."""

    def _launch(self, process_obj: _Process) -> None:
        fds: list[int] = self._fds  # type: ignore[attr-defined]
        fp = pickled_start(self, process_obj, process_obj.sys_path)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            command = spawn.get_command_line(pipe_handle=child_r)
            command[0] = process_obj.executable
            fds.extend([child_r, child_w])
            self.pid = util.spawnv_passfds(os.fsencode(process_obj.executable), command, fds)
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
            self.finalizer = util.Finalize(self, _close_all, to_close)
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


def pickled_start(popen: Any, process_obj: BaseProcess, sys_path: list[str] | None) -> io.BytesIO:
    """What a child started by `popen` reads first: multiprocessing's preparation data (with
    `sys_path` in place of this process's when given), then the process object; the data does
    not ask the child to import this process's __main__ again (see the module's docstring)."""
    prep_data = spawn.get_preparation_data(process_obj.name)
    if sys_path is not None:
        prep_data["sys_path"] = sys_path
    prep_data.pop("init_main_from_name", None)
    prep_data.pop("init_main_from_path", None)
    fp = io.BytesIO()
    set_spawning_popen(popen)
    try:
        reduction.dump(prep_data, fp)
        reduction.dump(process_obj, fp)
    finally:
        set_spawning_popen(None)
    return fp


def _close_all(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
