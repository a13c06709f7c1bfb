"""The disk use of cached environments (envs.inventory.usage): each inode once, and what
removing folders frees when some of their files are hard-linked from elsewhere (uv's cache)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from batchml.envs.inventory import Usage, usage


def blocks(*paths: Path) -> int:
    return sum(path.lstat().st_blocks * 512 for path in paths)


def du(path: Path) -> int:
    """Disk use as du counts it: allocated blocks, hard links once."""
    done = subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True)
    return int(done.stdout.split()[0])


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A folder with a file, a second hard link to it, a file hard-linked from outside the
    folder (tmp/elsewhere/shared), a sub-folder and a symlink."""
    folder = tmp_path / "venv"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "own.py").write_bytes(b"x" * 10000)
    os.link(folder / "lib" / "own.py", folder / "lib" / "again.py")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "shared").write_bytes(b"y" * 20000)
    os.link(tmp_path / "elsewhere" / "shared", folder / "lib" / "shared.py")
    (folder / "bin").mkdir()
    (folder / "bin" / "python").symlink_to("/usr/bin/python3")
    return folder


def test_every_inode_is_counted_once_as_du_does(venv: Path) -> None:
    found = usage([venv])
    assert found.size_bytes == du(venv)
    lib, bin_ = venv / "lib", venv / "bin"
    every = blocks(venv, lib, lib / "own.py", lib / "shared.py", bin_, bin_ / "python")
    assert found.size_bytes == every


def test_removing_frees_only_what_no_link_outside_keeps(venv: Path, tmp_path: Path) -> None:
    shared = blocks(venv / "lib" / "shared.py")
    assert usage([venv]) == Usage(du(venv), du(venv) - shared)
    # With the other link's folder, the shared file goes too (and is counted once).
    both = usage([venv, tmp_path / "elsewhere"])
    assert both == Usage(both.size_bytes, both.size_bytes)
    assert both.size_bytes == du(venv) + blocks(tmp_path / "elsewhere")


def test_a_folder_that_does_not_exist_takes_nothing(tmp_path: Path) -> None:
    assert usage([tmp_path / "gone"]) == Usage(0, 0)
