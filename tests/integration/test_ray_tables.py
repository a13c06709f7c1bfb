"""A table in storage split by rows, on Ray actors (the session's Ray head, the `azurite`
fixture): each actor stages the row ranges of its own mini-batches into its node's input cache,
so the job needs no folder shared with the runner. The actors get a cache of their own through
the job's environment variables; the runner's cache must stay empty, which it would not if the
runner staged the ranges for them (as it does for local workers)."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import pytest
from azurite import ACCOUNT
from ray_cluster import actors
from test_remote_tables import deploy, project, run, uploaded, write_table
from waiting import wait_for

from batchml.store.input_cache import InputCache

if TYPE_CHECKING:
    from collections.abc import Iterator

    from projects import Project

if importlib.util.find_spec("ray") is None:
    pytest.skip("the ray extra is not installed", allow_module_level=True)

__all__ = ["project"]  # the fixture, shared with test_remote_tables

pytestmark = [
    pytest.mark.azurite,
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.usefixtures("no_actor_left"),
]


@pytest.fixture
def no_actor_left() -> Iterator[None]:
    yield
    wait_for(lambda: not actors(), lambda: f"the actors to end: {actors()} left")


def test_ray_actors_stage_their_own_row_ranges_and_score_as_local_workers(
    project: Project, azurite: Any, ray_head: Any
) -> None:
    local = project.root / "tab"
    write_table(local)
    container = uploaded(project, azurite, local, "tab")
    deploy(project, mini_batch_size="700 rows")
    project.cli.ok("compute", "create", "-n", "big", "--type", "ray", "--address", ray_head.address)
    node_cache = project.root / "node-cache"
    url = f"https://{ACCOUNT}.blob.core.windows.net/{container}/tab"

    here = run(project, "--input", local)
    there = run(
        project, "--input", url, "--set", "compute=azureml:big",
        "--set", f"environment_variables.BATCHML_CACHE_DIR={node_cache}",
    )  # fmt: skip

    assert there == here
    assert [rows for _, rows, _ in there[1]] == [700] * 4 + [200] + [700] * 4 + [200]
    # Each CSV range is a file of its own; the parquet blob is cached whole, once.
    staged = sorted(path.name for path in (node_cache / "inputs").glob("??/*/*"))
    assert staged == ["big.csv"] * 5 + ["part.parquet"]
    runner_cache = InputCache().root
    assert not runner_cache.exists() or not [p for p in runner_cache.rglob("*") if p.is_file()]
