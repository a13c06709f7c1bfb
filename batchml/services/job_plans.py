"""`batch-endpoint invoke --dry-run`: the plan of the job an invocation would start, made as
the job's runner makes it (its listing, its order, its mini-batches, those the result cache
would give it), and, with `--sample N`, an estimate of its duration and rows from N
mini-batches run in the foreground. Creates no job and writes nothing, in the workspace or in
the caches.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.batch_job import RayWorkers
from batchml.core.errors import UsageError
from batchml.core.resources import PipelineDeployment
from batchml.runner import inputs, tabular
from batchml.runner.plan import plan_mini_batches
from batchml.services import debugging, invocations

if TYPE_CHECKING:
    from batchml.store.workspace import Workspace

ASSUMPTIONS = (
    "every mini-batch costs what the sampled ones cost per file",
    "the workers run in parallel, each running init() once",
    "rows per file as in the sampled mini-batches",
    "excludes building the environment, starting the workers and fetching inputs from storage",
)


def dry_run(
    workspace: Workspace,
    options: invocations.InvokeOptions,
    sample: int | None,
    how: debugging.Foreground,
) -> dict[str, Any]:
    """The plan of the job `options` would start; with `sample`, its estimate too."""
    options, deployment = invocations.route(workspace, options)
    if isinstance(deployment, PipelineDeployment):
        raise UsageError(
            f"{deployment.name} is a pipeline deployment; --dry-run plans model deployments' jobs"
        )
    name = options.job_name or "<job-name>"
    prepared = invocations.prepare(workspace, options, deployment, name)
    settings = prepared.settings
    by_rows = prepared.input.in_rows(settings)
    batches: list[tuple[str, ...]]
    if by_rows:
        rows = tabular.plan(prepared.input, settings, workspace)
        batches = rows
        items = [item for batch in rows for item in batch]
        sizes = [tabular.item_bytes(item, rows.blobs) for item in items]
        listed = inputs.InputFiles(items, sizes=sizes)
    else:
        listed = inputs.listed_files(workspace, prepared.input)
        if not listed.files:
            raise inputs.nothing_to_score(prepared.input.path)
        local = prepared.input.remote is None
        batches = plan_mini_batches(
            listed.files, settings.mini_batch_size, local=local, sizes=listed.sizes
        )
    assert listed.sizes is not None  # listed now, with sizes
    plan: dict[str, Any] = {
        "endpoint_name": deployment.endpoint_name,
        "deployment_name": deployment.name,
        "compute": prepared.compute.name,
        "environment": prepared.environment.view(),
        "input": {"path": prepared.input.path, "type": prepared.input.type},
        "output": {"path": prepared.output.path, "file": prepared.output.file()},
        "files": len(listed.files),
        "bytes": sum(listed.sizes),
        "mini_batch_size": settings.mini_batch_size,
        "instance_count": settings.instance_count,
        "workers": settings.workers,
        "mini_batches": _shape(_weights(batches, listed.sizes), batches),
        "reuse": (
            {"enabled": False, "reason": "mini-batches of rows are not reused"}
            if by_rows
            else _reuse(prepared, batches, listed.keys)
        ),
    }
    if sample is not None:
        plan["estimate"] = _estimate(prepared, batches, sample, how)
    return plan


def _reuse(
    prepared: invocations.Prepared,
    batches: list[tuple[str, ...]],
    keys: dict[str, str] | None,
) -> dict[str, Any]:
    """What the job would take from the result cache instead of running, found as its runner
    finds it (batchml.runner.reuse) but changing nothing: the mini-batches and their files."""
    from batchml.runner.environment import found
    from batchml.runner.reuse import Reuse, job_key
    from batchml.store.result_cache import ResultCache

    settings = prepared.settings
    if not settings.reuse:
        return {"enabled": False, "reason": "the settings say reuse: false"}
    if settings.output_action != "append_row":
        return {"enabled": False, "reason": "a summary_only job's output is what its script writes"}
    # On Ray, the nodes build it; the job's key has it as asked for.
    environment = prepared.environment
    built = environment if isinstance(prepared.backend, RayWorkers) else found(environment)
    reused: list[int] = []
    if built is not None:  # an environment not built yet has scored nothing
        cache = ResultCache()
        code, script, _ = invocations.scoring_code(prepared.deployment)
        model = prepared.deployment.model.model_dir
        key = job_key(code, Path(model) if model else None, script, built, settings, cache)
        reused = Reuse(key, cache, keys).probe(batches)
    return {
        "enabled": True,
        "mini_batches": len(reused),
        "files": sum(len(batches[index]) for index in reused),
        "mini_batches_to_run": len(batches) - len(reused),
    }


def _weights(batches: list[tuple[str, ...]], sizes: list[int]) -> list[int]:
    """Each mini-batch's bytes: the sizes of its files, which follow each other in `sizes`."""
    weights, start = [], 0
    for batch in batches:
        weights.append(sum(sizes[start : start + len(batch)]))
        start += len(batch)
    return weights


def _shape(weights: list[int], batches: list[tuple[str, ...]]) -> dict[str, Any]:
    """The mini-batches' count, the largest and the smallest by bytes, and the skew."""
    largest = max(range(len(weights)), key=weights.__getitem__)
    smallest = min(range(len(weights)), key=weights.__getitem__)
    median = statistics.median(weights)

    def ratio(top: float, bottom: float) -> float | None:
        return round(top / bottom, 2) if bottom else None

    return {
        "count": len(batches),
        "largest": {"index": largest, "files": len(batches[largest]), "bytes": weights[largest]},
        "smallest": {
            "index": smallest,
            "files": len(batches[smallest]),
            "bytes": weights[smallest],
        },
        "median_bytes": median,
        "skew": {
            "largest_to_smallest": ratio(weights[largest], weights[smallest]),
            "largest_to_median": ratio(weights[largest], median),
        },
    }


def spread(count: int, wanted: int) -> list[int]:
    """`wanted` mini-batch indices of `count` spread evenly: the first, the last, and between
    them at equal steps (one: the first)."""
    wanted = min(wanted, count)
    if wanted == 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _estimate(
    prepared: invocations.Prepared,
    batches: list[tuple[str, ...]],
    wanted: int,
    how: debugging.Foreground,
) -> dict[str, Any]:
    """Run `wanted` mini-batches spread across the plan and estimate the whole job."""
    debugging.refuse_storage(prepared.input, "--sample")
    settings = prepared.settings
    chosen = spread(len(batches), wanted)
    measured = debugging.sample(
        prepared.deployment,
        settings,
        prepared.environment,
        [(index, batches[index]) for index in chosen],
        how,
    )
    runs = measured["mini_batches"]
    files = sum(run["files"] for run in runs)
    per_file = sum(run["seconds"] for run in runs) / files
    rows_per_file = sum(run["items"] for run in runs) / files
    total_files = sum(len(batch) for batch in batches)
    workers = min(settings.workers, len(batches))
    # The files split over the workers; each worker runs init() once before its first.
    seconds = per_file * total_files / workers + measured["init_seconds"]
    return {
        "sampled_mini_batches": chosen,
        "init_seconds": round(measured["init_seconds"], 3),
        "seconds_per_mini_batch": [round(run["seconds"], 3) for run in runs],
        "duration_seconds": round(seconds, 1),
        "rows": round(rows_per_file * total_files),
        "assumptions": list(ASSUMPTIONS),
    }
