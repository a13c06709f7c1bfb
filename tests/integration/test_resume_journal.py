"""The journal on real files: what it reads back after a crash, and the output it assembles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchml.core.errors import ConflictError
from batchml.runner import journal as journal_module
from batchml.runner.assembly import publish
from batchml.runner.journal import HEADER_SIZE, RECORD_SIZE, Journal, JournalError, plan_digest

PLAN = plan_digest([("a", "b"), ("c",), ("d",), ("e",), ("f",)], "append_row")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_the_output_holds_succeeded_rows_in_mini_batch_order(folder, out):
    journal = Journal.create(folder, PLAN)
    try:
        journal.succeeded(3, 1, 0, 1, b"d\n")
        journal.failed(2, 4)
        journal.succeeded(0, 1, 0, 2, b"a\nb\n")
        part = journal.parts_dir / "00000004-2.part"
        part.write_bytes(b"e1\ne2\n")
        journal.succeeded(4, 2, 0, 2, part=str(part))
        path = publish(journal, out / "predictions.csv")
    finally:
        journal.close()

    # Mini-batch 1 never ran and 2 failed: neither has rows.
    assert path.read_text() == "a\nb\nd\ne1\ne2\n"
    assert not part.exists()
    assert [p.name for p in out.iterdir()] == ["predictions.csv"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_reopening_gives_back_every_outcome_and_appends_after_them(folder, out):
    journal = Journal.create(folder, PLAN)
    journal.succeeded(1, 1, 0, 1, b"c\n")
    journal.failed(2, 2)
    journal.succeeded(0, 3, 1, 1, b"a\n")
    journal.close()

    journal = Journal.reopen(folder, PLAN)
    try:
        assert {
            i: (o.succeeded, o.attempt, o.files_failed) for i, o in journal.outcomes.items()
        } == {
            0: (True, 3, 1),
            1: (True, 1, 0),
            2: (False, 2, 0),
        }
        journal.forget_failed()
        assert sorted(journal.outcomes) == [0, 1]
        journal.succeeded(2, 1, 0, 1, b"d\n")
        path = publish(journal, out / "o.csv")
    finally:
        journal.close()

    assert path.read_text() == "a\nc\nd\n"
    # The later record of mini-batch 2 replaced the earlier one.
    reopened = Journal.reopen(folder, PLAN)
    reopened.close()
    assert reopened.outcomes[2].succeeded


def test_a_torn_record_and_rows_without_a_record_are_cut_away(folder, out):
    journal = Journal.create(folder, PLAN)
    journal.succeeded(0, 1, 0, 2, b"a\nb\n")
    journal.succeeded(1, 1, 0, 1, b"c\n")
    journal.close()
    with open(folder / "journal.bin", "ab") as f:
        f.write(b"\x00" * (RECORD_SIZE - 3))
    os.truncate(folder / "journal.bin", HEADER_SIZE + RECORD_SIZE + 7)
    with open(folder / "rows.bin", "ab") as f:
        f.write(b"junk\n")

    journal = Journal.reopen(folder, PLAN)
    try:
        assert sorted(journal.outcomes) == [0]
        assert (folder / "journal.bin").stat().st_size == HEADER_SIZE + RECORD_SIZE
        assert (folder / "rows.bin").read_bytes() == b"a\nb\n"
        journal.succeeded(1, 2, 0, 1, b"c2\n")
        path = publish(journal, out / "o.csv")
    finally:
        journal.close()

    assert path.read_text() == "a\nb\nc2\n"


def test_publishing_again_replaces_only_what_this_journal_published(folder, out):
    path = out / "predictions.csv"
    stale = out / ".predictions.csv.batchml.tmp"
    elsewhere = out.parent / "elsewhere.txt"
    elsewhere.write_text("keep me\n")
    journal = Journal.create(folder, PLAN)
    try:
        journal.succeeded(0, 1, 0, 1, b"a\n")
        path.write_text("someone else's\n")
        with pytest.raises(ConflictError, match="output file already exists"):
            publish(journal, path)
        assert path.read_text() == "someone else's\n"
        path.unlink()
        publish(journal, path)
        # A crash while assembling left the temporary file, here a link to another file.
        stale.symlink_to(elsewhere)
        journal.succeeded(1, 1, 0, 1, b"c\n")
        publish(journal, path)
    finally:
        journal.close()

    assert path.read_text() == "a\nc\n"
    assert elsewhere.read_text() == "keep me\n"
    assert [p.name for p in out.iterdir()] == ["predictions.csv"]
    reopened = Journal.reopen(folder, PLAN)
    reopened.close()
    assert reopened.published


def test_a_journal_of_other_mini_batches_or_a_newer_batchml_is_refused(folder, monkeypatch):
    Journal.create(folder, PLAN).close()
    other = plan_digest([("a",), ("b", "c")], "append_row")
    with pytest.raises(JournalError, match="was written for other mini-batches"):
        Journal.reopen(folder, other)
    monkeypatch.setattr(journal_module, "FORMAT_VERSION", 2)
    Journal.create(folder, PLAN).close()
    monkeypatch.setattr(journal_module, "FORMAT_VERSION", 1)
    with pytest.raises(JournalError, match="has format version 2; this batchml reads up to 1"):
        Journal.reopen(folder, PLAN)


def test_a_missing_journal_starts_empty(folder):
    journal = Journal.reopen(folder, PLAN)
    journal.close()
    assert journal.outcomes == {}
    assert sorted(p.name for p in folder.iterdir()) == ["journal.bin", "rows.bin"]


def test_a_torn_header_means_nothing_was_committed_and_the_journal_starts_again(folder):
    journal = Journal.create(folder, PLAN)
    journal.succeeded(0, 1, 0, 1, b"a\n")
    journal.close()
    os.truncate(folder / "journal.bin", HEADER_SIZE - 1)

    journal = Journal.reopen(folder, PLAN)
    journal.close()

    assert journal.outcomes == {}
    assert (folder / "journal.bin").stat().st_size == HEADER_SIZE
    assert (folder / "rows.bin").read_bytes() == b""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
