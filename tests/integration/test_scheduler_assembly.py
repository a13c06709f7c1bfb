"""The append_row assembly on real files: order, the memory budget, atomic publication."""

from __future__ import annotations

import pytest

from batchml.core.errors import ConflictError
from batchml.runner import assembly
from batchml.runner.assembly import OutputAssembler


@pytest.fixture
def folder(tmp_path):
    """An empty output folder."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_rows_waiting_past_the_memory_budget_are_spilled_to_disk(folder, monkeypatch):
    monkeypatch.setattr(assembly, "MEMORY_BUDGET", 8)
    output = OutputAssembler(folder / "predictions.csv")
    try:
        output.add(2, b"c 3\n")  # held: 4 bytes
        output.add(3, b"d 4\n")  # held: 8 bytes, the budget
        output.add(4, b"e 5\n")  # over the budget: spilled
        assert [p.name for p in output.parts_dir.iterdir()] == ["00000004-held.part"]
        output.add(1)  # a failed mini-batch adds no rows
        assert not (folder / "predictions.csv").exists()
        output.add(0, b"a 1\n")
        assert list(output.parts_dir.iterdir()) == []
        path = output.finish()
    finally:
        output.close()

    assert path.read_text() == "a 1\nc 3\nd 4\ne 5\n"
    assert [p.name for p in folder.iterdir()] == ["predictions.csv"]


def test_finish_skips_mini_batches_that_never_ran(folder):
    output = OutputAssembler(folder / "out.csv")
    try:
        output.add(0, b"a\n")
        output.add(3, b"d\n")
        part = output.parts_dir / "00000005-1.part"
        part.write_bytes(b"f\n")
        output.add(5, part=str(part))
        path = output.finish()
    finally:
        output.close()

    assert path.read_text() == "a\nd\nf\n"
    assert not part.exists()


def test_a_file_that_appeared_meanwhile_is_not_overwritten(folder):
    output = OutputAssembler(folder / "out.csv")
    try:
        output.add(0, b"a\n")
        (folder / "out.csv").write_text("someone else's\n")
        with pytest.raises(ConflictError):
            output.finish()
    finally:
        output.close()

    assert (folder / "out.csv").read_text() == "someone else's\n"
    assert [p.name for p in folder.iterdir()] == ["out.csv"]
