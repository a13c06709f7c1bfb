"""The debugging loop's foreground runs: `batch-deployment test` (a deployment file, or one
that exists, on a mini-batch or a few of an input) and `job replay` (a mini-batch of a job, with
the job's own snapshot of code and model, environment and settings).

Both run in the foreground (batchml.runner.foreground), in the environment a job would run in
(built into the per-user cache, or found there, when env_manager is uv), and change nothing in
the workspace: no job, no log, no output.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.core.batch_job import BatchJob, DataInput
from batchml.core.errors import BatchmlError, NotFoundError, UsageError
from batchml.core.job_environment import UV
from batchml.core.resources import PipelineDeployment
from batchml.runner import inputs, tabular
from batchml.runner.plan import plan_mini_batches
from batchml.services import deployments, invocations, job_environments
from batchml.store.job_files import get, job_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from batchml.core import spec as specs
    from batchml.core.job_environment import JobEnvironment
    from batchml.core.resources import Deployment
    from batchml.core.run_settings import RunSettings
    from batchml.services.deployment_specs import Options
    from batchml.store.workspace import Workspace


@dataclass(frozen=True)
class Foreground:
    """How a foreground run goes: the debugger at an exception, and where messages go."""

    pdb: bool = False
    say: Callable[[str], None] = lambda message: print(message, file=sys.stderr)


def _run(
    code: tuple[str, str, str | None],
    model_dir: str | None,
    settings: RunSettings,
    environment: JobEnvironment,
    batches: list[tuple[int, tuple[str, ...]]],
    how: Foreground,
    timings: Path | None = None,
) -> int:
    """Run `batches` of the scoring script (code folder, script, the folder it was copied
    from) in `environment`; the foreground process's exit status. With `timings`, the rows
    are not shown and how long each step took is written there (batchml.worker.foreground)."""
    from batchml.runner.environment import prepare
    from batchml.runner.foreground import run_in_foreground

    code_dir, script, source = code
    python = None
    if environment.manager == UV:
        # The build's log is kept only if the build fails (its error names it).
        logs = Path(tempfile.mkdtemp(prefix="batchml-build-"))
        environment = prepare(environment, logs, how.say)
        shutil.rmtree(logs)
        python = Path(environment.python_executable) if environment.python_executable else None
    elif environment.reason:
        how.say(f"environment: {environment.reason}")
    request: dict[str, Any] = {
        "code_dir": code_dir,
        "scoring_script": script,
        "model_dir": model_dir,
        "environment_variables": {
            str(k): str(v) for k, v in settings.environment_variables.items()
        },
        "logging_level": settings.logging_level,
        "output_action": settings.output_action,
        "batches": [[index, list(files)] for index, files in batches],
        "folders": {code_dir: source} if source else {},
        "python": str(python) if python else None,
        "pdb": how.pdb,
        "timeout": settings.timeout,
        "timings": str(timings) if timings else None,
    }
    return run_in_foreground(request, python, rows=timings is None)


def _code(deployment: Deployment) -> tuple[str, str, str | None]:
    if deployment.code is None or deployment.scoring_script is None:
        from batchml.mlflow import DRIVER_DIR, DRIVER_SCRIPT

        return str(DRIVER_DIR), DRIVER_SCRIPT, None
    return deployment.code, deployment.scoring_script, deployment.code_source


def test(
    workspace: Workspace,
    deployment_of: specs.Spec | tuple[str, str],
    options: Options,
    input_value: str,
    limit: int,
    how: Foreground,
) -> int:
    """Run the first `limit` mini-batches of `input_value` with a deployment: the one a spec
    describes (not created), or an existing (endpoint, name)."""
    if limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {limit}")
    if isinstance(deployment_of, tuple):
        found = deployments.get(workspace, *deployment_of)
        if isinstance(found, PipelineDeployment):
            raise UsageError(
                f"{found.name} is a pipeline deployment; batch-deployment test runs model "
                "deployments"
            )
        deployment = found
    else:
        deployment = deployments.preview(workspace, deployment_of, options)
    settings = deployment.settings
    data = invocations.resolve_input(workspace, input_value)
    refuse_storage(data, "batch-deployment test")
    planned: list[tuple[str, ...]]
    if data.in_rows(settings):
        planned = tabular.plan(data, settings)
    else:
        listed = inputs.listed_files(workspace, data)
        planned = plan_mini_batches(listed.files, settings.mini_batch_size, sizes=listed.sizes)
    batches = list(enumerate(planned[:limit]))
    environment = job_environments.for_deployment(workspace, deployment, settings.env_manager)
    model_dir = deployment.model.model_dir
    return _run(_code(deployment), model_dir, settings, environment, batches, how)


def refuse_storage(data: DataInput, command: str) -> None:
    """UsageError for an input in storage: a foreground run reads local files only."""
    if data.remote is not None:
        raise UsageError(
            f"{data.path} is in storage; {command} runs mini-batches in the foreground, which "
            "reads local files only",
            hint="copy a few of its files to a local folder and give that",
        )


def sample(
    deployment: Deployment,
    settings: RunSettings,
    environment: JobEnvironment,
    batches: list[tuple[int, tuple[str, ...]]],
    how: Foreground,
) -> dict[str, Any]:
    """Run `batches` of a deployment in the foreground, rows unseen: how long init() took and
    each mini-batch (index, files, seconds, items), as batchml.worker.foreground measured
    them. UsageError if one failed (its messages went to `how.say`'s stream)."""
    import json

    with tempfile.TemporaryDirectory(prefix="batchml-sample-") as scratch:
        timings = Path(scratch) / "timings.json"
        model_dir = deployment.model.model_dir
        status = _run(_code(deployment), model_dir, settings, environment, batches, how, timings)
        measured: dict[str, Any] = (
            json.loads(timings.read_text(encoding="utf-8")) if timings.is_file() else {}
        )
    if status != 0 or len(measured.get("mini_batches", ())) != len(batches):
        raise BatchmlError(
            "a sampled mini-batch failed (see the messages above), so there is no estimate",
            hint="run it with batchml batch-deployment test to debug it",
        )
    return measured


def replay(
    workspace: Workspace, name: str, mini_batch: int | None, file: Path | None, how: Foreground
) -> int:
    """Run one mini-batch of a job again, in the foreground, as the job ran it: its snapshot
    of the code and model, its settings, its environment (built here for a Ray job)."""
    job = get(workspace, name)
    if not isinstance(job, BatchJob):
        raise UsageError(f"job '{name}' is not a batch scoring job; replay runs their mini-batches")
    settings = job.settings
    refuse_storage(job.input, "job replay")
    batches: Sequence[tuple[str, ...]]
    if job.input.in_rows(settings):
        batches = tabular.plan(job.input, settings)
    else:
        batches = inputs.job_batches(
            workspace, job_dir(workspace, name), job.input, settings.mini_batch_size
        )
    index = _chosen(batches, name, mini_batch, file, how)
    scoring = job.scoring
    code = (scoring.code_dir, scoring.scoring_script, scoring.code_source)
    environment = job.runs_in
    chosen = [(index, batches[index])]
    return _run(code, scoring.model_dir, settings, environment, chosen, how)


def _chosen(
    batches: Sequence[tuple[str, ...]],
    name: str,
    mini_batch: int | None,
    file: Path | None,
    how: Foreground,
) -> int:
    """The index of the mini-batch `--mini-batch K`, or `--file PATH`, names."""
    if (mini_batch is None) == (file is None):
        raise UsageError("give one of --mini-batch K or --file PATH")
    if file is not None:
        wanted = os.path.abspath(file)
        found = next(
            (i for i, batch in enumerate(batches) if wanted in map(tabular.file_of, batch)), None
        )
        if found is None:
            raise NotFoundError(f"--file {file}: job '{name}' did not score {wanted}")
        how.say(f"{file} is in mini-batch {found}")
        return found
    assert mini_batch is not None  # one of the two is given
    if not 0 <= mini_batch < len(batches):
        raise UsageError(
            f"--mini-batch {mini_batch}: job '{name}' has mini-batches 0 to {len(batches) - 1}"
        )
    return mini_batch
