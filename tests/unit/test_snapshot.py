"""Snapshots of code and model folders take only what is in the folder."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from batchml.core.errors import UsageError
from batchml.store.snapshot import copy_tree


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    (folder / "pkg").mkdir(parents=True)
    (folder / "score.py").write_text("def run(b):\n    return b\n")
    (folder / "score.py").chmod(0o750)
    (folder / "pkg" / "util.py").write_text("X = 1\n")
    return folder


def test_files_folders_and_modes_are_copied(code: Path, tmp_path: Path) -> None:
    copy_tree(code, tmp_path / "copy")
    assert (tmp_path / "copy" / "pkg" / "util.py").read_text() == "X = 1\n"
    assert (tmp_path / "copy" / "score.py").stat().st_mode & 0o777 == 0o750


def test_a_link_inside_the_folder_stays_a_link(code: Path, tmp_path: Path) -> None:
    (code / "alias.py").symlink_to("pkg/util.py")
    (code / "pkg_link").symlink_to(code / "pkg")
    copy_tree(code, tmp_path / "copy")
    assert os.readlink(tmp_path / "copy" / "alias.py") == "pkg/util.py"
    assert (tmp_path / "copy" / "alias.py").read_text() == "X = 1\n"
    assert (tmp_path / "copy" / "pkg_link").is_symlink()


@pytest.mark.parametrize("outside", ["/etc/passwd", "/etc/ssl", "../../secret.txt"])
def test_a_link_outside_the_folder_is_refused(code: Path, tmp_path: Path, outside: str) -> None:
    (tmp_path / "secret.txt").write_text("secret\n")
    (code / "pkg" / "leak").symlink_to(outside)
    with pytest.raises(UsageError, match=r"pkg/leak is a symbolic link to .*, outside "):
        copy_tree(code, tmp_path / "copy")


def test_a_dangling_link_is_refused(code: Path, tmp_path: Path) -> None:
    (code / "gone").symlink_to(code / "nothing")
    with pytest.raises(UsageError, match="gone is a dangling symbolic link"):
        copy_tree(code, tmp_path / "copy")


def test_a_link_loop_is_refused(code: Path, tmp_path: Path) -> None:
    (code / "a").symlink_to("b")
    (code / "b").symlink_to("a")
    with pytest.raises(UsageError, match="is a symbolic link loop"):
        copy_tree(code, tmp_path / "copy")


def test_a_fifo_and_a_socket_are_refused(code: Path, tmp_path: Path) -> None:
    os.mkfifo(code / "pipe")
    with pytest.raises(UsageError, match=r"pipe is not a file or folder \(a FIFO\)"):
        copy_tree(code, tmp_path / "copy")
    (code / "pipe").unlink()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(code / "sock"))
        with pytest.raises(UsageError, match=r"sock is not a file or folder \(a socket\)"):
            copy_tree(code, tmp_path / "copy2")
    finally:
        server.close()


def test_the_folder_itself_may_not_be_a_link(code: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(code)
    with pytest.raises(UsageError, match="link is a symbolic link; give the file or folder"):
        copy_tree(tmp_path / "link", tmp_path / "copy")


def test_a_sparse_file_stays_sparse(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    with open(model / "weights.bin", "wb") as handle:
        handle.write(b"head")
        handle.seek(1024**3)
        handle.write(b"tail")
    if (model / "weights.bin").stat().st_blocks * 512 > 64 * 1024**2:
        pytest.skip("this file system does not keep holes")
    copy_tree(model, tmp_path / "copy")
    copied = tmp_path / "copy" / "weights.bin"
    assert copied.stat().st_size == 1024**3 + 4
    assert copied.stat().st_blocks * 512 < 64 * 1024**2
    with open(copied, "rb") as handle:
        assert handle.read(4) == b"head"
        handle.seek(1024**3)
        assert handle.read() == b"tail"
