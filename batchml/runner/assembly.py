"""The append_row output: the rows of the journal's succeeded mini-batches, in mini-batch order,
published atomically as one file.

The file is made under a temporary name beside its place and renamed once the journal says the
file is this job's: a hard link to the journal's rows.bin when that holds exactly the output
(its lines are then on disk once, not twice), else a copy of its lines in mini-batch order,
fsynced. Publishing again (after a crash while assembling, or when a resumed job ends) makes
the same file from the journal alone and replaces the earlier one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from batchml.core.errors import ConflictError
from batchml.store.fs import fsync_dir

if TYPE_CHECKING:
    from pathlib import Path

    from batchml.runner.journal import Journal

_BUFFER = 1024 * 1024


def check_output(path: Path, published: bool = False) -> None:
    """Refuse to write over a file that this job's journal did not publish."""
    if path.exists() and not published:
        raise ConflictError(
            f"output file already exists: {path}",
            hint="use a new output folder or another output_file_name, or delete the file",
        )


def publish(journal: Journal, path: Path) -> Path:
    """Write the journal's rows to `path`, replacing only a file this journal published.

    Raises OSError naming what could not be written, JournalError or ConflictError.
    """
    temporary = path.with_name(f".{path.name}.batchml.tmp")
    try:
        # Whatever a crash left under that name goes, even a link elsewhere.
        temporary.unlink(missing_ok=True)
        if not journal.link_rows(temporary):
            _copy_rows(journal, temporary)
        check_output(path, journal.published)
        # Commits the journal, rows first: a linked output is on disk from here on.
        journal.mark_published()
        os.replace(temporary, path)
        # Renaming a link over another name of the same file leaves both names (rename(2)).
        temporary.unlink(missing_ok=True)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _copy_rows(journal: Journal, temporary: Path) -> None:
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with open(fd, "wb", buffering=_BUFFER) as out:
        for chunk in journal.rows_in_order():
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
