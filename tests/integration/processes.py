"""Which processes are still alive: the checks that tests leave nothing behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Collection


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`: a runner leads one, its workers stay in it."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_sessions_gone(sids: Collection[int]) -> None:
    """Wait until the sessions `sids` (each a runner with its workers) have no live process."""

    def left() -> list[int]:
        return [pid for sid in sids for pid in session_members(sid)]

    wait_for(lambda: not left(), lambda: f"the sessions {sorted(sids)} to end: {left()} left")
