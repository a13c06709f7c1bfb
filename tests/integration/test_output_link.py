"""The output as a hard link to the journal's rows.bin: made when rows.bin holds exactly the
output's lines, never written through afterwards (appends, a cut after a crash, a new job)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchml.runner.assembly import publish
from batchml.runner.journal import Journal, plan_digest

PLAN = plan_digest([("a",), ("b",), ("c",), ("d",)], "append_row")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out" / "predictions.csv"


def same_file(one: Path, other: Path) -> bool:
    return os.path.samestat(one.stat(), other.stat())


def assert_linked(path: Path, folder: Path) -> None:
    """`path` is rows.bin under another name, and alone in its folder."""
    assert same_file(path, folder / "rows.bin")
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def published(folder: Path, path: Path, *rows: bytes) -> None:
    """A new journal of mini-batches 0, 1, ... with `rows`, published to `path`, closed."""
    journal = Journal.create(folder, PLAN)
    for index, lines in enumerate(rows):
        journal.succeeded(index, 1, 0, lines.count(b"\n"), lines)
    publish_closing(journal, path)


def publish_closing(journal: Journal, path: Path) -> None:
    try:
        publish(journal, path)
    finally:
        journal.close()


def test_rows_recorded_in_order_are_published_as_rows_bin_itself(folder, path):
    journal = Journal.create(folder, PLAN)
    try:
        journal.succeeded(0, 1, 0, 1, b"a\n")
        journal.failed(1, 1)
        part = journal.parts_dir / "00000002-1.part"
        part.write_bytes(b"c1\nc2\n")
        journal.succeeded(2, 1, 0, 2, part=str(part))
        publish(journal, path)
    finally:
        journal.close()

    assert path.read_bytes() == b"a\nc1\nc2\n"
    assert_linked(path, folder)


def test_rows_recorded_out_of_order_are_copied_in_mini_batch_order(folder, path):
    journal = Journal.create(folder, PLAN)
    try:
        journal.succeeded(1, 1, 0, 1, b"b\n")
        journal.succeeded(0, 1, 0, 1, b"a\n")
        publish(journal, path)
    finally:
        journal.close()

    assert path.read_bytes() == b"a\nb\n"
    assert not same_file(path, folder / "rows.bin")
    assert (folder / "rows.bin").read_bytes() == b"b\na\n"


def test_recording_after_publishing_leaves_the_published_file_as_it_was(folder, path):
    journal = Journal.create(folder, PLAN)
    try:
        journal.succeeded(0, 1, 0, 1, b"a\n")
        publish(journal, path)
        published = path.stat()
        journal.succeeded(1, 1, 0, 1, b"b\n")
        # The published file (a user may have moved it away) keeps its lines.
        assert os.stat(path).st_ino == published.st_ino
        assert path.read_bytes() == b"a\n"
        assert (folder / "rows.bin").read_bytes() == b"a\nb\n"
        publish(journal, path)
    finally:
        journal.close()

    assert path.read_bytes() == b"a\nb\n"
    assert same_file(path, folder / "rows.bin")
    reopened = Journal.reopen(folder, PLAN)
    reopened.close()
    assert sorted(reopened.outcomes) == [0, 1]


def test_a_torn_tail_is_cut_from_a_copy_not_from_the_published_file(folder, path):
    published(folder, path, b"a\n", b"b\n")
    # Rows with no record, as if appended through the other name.
    with open(path, "ab") as tail:
        tail.write(b"no record\n")

    journal = Journal.reopen(folder, PLAN)
    try:
        assert sorted(journal.outcomes) == [0, 1]
        assert (folder / "rows.bin").read_bytes() == b"a\nb\n"
        assert path.read_bytes() == b"a\nb\nno record\n"
        journal.succeeded(2, 1, 0, 1, b"c\n")
        publish(journal, path)
    finally:
        journal.close()

    assert path.read_bytes() == b"a\nb\nc\n"
    assert sorted(p.name for p in folder.iterdir()) == ["journal.bin", "rows.bin"]


def test_resuming_a_published_job_links_the_same_file_again(folder, path):
    published(folder, path, b"a\n")

    publish_closing(Journal.reopen(folder, PLAN), path)

    assert path.read_bytes() == b"a\n"
    assert_linked(path, folder)


def test_a_new_journal_does_not_empty_an_output_linked_to_the_old_one(folder, path):
    published(folder, path, b"a\n")
    kept = path.with_name("kept.csv")
    path.rename(kept)

    Journal.create(folder, PLAN).close()

    assert kept.read_bytes() == b"a\n"
    assert (folder / "rows.bin").read_bytes() == b""
