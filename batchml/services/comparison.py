"""Shadowing a deployment before it becomes the default: `batch-endpoint compare` runs two
deployments of one endpoint on the same input, as two ordinary jobs, and reports how far their
append_row outputs agree (batchml.core.agreement), with a diff file of the first differences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchml.core.agreement import Agreement, Difference, compare
from batchml.core.batch_job import BatchJob
from batchml.core.errors import BatchmlError, UsageError
from batchml.core.job_record import JobStatus
from batchml.core.resources import Deployment
from batchml.services import deployments, endpoints, failures, invocations, job_control
from batchml.store.job_files import get, job_dir
from batchml.store.workspace import Workspace

# The report's own list of differences; the diff file has up to agreement.KEPT.
SHOWN = 5


@dataclass(frozen=True)
class CompareOptions:
    endpoint: str
    deployments: tuple[str, str]
    input: str
    input_type: str | None = None
    key_field: int = 1
    tolerance: float = 0.0
    min_agreement: float = 1.0
    sets: tuple[str, ...] = ()


class NotCompleted(BatchmlError):
    """One of the two jobs did not complete, so there are no two outputs to compare."""


def _model_deployment(workspace: Workspace, endpoint: str, name: str) -> Deployment:
    deployment = deployments.get(workspace, endpoint, name)
    if not isinstance(deployment, Deployment):
        raise UsageError(
            f"deployment {name} is a pipeline deployment; compare runs model deployments",
            hint="compare two model deployments of the endpoint",
        )
    if deployment.settings.output_action != "append_row":
        raise UsageError(
            f"deployment {name} has output_action {deployment.settings.output_action}: its jobs "
            "write no rows to compare",
            hint="compare deployments whose output_action is append_row",
        )
    return deployment


def _check(workspace: Workspace, options: CompareOptions) -> None:
    first, second = options.deployments
    if first == second:
        raise UsageError(f"--deployment {first} is given twice; compare needs two deployments")
    if options.key_field < 0:
        raise UsageError("--key-field is 1 or more (the field rows are paired by), or 0 (by row)")
    if options.tolerance < 0 or not 0 <= options.min_agreement <= 1:
        raise UsageError("--tolerance is 0 or more, --min-agreement between 0 and 1")
    endpoints.get(workspace, options.endpoint)
    for name in options.deployments:
        _model_deployment(workspace, options.endpoint, name)


def _wait(workspace: Workspace, names: list[str], poll: float = 0.5) -> list[BatchJob]:
    """The jobs once every one of them has ended."""
    while True:
        jobs = [job_control.observe(workspace, get(workspace, name)) for name in names]
        if all(job.is_terminal() for job in jobs):
            return [job for job in jobs if isinstance(job, BatchJob)]
        time.sleep(poll)


def _lines(job: BatchJob) -> Iterator[str]:
    path = Path(job.output.local_dir) / str(job.output.file_name)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            yield line.rstrip("\n")


def _write_diff(path: Path, jobs: list[BatchJob], differences: list[Difference]) -> None:
    a, b = (f"{job.deployment} (job {job.name})" for job in jobs)
    lines = [f"--- A: {a}", f"+++ B: {b}"]
    for difference in differences:
        lines.append(f"@ {difference.key}")
        lines.append(f"- {difference.a}" if difference.a is not None else "- (no row)")
        lines.append(f"+ {difference.b}" if difference.b is not None else "+ (no row)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def diff_path(workspace: Workspace, jobs: list[BatchJob]) -> Path:
    """Where a comparison's diff goes: the first job's folder, named after the second job."""
    return job_dir(workspace, jobs[0].name) / "compare" / f"{jobs[1].name}.diff"


def run(
    workspace: Workspace,
    options: CompareOptions,
    on_started: Callable[[list[str]], None] = lambda _names: None,
) -> dict[str, Any]:
    """Invoke both deployments on the input, wait for both jobs, compare their outputs.

    Raises NotCompleted if either job did not complete. The report's `passed` says whether
    the share of agreeing rows reached `min_agreement`."""
    _check(workspace, options)
    names = []
    for deployment in options.deployments:
        job = invocations.invoke(
            workspace,
            invocations.InvokeOptions(
                endpoint=options.endpoint,
                deployment=deployment,
                input=options.input,
                input_type=options.input_type,
                sets=options.sets,
            ),
        )
        names.append(job.name)
    on_started(names)
    jobs = _wait(workspace, names)
    for job in jobs:
        if job.status != JobStatus.COMPLETED:
            raise NotCompleted(
                f"job {job.name} of deployment {job.deployment} is {job.status}"
                + (f": {job.error}" if job.error else ""),
                hint=f"see: batchml job show -n {job.name}",
            )
    tally = compare(
        _lines(jobs[0]), _lines(jobs[1]), key_field=options.key_field, tolerance=options.tolerance
    )
    diff = diff_path(workspace, jobs)
    _write_diff(diff, jobs, tally.first_differences)
    return {**_report(options, jobs, tally, diff), "failed_in_one": _failed_in_one(workspace, jobs)}


def _report(
    options: CompareOptions, jobs: list[BatchJob], tally: Agreement, diff: Path
) -> dict[str, Any]:
    return {
        "endpoint": options.endpoint,
        "a": {"deployment": jobs[0].deployment, "job": jobs[0].name, **_files(jobs[0])},
        "b": {"deployment": jobs[1].deployment, "job": jobs[1].name, **_files(jobs[1])},
        "rows": {
            "compared": tally.rows,
            "identical": tally.identical,
            "within_tolerance": tally.within_tolerance,
            "different": tally.different,
            "only_in_a": tally.only_in_a,
            "only_in_b": tally.only_in_b,
        },
        "agreement": round(tally.ratio, 6),
        "min_agreement": options.min_agreement,
        "passed": tally.ratio >= options.min_agreement,
        "key_field": options.key_field,
        "tolerance": options.tolerance,
        "first_differences": [
            {"key": d.key, "a": d.a, "b": d.b} for d in tally.first_differences[:SHOWN]
        ],
        "diff_file": str(diff),
    }


def _files(job: BatchJob) -> dict[str, int]:
    return {"files_succeeded": job.counts.files_succeeded, "files_failed": job.counts.files_failed}


def _failed_in_one(workspace: Workspace, jobs: list[BatchJob]) -> dict[str, Any]:
    """The input files that failed in one job and not in the other (the first few of each)."""
    a, b = (failures.failed_files(workspace, job.name) for job in jobs)
    only_a = [file for file in a if file not in set(b)]
    only_b = [file for file in b if file not in set(a)]
    return {
        "a": len(only_a),
        "b": len(only_b),
        "first": {"a": only_a[:SHOWN], "b": only_b[:SHOWN]},
    }
