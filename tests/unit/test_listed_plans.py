"""Plans read from a job's list of files on disk (batchml.runner.plan.ListedBatches): the same
mini-batches, in the same order, with the same journal digest, as the plan held in memory."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tracemalloc
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from batchml.core.errors import BatchmlError, CorruptStateError, UsageError
from batchml.runner import plan
from batchml.runner.journal import plan_digest
from batchml.runner.plan import (
    ListedBatches,
    StreamedBatches,
    files_in,
    files_total,
    plan_mini_batches,
)
from batchml.store import input_list
from batchml.store.input_list import ListFile

if TYPE_CHECKING:
    from collections.abc import Iterator

# Names whose order is the trap: "-" and "." sort before "/", "0" after it.
NAMES = ["a-c.txt", "a/b.txt", "a/z/y.txt", "a.txt", "a0.txt", "b", "é.txt", "a/a-b/c.txt"]


def make_tree(root: Path) -> None:
    for index, name in enumerate(NAMES):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x" * (index + 1))


@pytest.mark.parametrize("run", [3, 100_000])  # 3: a folder sorted in runs spilled to disk
def test_the_walk_gives_the_order_of_the_whole_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: int
) -> None:
    monkeypatch.setattr(input_list, "_RUN", run)
    make_tree(tmp_path)
    for index in range(20):
        (tmp_path / f"f{index}").write_text("")

    walked = list(input_list.sized(str(tmp_path), input_list.walk(str(tmp_path))))

    expected = sorted(
        (path.relative_to(tmp_path).as_posix(), path.stat().st_size)
        for path in tmp_path.rglob("*")
        if path.is_file()
    )
    assert walked == expected


@pytest.mark.parametrize("size", [1, 3, 100, "5b", "12b", "1kb"])
def test_a_listed_plan_is_the_plan_in_memory_with_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int | str
) -> None:
    monkeypatch.setattr(input_list, "_CHUNK", 7)  # entries cut across reads
    data = tmp_path / "data"
    make_tree(data)
    walked = list(input_list.sized(str(data), input_list.walk(str(data))))
    count = input_list.write(tmp_path, str(data), ((path, "", size) for path, size in walked))
    files, sizes = [str(data / path) for path, _ in walked], [size for _, size in walked]

    listed = ListedBatches(input_list.ListFile(tmp_path), size, local=True)

    in_memory = plan_mini_batches(files, size, sizes=sizes)
    assert count == len(NAMES) == files_total(listed) == files_total(in_memory)
    assert list(listed) == in_memory
    assert [listed[index] for index in range(-len(listed), 0)] == in_memory
    assert [files_in(listed, i) for i in range(len(listed))] == list(map(len, in_memory))
    # The digest of batchml before plans were streamed, so that its journals resume.
    old = hashlib.sha256(json.dumps(["append_row", in_memory]).encode()).digest()
    assert plan_digest(listed, "append_row") == old == plan_digest(in_memory, "append_row")


@pytest.mark.parametrize("run", [2, 100_000])  # 2: sorted in runs spilled to disk
def test_names_not_valid_utf8_are_listed_and_planned_as_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: int
) -> None:
    monkeypatch.setattr(input_list, "_RUN", run)
    data = tmp_path / os.fsdecode(b"donn\xe9es")  # Latin-1 names, as an old disk may hold
    (data / os.fsdecode(b"sub\xff")).mkdir(parents=True)
    names = [b"a.txt", b"caf\xe9.txt", b"sub\xff/\xe9t\xe9.txt", b"z.txt"]
    for name in names:
        (data / os.fsdecode(name)).write_bytes(name)
    (tmp_path / "job").mkdir()

    walked = list(input_list.walk(str(data)))
    streamed = StreamedBatches(
        tmp_path / "job", str(data), ((path, "", None) for path in walked), 1, local=True,
        output_action="append_row",
    )  # fmt: skip
    streamed.start()
    streamed.listed()

    assert sorted(map(os.fsencode, walked)) == names
    listed = list(ListedBatches(ListFile(tmp_path / "job"), 1, local=True))
    assert list(streamed) == listed == [(str(data / path),) for path in walked]
    assert [Path(path).read_bytes() for (path,) in listed] == list(map(os.fsencode, walked))


def test_items_in_storage_keep_their_root_and_keys(tmp_path: Path) -> None:
    entries = [("a/x.csv#bytes=0-9", "k1", 10), ("b.csv", "k2", 3)]
    input_list.write(tmp_path, "az://c/data/", entries)

    listed = ListedBatches(input_list.ListFile(tmp_path), 1, local=False)

    assert list(listed) == [("az://c/data/a/x.csv#bytes=0-9",), ("az://c/data/b.csv",)]
    assert listed.keys() == {"az://c/data/a/x.csv#bytes=0-9": "k1", "az://c/data/b.csv": "k2"}


@pytest.mark.parametrize("version", [1, 2])  # 2: written by a job planned by count
def test_a_list_without_sizes_cannot_plan_by_size(tmp_path: Path, version: int) -> None:
    header = json.dumps({"format": version, "root": "/data"}).encode()
    entry = b"a.txt\0\0" if version == 1 else b"a.txt\0\0\0"
    (tmp_path / input_list.LIST_FILE).write_bytes(header + b"\n" + entry)

    assert list(ListedBatches(input_list.ListFile(tmp_path), 10, local=True)) == [("/data/a.txt",)]
    with pytest.raises(UsageError, match="records no sizes"):
        ListedBatches(input_list.ListFile(tmp_path), "1kb", local=True)


def test_a_cut_list_is_refused_naming_it(tmp_path: Path) -> None:
    header = json.dumps({"format": 2, "root": "/data"}).encode()
    (tmp_path / input_list.LIST_FILE).write_bytes(header + b"\na.txt\0\x003\0b.txt\0")

    with pytest.raises(CorruptStateError, match=r"inputs\.list"):
        ListedBatches(input_list.ListFile(tmp_path), 10, local=True)


@pytest.mark.parametrize("size", [3, "9b"])
def test_a_plan_made_as_it_lists_is_the_plan_of_the_list(tmp_path: Path, size: int | str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    make_tree(data)
    walked = list(input_list.sized(str(data), input_list.walk(str(data))))
    entries = ((path, "", size) for path, size in walked)
    (tmp_path / "job").mkdir()

    streamed = StreamedBatches(
        tmp_path / "job", str(data), entries, size, local=True, output_action="summary_only"
    )
    streamed.start()
    streamed.listed()

    files, sizes = [str(data / path) for path, _ in walked], [size for _, size in walked]
    in_memory = plan_mini_batches(files, size, sizes=sizes)
    assert (
        list(streamed)
        == in_memory
        == list(ListedBatches(ListFile(tmp_path / "job"), size, local=True))
    )
    assert streamed.digest == plan_digest(in_memory, "summary_only")
    assert files_total(streamed) == len(NAMES)


def test_a_list_cut_short_is_known_and_not_planned_from(tmp_path: Path) -> None:
    writer = input_list.ListWriter(tmp_path, "/data")
    writer.add([("a.txt", "", None), ("b.txt", "", None)])
    writer.close()  # killed before the trailer
    listing = ListFile(tmp_path)

    assert not listing.complete
    assert [entry for _, entry in listing.entries()] == [("a.txt", "", None), ("b.txt", "", None)]
    with pytest.raises(CorruptStateError, match="cut short"):
        ListedBatches(listing, 10, local=True)
    input_list.write(tmp_path, "/data", [("a.txt", "", None)])
    assert ListFile(tmp_path).complete


@pytest.mark.parametrize("run", [50, 100_000])  # 50: the rest sorted in runs spilled to disk
def test_a_storage_listing_in_utf16_order_comes_in_utf8_order(
    monkeypatch: pytest.MonkeyPatch, run: int
) -> None:
    monkeypatch.setattr(input_list, "_RUN", run)
    plain = [f"f{i:04d}" for i in range(300)]
    names = sorted([*plain, "g/\U0001f600", "g/\uff01", "g/\U0001f601/x"])
    # Azurite lists in UTF-16 order: astral characters before U+FF01.
    listed = sorted(names, key=lambda name: name.encode("utf-16-be"))
    assert listed != names
    entries = [(name, f"k{name}", len(name)) for name in listed]

    assert list(input_list.in_order(entries, "azureml://x")) == [
        (n, f"k{n}", len(n)) for n in names
    ]


def test_merging_many_runs_holds_a_slice_of_each_not_a_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 20 runs of 1,000 entries: read whole, as a chunk of each run was, the merge held all
    # of them (what held 53 bytes per file at a million files); read by slices, a few of each.
    monkeypatch.setattr(input_list, "_RUN", 1000)
    monkeypatch.setattr(input_list, "_MERGED_READ", 2000)
    monkeypatch.setattr(input_list, "_RUN_READ", 10)
    count = 20_000
    listed = ((f"\U0001f600/{i:05d}" + "x" * 40, "", i) for i in reversed(range(count)))
    merged = input_list.in_order(listed, "azureml://x")
    tracemalloc.start()
    try:
        assert next(merged)[2] == 0
        held = tracemalloc.get_traced_memory()[0]
        assert [size for _, _, size in merged] == list(range(1, count))
    finally:
        tracemalloc.stop()

    assert held < 1_000_000  # all 20,000 entries are over 4 MB


def test_a_storage_listing_in_order_comes_as_it_is_listed() -> None:
    def listing() -> Iterator[input_list.Entry]:
        yield from ((f"f{i:04d}", "k", 1) for i in range(100))
        raise AssertionError("listed further than needed")

    first = list(islice(input_list.in_order(listing(), "azureml://x"), 100))

    assert [path for path, _, _ in first] == [f"f{i:04d}" for i in range(100)]


def test_a_storage_listing_in_neither_order_is_refused_where_it_goes_back() -> None:
    listed = (name for name in ["a", "b", "d", "c", "e"])
    got = input_list.in_order(((name, "", 1) for name in listed), "azureml://x")

    # What came before is handed on as it came (its mini-batches may run); then one line.
    assert [next(got)[0] for _ in range(3)] == ["a", "b", "d"]
    with pytest.raises(BatchmlError, match=r"^the storage of azureml://x listed c after d, out "):
        next(got)


def test_paths_read_by_stretches_see_what_was_listed_since(tmp_path: Path) -> None:
    # The list as a listing writes it: `paths` reads ahead of what is asked, and must not
    # take the end of what it read for the end of the list.
    writer = input_list.ListWriter(tmp_path, "/data")
    first = [(f"f{index:05d}", "", None) for index in range(3)]
    offsets = [writer.size]
    for entry in first:
        offsets.append(offsets[-1] + len(writer.add([entry])))
    listing = ListFile(tmp_path)
    assert listing.paths(offsets[0], offsets[1]) == [b"f00000"]
    more = [(f"f{index:05d}", "", None) for index in range(3, 20_000)]
    for entry in more:
        offsets.append(offsets[-1] + len(writer.add([entry])))
    writer.finish()

    names = [path for path, _, _ in first + more]
    for index in (1, 2, 3, 4, 19_999, 0, 10_000, 10_001):
        assert listing.paths(offsets[index], offsets[index + 1]) == [names[index].encode()]
    assert listing.paths(offsets[5], offsets[15_000]) == [name.encode() for name in names[5:15_000]]


def test_the_listing_thread_lets_the_gil_go_often_while_it_lists(tmp_path: Path) -> None:
    # The scheduler's thread waits for the GIL after each system call: by default up to 5 ms.
    seen = []

    def entries() -> Iterator[input_list.Entry]:
        for index in range(100):
            seen.append(sys.getswitchinterval())
            yield f"f{index:03d}", "", None

    before = sys.getswitchinterval()
    (tmp_path / "job").mkdir()
    streamed = StreamedBatches(
        tmp_path / "job", "/data", entries(), 10, local=True, output_action="summary_only"
    )
    streamed.start()
    streamed.listed()

    assert len(seen) == 100
    assert max(seen) == pytest.approx(plan._SWITCH_SECONDS)
    assert max(seen) < before
    assert sys.getswitchinterval() == before
