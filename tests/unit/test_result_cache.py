"""The result cache: entries that do not check out are never used, writers racing on one entry
leave a whole one, the bound removes the least recently used, input hashes follow the file."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from batchml.core.job_environment import JobEnvironment
from batchml.core.run_settings import RunSettings
from batchml.runner.reuse import Reuse, job_key
from batchml.store.result_cache import ResultCache, hash_file


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty"])
def test_an_entry_that_does_not_check_out_is_removed_not_used(tmp_path: Path, damage: str) -> None:
    cache = ResultCache(tmp_path)
    cache.store("ab" * 32, 2, b"a 1\nb 2\n")
    assert cache.lookup("ab" * 32) == (2, b"a 1\nb 2\n")
    path = cache.path("ab" * 32)
    raw = path.read_bytes()
    damaged = {"truncated": raw[:-3], "flipped": raw[:-1] + b"X", "empty": b""}[damage]
    path.write_bytes(damaged)

    assert cache.lookup("ab" * 32) is None
    assert not path.exists()


def _write_many(root: str, rows: bytes) -> None:
    cache = ResultCache(Path(root))
    for _ in range(200):
        cache.store("cd" * 32, len(rows), rows)


def test_writers_racing_on_one_entry_leave_a_whole_one(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    rows = [b"x" * 50_000, b"y" * 70_000]
    writers = [context.Process(target=_write_many, args=(str(tmp_path), r)) for r in rows]
    for writer in writers:
        writer.start()
    cache = ResultCache(tmp_path)
    seen = set()
    while any(writer.is_alive() for writer in writers):
        found = cache.lookup("cd" * 32)
        if found is not None:
            assert found[1] in rows  # never a mix, never torn
            seen.add(found[1])
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert cache.lookup("cd" * 32) is not None
    assert not [p for p in cache.path("cd" * 32).parent.iterdir() if p.name.startswith(".")]


def test_past_its_bound_the_least_recently_used_entries_go(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, limit=10**9)
    for index, key in enumerate(("11" * 32, "22" * 32, "33" * 32)):
        cache.store(key, 1, b"r" * 1000)
        os.utime(cache.path(key), (1000 + index, 1000 + index))
    cache.lookup("11" * 32)  # used just now: kept

    would = cache.trim(limit=2500, dry_run=True)
    assert [path.name for path, _ in would] == ["22" * 32]
    assert cache.path("22" * 32).exists()
    cache.trim(limit=2500)
    assert [k for k in ("11", "22", "33") if cache.path(k * 32).exists()] == ["11", "33"]


def test_an_input_is_hashed_again_only_when_its_size_or_mtime_changed(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    data = tmp_path / "in.txt"
    data.write_text("one")
    first = cache.file_hash(str(data))
    os.utime(data, ns=(1, 1))
    data.write_text("two")  # same size, new mtime
    second = cache.file_hash(str(data))
    assert second not in (first, None)
    assert second == hash_file(data)
    stat = data.stat()
    data.write_text("six")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cache.save_hashes()
    # Same size and mtime_ns: the hash is not read again (as make and rsync assume), by the
    # next job either.
    assert ResultCache(tmp_path / "cache").file_hash(str(data)) == second


def test_the_job_key_follows_the_environment(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text("def run(b): return b")
    settings = RunSettings()

    def key(environment: JobEnvironment) -> str:
        cache = ResultCache(tmp_path / "cache")
        return job_key(tmp_path / "code", None, "score.py", environment, settings, cache)

    uv = JobEnvironment(manager="uv", packages=["numpy==2.0"], key="k1")
    assert key(uv) == key(JobEnvironment(manager="uv", packages=["numpy==2.0"], key="k1"))
    assert key(uv) != key(JobEnvironment(manager="uv", packages=["numpy==2.1"], key="k2"))
    assert key(uv) != key(JobEnvironment(manager="local"))


class _NothingDone:
    """The part of a Tally that Reuse.start asks: no mini-batch is done yet."""

    def is_done(self, index: int) -> bool:
        return False


@pytest.mark.timeout(60)
def test_the_first_mini_batch_is_looked_up_before_later_files_are_hashed(tmp_path: Path) -> None:
    """The last mini-batch's file is a FIFO: hashing it blocks until it is written to. Were
    every file hashed before the first mini-batch is looked up, take(0) would never return."""
    first, fifo = tmp_path / "a.txt", tmp_path / "z.fifo"
    first.write_text("a")
    os.mkfifo(fifo)
    cache = ResultCache(tmp_path / "cache")
    reuse = Reuse("job", cache)
    reuse.start(_NothingDone(), [[str(first)], [str(fifo)]])  # type: ignore[arg-type]
    assert reuse.take(0) is None  # nothing stored yet; the FIFO's hash still waits
    reuse.keep(0, 1, b"a 1\n")
    with open(fifo, "w") as writer:  # lets the hashing thread read it, and finish
        writer.write("z")
    reuse.close()
    assert reuse.take(1) is None

    again = Reuse("job", ResultCache(tmp_path / "cache"))
    again.start(_NothingDone(), [[str(first)]])  # type: ignore[arg-type]
    assert again.take(0) == (1, b"a 1\n")
    again.close()
