"""The per-user result cache that reuse takes mini-batch outcomes from: its size, and pruning."""

from __future__ import annotations

import shutil
from typing import Any

from batchml.store.result_cache import HASHES_DIR, SIZE_VARIABLE, ResultCache


def prune(*, everything: bool, dry_run: bool) -> dict[str, Any]:
    """Remove the entries used least recently while the cache is over its bound, or, with
    `everything`, every entry and the cached hashes of input files."""
    cache = ResultCache()
    removed = cache.trim(limit=0 if everything else cache.limit, dry_run=dry_run)
    hashes = cache.root / HASHES_DIR
    hash_bytes = sum(p.stat().st_size for p in hashes.rglob("*") if p.is_file())
    if everything and not dry_run:
        shutil.rmtree(hashes, ignore_errors=True)
    freed = sum(size for _, size in removed) + (hash_bytes if everything else 0)
    return {
        "cache": str(cache.root),
        "dry_run": dry_run,
        "limit_bytes": cache.limit,
        "note": f"the bound is {SIZE_VARIABLE} (e.g. 500mb); jobs trim the cache to it too",
        "removed": [{"key": path.name, "size_bytes": size} for path, size in removed],
        "freed_bytes": freed,
    }
