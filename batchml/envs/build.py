"""Building one virtualenv with uv into a given folder: pick the interpreter, create the venv,
install the requirements, record `uv pip freeze`. The cache (envs.cache) decides where and when.

Every uv command and its output go to the build log the caller names, so a failed build can be
read there; the error raised names the requirement uv could not install.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from batchml.core.errors import BatchmlError
from batchml.envs.requirements import Requirements

PACKAGES_FILE = "packages.txt"
# How often a long uv command is said to be still going (a torch install takes minutes).
PROGRESS_INTERVAL = 15.0

# uv's messages without colours or progress bars: the log is a file, and its errors are parsed.
_UV_ENV = {"NO_COLOR": "1", "UV_NO_PROGRESS": "1"}


@dataclass(frozen=True)
class Built:
    """What a build produced beyond its folder: the interpreter's version, and a sentence saying
    which interpreter was used instead of the one asked for (None when it was found)."""

    python_version: str
    note: str | None


def venv_python(folder: Path) -> Path:
    """The interpreter of the virtualenv at `folder`."""
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def build(
    folder: Path,
    requirements: Requirements,
    *,
    log: Callable[[str], None],
    build_log: Path,
    find_links: list[Path] | None,
    index: str | Literal[False] | None,
) -> Built:
    """Create a virtualenv at `folder` (which must not exist) with `requirements` installed.

    `index` is None for uv's configured index, a URL for another one, False for none (only
    `find_links`). The venv is relocatable: it is built under a temporary name, then renamed.
    `log` hears which interpreter is used when it is not the one asked for.
    """
    uv = _uv_bin()
    commands = _Commands(build_log, cwd=folder.parent, progress=log)
    interpreter, note = _interpreter(uv, requirements.python, commands)
    if note is not None:
        log(note)
    venv = [uv, "venv", "--relocatable", "--no-python-downloads", "--python", interpreter]
    failed = commands.run([*venv, str(folder)])
    if failed is not None:
        raise _failure(f"uv could not create a virtualenv ({_reason(failed)})", build_log)
    python = str(venv_python(folder))
    if requirements.packages:
        # Compiled now, as pip and an image build do: a job's workers import from a folder
        # that may not be written (PYTHONDONTWRITEBYTECODE), and compiling scipy or pandas on
        # every import makes each worker's start seconds slower.
        install = [uv, "pip", "install", "--compile-bytecode", "--python", python]
        install += [*_sources(find_links, index), "--"]
        failed = commands.run([*install, *requirements.packages])
        if failed is not None:
            raise _failure(install_error(failed, requirements.packages), build_log)
    frozen = commands.output([uv, "pip", "freeze", "--python", python])
    if frozen is None:
        raise _failure("uv pip freeze failed", build_log)
    (folder / PACKAGES_FILE).write_text(frozen)
    return Built(_version_info(folder), note)


def _uv_bin() -> str:
    try:
        from uv import find_uv_bin  # the uv package: its binary, found next to batchml's Python
    except ImportError:
        raise BatchmlError(
            "building an environment needs uv, which is not installed",
            hint="pip install 'uv>=0.5'",
        ) from None
    return find_uv_bin()


def _sources(find_links: list[Path] | None, index: str | Literal[False] | None) -> list[str]:
    options = ["--no-index"] if index is False else ["--default-index", index] if index else []
    for path in find_links or []:
        options += ["--find-links", str(path)]
    return options


def _interpreter(uv: str, request: str | None, commands: _Commands) -> tuple[str, str | None]:
    """(the interpreter to build from, the note when it is not the one asked for): a matching
    one installed (on PATH or known to uv, never downloaded), else batchml's own."""
    if request is None:
        return sys.executable, None
    found = commands.output([uv, "python", "find", "--no-python-downloads", request])
    if found and found.strip():
        return found.strip(), None
    note = (
        f"Python {request} was asked for, but no matching interpreter is installed; "
        f"using Python {platform.python_version()} ({sys.executable}) instead"
    )
    return sys.executable, note


def _version_info(folder: Path) -> str:
    """The interpreter version uv recorded in the venv's pyvenv.cfg (no process to start)."""
    for line in (folder / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "version_info":
            return value.strip()
    raise BatchmlError(f"{folder / 'pyvenv.cfg'} names no Python version")


class _Commands:
    """Runs uv commands with their output appended to the build log; while one runs, every
    PROGRESS_INTERVAL seconds `progress` hears how long it has taken and uv's last line."""

    def __init__(self, path: Path, cwd: Path, progress: Callable[[str], None]) -> None:
        self.path = path
        self.cwd = cwd  # not the user's folder: uv would read a pyproject.toml or .venv there
        self.progress = progress

    def run(self, command: list[str]) -> str | None:
        """Run `command`; None if it succeeded, else what it wrote (stdout and stderr)."""
        returncode, _, written = self._run(command, capture=False)
        return None if returncode == 0 else written

    def output(self, command: list[str]) -> str | None:
        """The stdout of `command` (its stderr goes to the log); None if it failed."""
        returncode, stdout, _ = self._run(command, capture=True)
        return stdout if returncode == 0 else None

    def _run(self, command: list[str], *, capture: bool) -> tuple[int, str, str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(f"$ {shlex.join(command)}\n".encode())
            handle.flush()
            start = handle.tell()
            with subprocess.Popen(
                command,
                stdout=subprocess.PIPE if capture else handle,
                stderr=handle,
                cwd=self.cwd,
                env={**os.environ, **_UV_ENV},
            ) as process:
                try:
                    stdout = self._wait(process, command, start, time.monotonic())
                except BaseException:  # a cancel, or an error: uv does not go on alone
                    process.kill()
                    process.wait()
                    raise
        return process.returncode, stdout.decode(errors="replace"), self._since(start)

    def _wait(
        self, process: subprocess.Popen[bytes], command: list[str], start: int, began: float
    ) -> bytes:
        """What `process` wrote to its stdout once it has ended, saying how it goes meanwhile."""
        while True:
            try:
                stdout, _ = process.communicate(timeout=PROGRESS_INTERVAL)
                return stdout or b""
            except subprocess.TimeoutExpired:
                lines = [line for line in self._since(start).splitlines() if line.strip()]
                last = f": {lines[-1].strip()}" if lines else ""
                elapsed = time.monotonic() - began
                self.progress(f"uv {command[1]} is at {elapsed:.0f} s{last}")

    def _since(self, start: int) -> str:
        """What the build log got after offset `start`."""
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode(errors="replace")


def install_error(output: str, packages: tuple[str, ...]) -> str:
    """`uv could not install <the requirements it names> (<uv's error>)`, from what a failed
    `uv pip install` of `packages` wrote (here, or on a Ray node: see backends.ray_env)."""
    named = _named(output, packages)
    what = ", ".join(named) if named else "the requirements"
    return f"uv could not install {what} ({_reason(output)})"


def has_uv_error(output: str) -> bool:
    """Whether `output` holds an error of uv's (a line `error: ...`, indented or not)."""
    return any(line.strip().startswith("error:") for line in output.splitlines())


def _error_lines(output: str) -> list[str]:
    """uv's error and its causes: the lines from the first `error:` on (indented, as another
    program quoting uv's output may)."""
    lines = [line.strip() for line in output.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    return [line for line in lines[starts[0] if starts else 0 :] if line]


def _reason(output: str) -> str:
    return " ".join(_error_lines(output)).removeprefix("error: ") or "no message"


def _named(output: str, packages: tuple[str, ...]) -> list[str]:
    """The declared requirements whose project uv's error mentions (the ones that failed, or
    whose dependencies did)."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    text = " ".join(_error_lines(output))
    words = {canonicalize_name(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)}
    named = []
    for line in packages:
        try:
            name = canonicalize_name(Requirement(line).name)
        except InvalidRequirement:
            continue  # a path or URL: uv's message (in the error) names it as it was given
        if name in words:
            named.append(line)
    return named


def _failure(what: str, build_log: Path) -> BatchmlError:
    return BatchmlError(f"the environment could not be built: {what}; the build log is {build_log}")
