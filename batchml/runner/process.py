"""The detached runner of one job: `python -m batchml.runner JOB_FOLDER [--resume]
[--retry-failed]` (see batchml.runner.__main__). A pipeline job is run by batchml.runner.pipeline; what follows is about
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
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.backends.local import LocalBackend
from batchml.core.batch_job import BatchJob, JobCounts, RayWorkers
from batchml.core.errors import BatchmlError, ConflictError
from batchml.core.job_environment import LOCAL, UV, JobEnvironment
from batchml.core.job_record import JobStatus
from batchml.core.streams import escape_unencodable
from batchml.envs.packages import mismatches, pip_requirements
from batchml.runner.engine import run_job, worker_config
from batchml.runner.environment import prepare
from batchml.runner.events import JobEvent, JobResult
from batchml.runner.inputs import job_batches, storage_names
from batchml.runner.journal import discard
from batchml.runner.lifecycle import Canceled, JobLifecycle
from batchml.runner.logs import describe_counts
from batchml.runner.plan import ListedBatches, files_total, listing
from batchml.store import job_files as job_store
from batchml.worker.lifetime import become_subreaper
from batchml.worker.messages import ScoringSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from batchml.backends.base import BackendFactory
    from batchml.backends.fork_server import ForkServer
    from batchml.runner.pipeline import PipelineRunner
    from batchml.runner.reuse import Reuse
    from batchml.runner.staging import Fetcher
    from batchml.worker.messages import WorkerConfig

# Progress lines in the driver log (what `job stream` shows) are at most this often.
PROGRESS_INTERVAL = 2.0
# The plan's size is written at once (`job stream` says "planning" until it is known), and
# Finalizing (before the output is assembled, under the job's lock). job_finished's counts are
# those the job's last record has, written right after (held back until then).
_WRITTEN_AT_ONCE = ("job_started", "job_finalizing")


_SAYING = threading.Lock()


def _say(message: str) -> None:
    """A line of the driver log; whole, whichever thread says it (the tracking one too)."""
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n"
    with _SAYING:
        sys.stdout.write(line)
        sys.stdout.flush()


class Runner:
    """Runs one job and mirrors its progress into the job record."""

    def __init__(
        self,
        folder: Path,
        *,
        resume: bool = False,
        retry_failed: bool = False,
        server: ForkServer | None = None,
    ) -> None:
        self.folder = folder
        # The workers' fork server, started already (see batchml.runner.launch), if any.
        self.server = server
        self.record = JobLifecycle(folder, BatchJob, "batch scoring job")
        self.resume = resume
        self.retry_failed = retry_failed
        self._reported_at = 0.0
        # worker slot -> the mini-batch it runs
        self._running: dict[int, int] = {}
        # The counts of the latest event, and how many mini-batches ran then.
        self._latest: tuple[JobCounts, int] = (JobCounts(), 0)

    def on_event(self, event: JobEvent) -> None:
        self.record.settle_run()
        if event.kind == "mini_batch_failed" and event.error:
            retry = "; retrying" if event.will_retry else ""
            _say(
                f"mini-batch {event.mini_batch} attempt {event.attempt} failed: {event.error}{retry}"
            )
        now = time.monotonic()
        if event.kind == "mini_batch_succeeded" and now - self._reported_at >= PROGRESS_INTERVAL:
            self._reported_at = now
            _say(describe_counts(event.counts))
        if event.mini_batch is not None and event.worker is not None:
            # By worker: a mini-batch reported succeeded late (batchml.runner.order) ended
            # when its worker started the next one.
            if event.kind == "mini_batch_started":
                self._running[event.worker] = event.mini_batch
            elif self._running.get(event.worker) == event.mini_batch:
                del self._running[event.worker]
        self._latest = (event.counts, len(self._running))
        if event.kind in _WRITTEN_AT_ONCE:
            job = self._with_counts()
            if event.kind == "job_finalizing":
                job = dataclasses.replace(job, status=JobStatus.FINALIZING)
            self.record.update(job)
        else:
            self.record.update_later(self._with_counts)

    def _with_counts(self) -> BatchJob:
        """The record with the counts of the latest event."""
        counts, running = self._latest
        counts = dataclasses.replace(counts, mini_batches_running=running)
        return dataclasses.replace(self.record.job, counts=counts)

    def _environment_warnings(self) -> list[str]:
        """In batchml's interpreter: the declared pip packages that differ from what is here."""
        if self.record.job.runs_in.manager != LOCAL:
            return []
        warnings = mismatches(pip_requirements(self.record.job.scoring.environment))
        for warning in warnings:
            _say(f"WARNING: {warning}")
        return warnings

    def run(self) -> int:
        job = self.record.job
        if job.is_terminal():
            # Canceled before its runner started, or resumed twice at once.
            _say(f"job {job.name} is {job.status}: nothing to run")
            return 0
        how = " (resuming" + (", retrying failed mini-batches)" if self.retry_failed else ")")
        _say(
            f"job {job.name}: endpoint {job.endpoint}, deployment {job.deployment}"
            + (how if self.resume else "")
        )
        job = dataclasses.replace(job, warnings=self._environment_warnings())
        self.record.begin(job, JobStatus.PREPARING)
        self.record.open_run(_say)
        try:
            with self.record.interruptible():
                environment = self._prepare(job)
        except Canceled:
            return self.end(JobStatus.CANCELED, "canceled while its environment was built")
        except BatchmlError as exc:
            return self.end(JobStatus.FAILED, exc.message)
        job = dataclasses.replace(self.record.job, runs_in=environment)
        settings = job.settings
        # Local workers get the variables of the job's MLflow run when it is open (they start
        # meanwhile); Ray actors are made with theirs.
        run = self.record.run if isinstance(job.backend, RayWorkers) else None
        scoring = ScoringSpec(
            code_dir=Path(job.scoring.code_dir),
            scoring_script=job.scoring.scoring_script,
            model_dir=Path(job.scoring.model_dir) if job.scoring.model_dir else None,
            # The deployment's own variables win over the tracking ones.
            environment_variables={
                **(run.variables() if run is not None else {}),
                **settings.environment_variables,
            },
            logging_level=settings.logging_level,
        )
        python = Path(environment.python_executable) if environment.python_executable else None
        # Local workers start now, while the job's inputs are listed and its mini-batches
        # planned; run_job hands them out (see LocalBackend.start_ahead).
        started = self._start_workers(scoring, python)
        try:
            self.record.update(dataclasses.replace(job, status=JobStatus.RUNNING))
            by_rows = job.input.in_rows(settings)
            try:
                batches = (
                    self._rows(job)
                    if by_rows
                    else job_batches(
                        self.record.workspace,
                        self.folder,
                        job.input,
                        settings.mini_batch_size,
                        output_action=settings.output_action,
                    )
                )
            except BatchmlError as exc:
                return self.end(JobStatus.FAILED, exc.message)
            files = files_total(batches)
            what = "row range" if by_rows else "file"
            _say(
                (
                    f"{files} {what}{'' if files == 1 else 's'}"
                    if not listing(batches)
                    else "listing the input files"
                )
                + f", mini_batch_size {settings.mini_batch_size}, {settings.workers} worker "
                + ("process" if settings.workers == 1 else "processes")
            )
            fetcher = self._fetcher(batches)
            result = run_job(
                batches,
                scoring,
                settings,
                output_dir=Path(job.output.local_dir),
                logs_dir=self.folder / "logs",
                journal_dir=self.folder / job_store.JOURNAL_DIR,
                resume=self.resume,
                retry_failed=self.retry_failed,
                on_event=self.on_event,
                cancel=self.record.cancel,
                backend=started or self._ray_backend(),
                python=python,
                code_source=Path(job.scoring.code_source) if job.scoring.code_source else None,
                fetcher=fetcher,
                fetch_on_workers=isinstance(job.backend, RayWorkers),
                reuse=None if by_rows else self._reuse(job, fetcher.keys if fetcher else None),
                shown=storage_names(job.input),
            )
        finally:
            if started is not None:
                started.backend.shutdown()
        return self.finish(self._upload(result))

    def _upload(self, result: JobResult) -> JobResult:
        """A Completed job's output to a registered datastore goes up now (after the local
        assembly); if it cannot, the job fails naming the URL and why, and `job resume` (whose
        mini-batches are all in the journal) publishes it again."""
        output = self.record.job.output
        if output.remote is None or result.status != JobStatus.COMPLETED:
            return result
        from batchml.runner.upload import upload

        _say(f"uploading the output to {output.path}")
        try:
            count = upload(
                self.record.workspace,
                Path(output.local_dir),
                output.remote,
                self.record.job.name,
                _say,
            )
        except BatchmlError as exc:
            return dataclasses.replace(result, status=JobStatus.FAILED, error=exc.message)
        _say(f"output: {count} file(s) published in {output.path}")
        return result

    def _reuse(self, job: BatchJob, keys: Mapping[str, str] | None) -> Reuse | None:
        """The result cache for an append_row job, unless its settings say `reuse: false`
        (the output of a summary_only job is what its script writes itself, which reuse
        cannot give); files in storage are known by their cache `keys`."""
        if not job.settings.reuse or job.settings.output_action != "append_row":
            return None
        from batchml.runner.reuse import Reuse, job_key
        from batchml.store.result_cache import ResultCache

        cache = ResultCache()
        model_dir = Path(job.scoring.model_dir) if job.scoring.model_dir else None
        key = job_key(
            Path(job.scoring.code_dir),
            model_dir,
            job.scoring.scoring_script,
            job.runs_in,
            job.settings,
            cache,
        )
        return Reuse(key, cache, keys)

    def _rows(self, job: BatchJob) -> Sequence[tuple[str, ...]]:
        """The job's mini-batches of row ranges (batchml.runner.tabular, imported only for a
        job of rows: tens of milliseconds compiled from source)."""
        from batchml.runner import tabular

        return tabular.plan(job.input, settings=job.settings, workspace=self.record.workspace)

    def _fetcher(self, batches: Sequence[tuple[str, ...]]) -> Fetcher | None:
        """What fetches the job's input files from storage (None for local files). Ray actors
        fetch their own, row ranges too, into their node's cache: the runner's is not theirs."""
        job = self.record.job
        data = job.input
        if data.remote is None:
            return None
        from batchml.runner import tabular

        if not isinstance(batches, (ListedBatches, tabular.RowBatches)):
            return None
        from batchml.runner.staging import Fetcher
        from batchml.store import remote
        from batchml.store.input_cache import InputCache

        access = remote.data_access(self.record.workspace, data.remote)
        access = dataclasses.replace(access, name=data.path)
        if isinstance(batches, tabular.RowBatches) and isinstance(job.backend, RayWorkers):
            keys = {path: blob.key for path, blob in batches.blobs.items()}
            sizes = {path: blob.size for path, blob in batches.blobs.items()}
            return Fetcher(access, keys, InputCache(), _say, sizes=sizes)
        if isinstance(batches, tabular.RowBatches):  # row ranges of blobs, staged by the runner
            from batchml.runner.table_storage import RangeFetcher

            return RangeFetcher(access, batches.blobs, InputCache(), _say)
        return Fetcher(access, batches.keys(), InputCache(), _say, shown=storage_names(data))

    def _prepare(self, job: BatchJob) -> JobEnvironment:
        """The job's environment, built here for local workers; on Ray the nodes build it."""
        if isinstance(job.backend, RayWorkers):
            return job.runs_in
        return prepare(job.runs_in, self.folder / "azureml-logs", _say)

    def _start_workers(self, scoring: ScoringSpec, python: Path | None) -> _Started | None:
        """The job's local worker processes, started; None for Ray actors (see _ray_backend).
        They get the job's run's variables when it is open; the driver log says which GPUs
        they share, if any."""
        job = self.record.job
        if isinstance(job.backend, RayWorkers):
            return None
        config = worker_config(
            scoring,
            job.settings,
            output_dir=Path(job.output.local_dir),
            logs_dir=self.folder / "logs",
            journal_dir=self.folder / job_store.JOURNAL_DIR,
            python=python,
        )
        backend = LocalBackend(
            config, variables_later=self.record.run_variables(), server=self.server
        )
        if backend.devices:
            _say(
                f"GPUs {', '.join(backend.devices)}: each worker process gets one, in turn, "
                "in CUDA_VISIBLE_DEVICES"
            )
        backend.start_ahead(job.settings.workers)
        return _Started(backend, config)

    def _ray_backend(self) -> BackendFactory:
        """Actors on the Ray cluster of the job's compute, which install the job's
        requirements (with the package sources this runner's uv has)."""
        job = self.record.job
        workers = job.backend
        assert isinstance(workers, RayWorkers), "local workers are started by _start_workers"
        from batchml.backends.ray import RayOptions, factory
        from batchml.backends.ray_env import install_options_from_env
        from batchml.envs.requirements import Requirements

        options = RayOptions.from_record(dataclasses.asdict(workers))
        if job.runs_in.manager == UV:
            requirements = Requirements(job.runs_in.python, tuple(job.runs_in.packages))
            options = dataclasses.replace(
                options,
                requirements=requirements,
                install_options=install_options_from_env(os.environ),
            )
        _say(f"compute {workers.compute}: workers are Ray actors, Ray at {options.address}")
        return factory(options, log=_say)

    def finish(self, result: JobResult) -> int:
        _say(describe_counts(result.counts))
        _say(f"job {result.status}" + (f": {result.error}" if result.error else ""))
        job = dataclasses.replace(self.record.job, counts=result.counts)
        code = self.record.finish(job, result.status, result.error)
        if code == 0:
            # Only now: until the job is recorded Completed, a resume may still need the journal.
            discard(self.folder / job_store.JOURNAL_DIR)
        return code

    def end(self, status: JobStatus, error: str) -> int:
        """End the job before it ran anything (its environment could not be made ready)."""
        _say(f"job {status}: {error}")
        return self.record.finish(self.record.job, status, error)

    def crashed(self, exc: BaseException) -> int:
        return self.record.crashed(exc)


@dataclasses.dataclass(frozen=True)
class _Started:
    """Local workers started before run_job, with the config they were started with: run_job's
    backend factory, which hands them out."""

    backend: LocalBackend
    config: WorkerConfig

    def __call__(self, config: WorkerConfig) -> LocalBackend:
        assert config == self.config, f"run_job's workers need {config}, not {self.config}"
        return self.backend


def main(argv: list[str], server: ForkServer | None = None) -> int:
    """Run the job of the folder `argv` names; `server` is its workers' fork server, started
    already (see batchml.runner.launch.fork_server_first), closed by the time this returns."""
    try:
        return _run(argv, server)
    finally:
        if server is not None:  # closed already by the workers' backend, if they started
            server.close()


def _run(argv: list[str], server: ForkServer | None) -> int:
    escape_unencodable()
    args = argv[1:]
    folder = Path(args[0]).resolve()
    # Orphans of the job's processes come to this runner, which ends them with the job.
    become_subreaper()
    try:
        job_store.hold_runner_lock(folder)
    except ConflictError as exc:
        _say(f"not started: {exc.message}")
        return 1
    # From the moment the job is held: until the first beat, its silence is counted from when
    # the command that made it wrote its record.
    threading.Thread(
        target=job_store.keep_beating, args=(folder,), name="heartbeat", daemon=True
    ).start()
    resume = "--resume" in args
    runner: Runner | PipelineRunner
    if job_store.kind(folder) is None:  # a batch scoring job (a step job has no runner)
        runner = Runner(folder, resume=resume, retry_failed="--retry-failed" in args, server=server)
    else:
        from batchml.runner.pipeline import PipelineRunner

        runner = PipelineRunner(folder, resume=resume)

    def stop(_signum: int, _frame: object) -> None:
        runner.record.request_cancel()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return runner.run()
    except Exception as exc:
        return runner.crashed(exc)
