"""The journal's writes: one that the kernel cuts short is finished by the next ones."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from batchml.runner import journal as journal_module
from batchml.runner.journal import Journal, plan_digest

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_writes_cut_short_are_finished_and_read_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    pwrite = os.pwrite

    def three_bytes_at_most(fd: int, data: bytes, offset: int) -> int:
        calls.append(len(data))
        return pwrite(fd, bytes(data[:3]), offset)

    plan = plan_digest([("a",), ("b",)], "append_row")
    journal = Journal.create(tmp_path, plan)
    monkeypatch.setattr(journal_module.os, "pwrite", three_bytes_at_most)
    journal.succeeded(0, 1, 0, 2, b"row 1\nrow 2\n")
    journal.failed(1, 2)
    monkeypatch.undo()
    journal.close()
    assert len(calls) > 2 * 2  # rows and each record took several calls

    reopened = Journal.reopen(tmp_path, plan)
    try:
        assert reopened.rows_of(0) == b"row 1\nrow 2\n"
        outcomes = reopened.outcomes
        assert (outcomes[0].succeeded, outcomes[0].items, outcomes[1].attempt) == (True, 2, 2)
        assert not outcomes[1].succeeded
    finally:
        reopened.close()
