"""`batchml cache prune`: over the bound, the least recently used results go; --all empties it;
--dry-run removes nothing; without --yes and no terminal, nothing is removed and it exits 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchml.store.result_cache import ResultCache
from tests.conftest import Cli

KEYS = ["11" * 32, "22" * 32, "33" * 32]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ResultCache:
    monkeypatch.setenv("BATCHML_RESULT_CACHE_SIZE", "2500")
    cache = ResultCache(limit=10**9)  # the CLI sees the bound above
    assert cache.root == tmp_path / "cache" / "results"
    for index, key in enumerate(KEYS):
        cache.store(key, 1, b"r" * 1000)
        os.utime(cache.path(key), (1000 + index, 1000 + index))
    cache.file_hash(__file__)
    cache.save_hashes()
    return cache


def present(cache: ResultCache) -> list[str]:
    return [key for key in KEYS if cache.path(key).exists()]


def test_prune_removes_the_least_recently_used_over_the_bound(cli: Cli, cache: ResultCache) -> None:
    refused = cli("cache", "prune")
    assert refused.code == 2
    assert present(cache) == KEYS

    dry = cli.ok("cache", "prune", "--dry-run")
    assert [entry["key"] for entry in dry["removed"]] == [KEYS[0]]
    assert present(cache) == KEYS

    done = cli.ok("cache", "prune", "--yes")
    assert done["removed"] == [{"key": KEYS[0], "size_bytes": 1048}]
    assert done["freed_bytes"] == 1048
    assert present(cache) == KEYS[1:]


def test_prune_all_empties_the_cache_and_its_input_hashes(cli: Cli, cache: ResultCache) -> None:
    done = cli.ok("cache", "prune", "--all", "--yes")
    assert sorted(entry["key"] for entry in done["removed"]) == KEYS
    assert present(cache) == []
    assert not (cache.root / "hashes").exists()
    assert cli.ok("cache", "prune", "--all", "--yes")["removed"] == []
