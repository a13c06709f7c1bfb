"""The detached runner of one job: `python -m batchml.runner.process JOB_FOLDER [--resume]
[--retry-failed]`. A pipeline job is run by batchml.runner.pipeline; what follows is about
batch scoring jobs.

It holds the job's runner lock while it lives, reads the job record, runs the scheduler (with
`--resume`, from the job's journal), keeps `job.json` up to date (status, counts, error) and
touches the job's heartbeat file. SIGTERM or SIGINT (from `job cancel`, or Ctrl-C on
`invoke --stream`) cancels the job. What it prints goes to `azureml-logs/70_driver_log.txt`,
the log `job stream` follows.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core.batch_job import Job
from batchml.core.errors import BatchmlError, ConflictError
from batchml.core.pipeline_job import PIPELINE
from batchml.core.run_settings import RunSettings
from batchml.envs.packages import mismatches, pip_requirements
from batchml.runner.engine import run_job
from batchml.runner.events import JobEvent, JobResult
from batchml.runner.journal import discard
from batchml.runner.logs import describe_counts
from batchml.runner.pipeline import PipelineRunner
from batchml.store import job_files as job_store
from batchml.store.workspace import Workspace, now_iso
from batchml.worker.messages import ScoringSpec

if TYPE_CHECKING:
    from batchml.backends.base import BackendFactory

# State-file writes during a run are at most this often (status changes are written at once).
SAVE_INTERVAL = 0.5
# Progress lines in the driver log (what `job stream` shows) are at most this often.
PROGRESS_INTERVAL = 2.0


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


class Runner:
    """Runs one job and mirrors its progress into the job record."""

    def __init__(self, folder: Path, *, resume: bool = False, retry_failed: bool = False) -> None:
        self.folder = folder
        self.workspace = Workspace(folder.parent.parent)
        job = job_store.get(self.workspace, folder.name)
        if not isinstance(job, Job):
            raise BatchmlError(f"job '{folder.name}' is not a batch scoring job")
        self.job = job
        self.cancel = threading.Event()
        self.resume = resume
        self.retry_failed = retry_failed
        self._saved_at = 0.0
        self._reported_at = 0.0

    def update(self, force: bool = False, **changes: object) -> None:
        self.job = dataclasses.replace(self.job, **changes)  # type: ignore[arg-type]
        now = time.monotonic()
        if force or now - self._saved_at >= SAVE_INTERVAL:
            with job_store.job_lock(self.workspace, self.job.name):
                job_store.save(self.workspace, self.job)
            self._saved_at = now

    def on_event(self, event: JobEvent) -> None:
        if event.kind == "mini_batch_failed" and event.error:
            retry = "; retrying" if event.will_retry else ""
            _say(
                f"mini-batch {event.mini_batch} attempt {event.attempt} failed: {event.error}{retry}"
            )
        now = time.monotonic()
        if event.kind == "mini_batch_succeeded" and now - self._reported_at >= PROGRESS_INTERVAL:
            self._reported_at = now
            _say(describe_counts(event.counts))
        changes: dict[str, object] = {"counts": event.counts}
        if event.kind == "job_finalizing":
            changes["status"] = "Finalizing"
        self.update(force=event.kind in ("job_finalizing", "job_finished"), **changes)

    def _environment_warnings(self) -> list[str]:
        warnings = mismatches(pip_requirements(self.job.scoring.get("environment")))
        for warning in warnings:
            _say(f"WARNING: {warning}")
        return warnings

    def run(self) -> int:
        job = self.job
        if job.is_terminal():
            # Canceled before its runner started, or resumed twice at once.
            _say(f"job {job.name} is {job.status}: nothing to run")
            return 0
        how = " (resuming" + (", retrying failed mini-batches)" if self.retry_failed else ")")
        _say(
            f"job {job.name}: endpoint {job.endpoint}, deployment {job.deployment}"
            + (how if self.resume else "")
        )
        self.update(
            force=True,
            runner_pid=os.getpid(),
            status="Running",
            start_time=job.start_time or now_iso(),
            end_time=None,
            error=None,
            warnings=self._environment_warnings(),
        )
        if (self.folder / job_store.CANCEL_FILE).exists():
            self.cancel.set()
        files = job_store.input_files(self.workspace, job.name)
        settings = job.settings
        scoring = ScoringSpec(
            code_dir=Path(job.scoring["code_dir"]),
            scoring_script=job.scoring["scoring_script"],
            model_dir=Path(job.scoring["model_dir"]) if job.scoring.get("model_dir") else None,
            environment_variables=settings["environment_variables"],
            logging_level=settings["logging_level"],
        )
        run_settings = RunSettings(
            mini_batch_size=settings["mini_batch_size"],
            workers=settings["instance_count"] * settings["max_concurrency_per_instance"],
            max_retries=settings["max_retries"],
            timeout=float(settings["timeout"]),
            error_threshold=settings["error_threshold"],
            output_action=settings["output_action"],
            output_file_name=settings["output_file_name"],
        )
        _say(
            f"{len(files)} files, mini_batch_size {run_settings.mini_batch_size}, "
            f"{run_settings.workers} worker processes"
        )
        result = run_job(
            files,
            scoring,
            run_settings,
            output_dir=Path(job.output["local_dir"]),
            logs_dir=self.folder / "logs",
            journal_dir=self.folder / job_store.JOURNAL_DIR,
            resume=self.resume,
            retry_failed=self.retry_failed,
            on_event=self.on_event,
            cancel=self.cancel,
            backend=self._backend(),
        )
        return self.finish(result)

    def _backend(self) -> BackendFactory | None:
        """Local worker processes (None), or actors on the Ray cluster of the job's compute."""
        if self.job.backend.get("type") != "ray":
            return None
        from batchml.backends.ray import RayOptions, factory

        options = RayOptions.from_record(self.job.backend)
        _say(f"compute {self.job.compute}: workers are Ray actors, Ray at {options.address}")
        return factory(options)

    def finish(self, result: JobResult) -> int:
        _say(describe_counts(result.counts))
        _say(f"job {result.status}" + (f": {result.error}" if result.error else ""))
        self.update(
            force=True,
            status=result.status,
            counts=result.counts,
            error=result.error,
            end_time=now_iso(),
        )
        if result.status != "Completed":
            return 1
        # Only now: until the job is recorded Completed, a resume may still need the journal.
        discard(self.folder / job_store.JOURNAL_DIR)
        return 0

    def crashed(self, exc: BaseException) -> int:
        traceback.print_exc()
        if isinstance(exc, BatchmlError):
            message = exc.message
        else:
            message = f"the runner failed: {type(exc).__name__}: {exc}"
        self.update(force=True, status="Failed", error=message, end_time=now_iso())
        return 1


def detach() -> None:
    """Fork: the parent exits (its caller waits for it), the child leads a new session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def main(argv: list[str]) -> int:
    args = argv[1:]
    if args[0] == "--detach":
        detach()
        args = args[1:]
    folder = Path(args[0]).resolve()
    try:
        job_store.hold_runner_lock(folder)
    except ConflictError as exc:
        _say(f"not started: {exc.message}")
        return 1
    resume = "--resume" in args
    runner: Runner | PipelineRunner
    if job_store.kind(folder) == PIPELINE:
        runner = PipelineRunner(folder, resume=resume)
    else:
        runner = Runner(folder, resume=resume, retry_failed="--retry-failed" in args)

    def stop(_signum: int, _frame: object) -> None:
        runner.cancel.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(
        target=job_store.keep_beating, args=(folder,), name="heartbeat", daemon=True
    ).start()
    try:
        return runner.run()
    except Exception as exc:
        return runner.crashed(exc)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
