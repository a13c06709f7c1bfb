"""Copying a user's code or model folder into the workspace, taking only what is in it.

A snapshot holds the folder's own files and nothing else: a symbolic link that points inside
the folder is copied as a link (never dereferenced, so it keeps pointing inside the copy); one
that points outside it, a dangling link, a link loop, and anything that is not a file, folder
or link (a FIFO, a socket, a device) are refused with an error naming the path. Files are
copied with their holes, so a sparse file stays sparse; or, for a copy of batchml's own
snapshots (which are replaced, never changed in place), hard-linked.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from batchml.core.errors import UsageError

# Bytes copied per system call for the data of a file.
_CHUNK = 8 * 1024 * 1024


def copy_tree(source: Path, target: Path, *, link: bool = False) -> None:
    """Copy the file or folder `source` to `target` (which must not exist); with `link`, its
    files are hard links where the file system allows them."""
    root = source.absolute()
    if source.is_symlink():
        raise UsageError(
            f"{source} is a symbolic link; give the file or folder it points to",
            hint=f"it points to {os.readlink(source)}",
        )
    _copy_entry(root, target, root, link)


def _copy_entry(path: Path, target: Path, root: Path, link: bool) -> None:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        _copy_link(path, target, root)
    elif stat.S_ISDIR(mode):
        target.mkdir()
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                _copy_entry(path / entry.name, target / entry.name, root, link)
        shutil.copystat(path, target)
    elif stat.S_ISREG(mode):
        if not (link and _hard_link(path, target)):
            copy_file(path, target)
    else:
        raise UsageError(
            f"{path} is not a file or folder ({_kind(mode)}); batchml snapshots only files",
            hint=f"move it out of {root}",
        )


def _copy_link(path: Path, target: Path, root: Path) -> None:
    link = os.readlink(path)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
        what = "a symbolic link loop" if loop else "a dangling symbolic link"
        raise UsageError(
            f"{path} is {what} (-> {link})", hint="remove it or fix its target"
        ) from None
    real_root = root.resolve()
    if resolved != real_root and not resolved.is_relative_to(real_root):
        raise UsageError(
            f"{path} is a symbolic link to {resolved}, outside {root}; batchml does not copy "
            "what a link points to outside the folder",
            hint="copy the file into the folder instead of linking to it",
        )
    os.symlink(link, target)


def _hard_link(path: Path, target: Path) -> bool:
    try:
        os.link(path, target)
    except OSError:  # another file system, too many links, or links not allowed: copy
        return False
    return True


def copy_file(source: Path, target: Path) -> None:
    """Copy a regular file with its permission bits and times; holes stay holes."""
    with open(source, "rb") as reading, open(target, "wb") as writing:
        size = os.fstat(reading.fileno()).st_size
        for start, end in _data_ranges(reading.fileno(), size):
            _copy_range(reading.fileno(), writing.fileno(), start, end)
        writing.truncate(size)
    shutil.copystat(source, target)


def _data_ranges(fd: int, size: int) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of `fd` that hold data, skipping holes where the file
    system says where they are."""
    if not hasattr(os, "SEEK_DATA"):
        return [(0, size)]
    ranges, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole from here to the end
                break
            return [(0, size)]  # the file system cannot tell: copy everything
        end = os.lseek(fd, start, os.SEEK_HOLE)
        ranges.append((start, end))
        offset = end
    return ranges


def _copy_range(reading: int, writing: int, start: int, end: int) -> None:
    offset = start
    while offset < end:
        data = os.pread(reading, min(_CHUNK, end - offset), offset)
        if not data:
            break
        os.pwrite(writing, data, offset)
        offset += len(data)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "an unknown kind of file")
