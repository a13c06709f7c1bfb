"""The per-user cache of built environments, shared by all workspaces, as Azure caches the image
it builds from a conda file: one uv virtualenv per distinct set of requirements.

The cache root (cache_root()) holds:
  <key>/                          a complete environment, never written once it has this name
    batchml-environment.json      written last: what it was built from and with; its mtime is
                                  when the environment was last used (touched at each reuse)
    packages.txt                  its `uv pip freeze`
  .<key>.lock                     held (exclusive) while <key> is built or removed: concurrent
                                  jobs build it once; held shared by each job's runner using it
  .<key>.<pid>.<random>.tmp/      a build in progress, a removal in progress, or the remains of
                                  a killed one

A build happens in a temp folder renamed to <key> once complete, so a folder named <key> is
always whole; a killed build leaves only its temp folder, which the next build removes. A
removal (envs.inventory) renames <key> to a temp folder first, for the same reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from batchml.core.errors import WorkspaceLockedError
from batchml.envs.build import PACKAGES_FILE, build, venv_python
from batchml.envs.requirements import Requirements
from batchml.store.fs import fsync_dir, read_json, user_cache_dir, write_json
from batchml.store.lock import file_lock

MARKER = "batchml-environment.json"
# Part of every key: a change to how environments are laid out makes new ones.
FORMAT = 2  # 2: installed with bytecode compiled
# How long a job waits for another's build of the same environment (a torch one takes minutes).
DEFAULT_WAIT = 3600.0

_TEMP = re.compile(r"^\.(?P<key>[0-9a-f]{64})\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


@dataclass(frozen=True)
class BuiltEnvironment:
    """A complete environment: its folder and interpreter, the Python version it has, its key,
    whether it was already built, and the note saying which interpreter was used instead of
    the one asked for (None when it was found)."""

    path: Path
    python: Path
    python_version: str
    key: str
    reused: bool
    note: str | None

    def packages(self) -> list[str]:
        """What is installed in it, as `uv pip freeze` listed it when it was built."""
        return installed(self.path)


def installed(folder: Path) -> list[str]:
    """What is installed in the environment at `folder`, as `uv pip freeze` listed it when it
    was built (OSError if it has no such list)."""
    lines = (folder / PACKAGES_FILE).read_text().splitlines()
    return [line for line in lines if line.strip()]


def cache_root() -> Path:
    """Where environments are kept: BATCHML_CACHE_DIR/envs, else the user's cache folder
    ($XDG_CACHE_HOME, else ~/.cache)/batchml/envs."""
    return user_cache_dir("envs")


def current_platform() -> str:
    """What a built environment is specific to besides its Python: implementation and OS/CPU."""
    return f"{sys.implementation.name}-{sysconfig.get_platform()}"


def environment_key(requirements: Requirements, python_version: str, platform: str) -> str:
    """The sha256 of what decides an environment's content: its requirements (order and
    repeats aside), the Python version it is asked to have, and the platform."""
    document = {
        "format": FORMAT,
        "packages": sorted({line.strip() for line in requirements.packages}),
        "platform": platform,
        "python": python_version,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_of(requirements: Requirements) -> str:
    """The key of the environment `requirements` ask for on this machine: their Python (or
    batchml's, major.minor), on this platform."""
    python_version = requirements.python or "{}.{}".format(*sys.version_info[:2])
    return environment_key(requirements, python_version, current_platform())


def lock_path(key: str) -> Path:
    """The lock of environment `key`: exclusive while it is built or removed."""
    return cache_root() / f".{key}.lock"


def ensure(
    requirements: Requirements,
    *,
    log: Callable[[str], None],
    build_log: Path,
    find_links: list[Path] | None = None,
    index: str | Literal[False] | None = None,
    wait: float = DEFAULT_WAIT,
    hold: bool = False,
) -> BuiltEnvironment:
    """The environment of `requirements`, built unless the cache has it.

    A cached one is reused at once, with no lock and no uv command. Otherwise the key's lock
    is taken (waiting up to `wait` s for another build of it), the cache checked again, and
    the environment built, its uv output appended to `build_log`. `find_links` and `index`
    are passed to uv (envs.build.build). Progress and the interpreter used go to `log`.

    With `hold`, this process holds the key's lock shared for the rest of its life, so that
    the environment is not removed while it is in use (a job's runner holds it so).
    """
    while True:
        environment = _ensure(requirements, log, build_log, find_links, index, wait)
        if not hold or _hold(environment):
            return environment
        log(f"environment {environment.key[:12]} was removed meanwhile; finding it again")


def _ensure(
    requirements: Requirements,
    log: Callable[[str], None],
    build_log: Path,
    find_links: list[Path] | None,
    index: str | Literal[False] | None,
    wait: float,
) -> BuiltEnvironment:
    key = key_of(requirements)
    root = cache_root()
    folder = root / key
    marker = read_marker(folder)
    if marker is not None:
        return _reused(folder, key, marker, log)
    root.mkdir(parents=True, exist_ok=True)
    for pid in _builders(root, key):
        log(f"waiting for process {pid}, which is building environment {key[:12]}")

    def locked(waited: float) -> WorkspaceLockedError:
        return WorkspaceLockedError(
            f"environment {key[:12]} was still being built by another process after {waited:g} s",
            hint="wait for that build to finish, then run again",
        )

    with file_lock(lock_path(key), wait, locked):
        marker = read_marker(folder)
        if marker is not None:
            return _reused(folder, key, marker, log)
        _sweep(root, key)
        if folder.exists():  # a folder without a readable marker was not made by a build
            shutil.rmtree(folder)
        return _build(requirements, folder, key, log, build_log, find_links, index)


def _build(
    requirements: Requirements,
    folder: Path,
    key: str,
    log: Callable[[str], None],
    build_log: Path,
    find_links: list[Path] | None,
    index: str | Literal[False] | None,
) -> BuiltEnvironment:
    temp = folder.parent / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    count = len(requirements.packages)
    asked = f"Python {requirements.python}" if requirements.python else "batchml's Python"
    what = f"{count} requirement{'' if count == 1 else 's'}, {asked}"
    log(f"building environment {key[:12]} ({what}); log: {build_log}")
    started = time.monotonic()
    try:
        built = build(
            temp, requirements, log=log, build_log=build_log, find_links=find_links, index=index
        )
        marker = {
            "format": FORMAT,
            "key": key,
            "python_request": requirements.python,
            "python_version": built.python_version,
            "packages": list(requirements.packages),
            "platform": current_platform(),
            "note": built.note,
            "built": time.time(),
        }
        write_json(temp / MARKER, marker)
        os.replace(temp, folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    log(f"built environment {key[:12]} in {time.monotonic() - started:.1f} s")
    return _environment(folder, key, built.python_version, built.note, reused=False)


def _hold(environment: BuiltEnvironment) -> bool:
    """Hold the lock of `environment` shared until this process ends (the kernel lets go of
    it then), once no build or removal of it holds it; False, holding nothing, if it was
    removed before that. In a cache this user cannot write (one shared read-only), the lock is
    held through a read-only descriptor, or not at all if it has no lock file: no one who
    can remove it is this process's concern then."""
    path = lock_path(environment.key)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return read_marker(environment.path) is not None
    fcntl.flock(fd, fcntl.LOCK_SH)
    if read_marker(environment.path) is None:
        os.close(fd)
        return False
    return True  # fd stays open, not inherited by workers: the lock lasts as long as we do


def find(requirements: Requirements) -> BuiltEnvironment | None:
    """The environment of `requirements` if the cache has it built, changing nothing (for a
    plan: no lock, no time refreshed); None if it has not."""
    key = key_of(requirements)
    folder = cache_root() / key
    marker = read_marker(folder)
    if marker is None:
        return None
    return _environment(
        folder, key, str(marker.get("python_version")), marker.get("note"), reused=True
    )


def _reused(
    folder: Path, key: str, marker: dict[str, Any], log: Callable[[str], None]
) -> BuiltEnvironment:
    version, note = str(marker.get("python_version")), marker.get("note")
    with contextlib.suppress(OSError):  # when it was last used; a read-only cache is no error
        os.utime(folder / MARKER)
    log(f"environment {key[:12]} is built (Python {version}); reusing {folder}")
    if note:
        log(note)
    return _environment(folder, key, version, note, reused=True)


def _environment(
    folder: Path, key: str, version: str, note: str | None, *, reused: bool
) -> BuiltEnvironment:
    return BuiltEnvironment(folder, venv_python(folder), version, key, reused, note)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of a complete environment; None if there is none (or it cannot be read)."""
    try:
        marker = read_json(folder / MARKER)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _temp_folders(root: Path) -> list[tuple[Path, str, int]]:
    """(folder, key, builder pid) of each build in progress or left by a killed one."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in root.iterdir():
            match = _TEMP.match(entry.name)
            if match is not None:
                found.append((entry, match["key"], int(match["pid"])))
    return found


def _builders(root: Path, key: str) -> list[int]:
    """The other live processes building `key` now."""
    found = _temp_folders(root)
    return [pid for _, k, pid in found if k == key and pid != os.getpid() and _alive(pid)]


def stale_folders(root: Path, key: str | None = None) -> list[Path]:
    """What killed builds (and removals) left: the temp folders whose process is gone, and
    every temp folder of `key`, whose lock the caller holds (so none of them is in use)."""
    return [temp for temp, other, pid in _temp_folders(root) if other == key or not _alive(pid)]


def _sweep(root: Path, key: str) -> None:
    """Remove what killed builds left (stale_folders), `key`'s lock held."""
    for temp in stale_folders(root, key):
        shutil.rmtree(temp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
