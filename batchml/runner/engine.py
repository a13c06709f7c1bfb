"""A job from start to end: plan the mini-batches, open the journal and the logs, start the
backend, run the scheduler. `run_job` is the engine's entry point (see batchml.runner)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from batchml.backends.local import SEND_AHEAD, LocalBackend
from batchml.core.errors import UsageError
from batchml.runner.assembly import check_output
from batchml.runner.journal import PARTS_DIR, PENDING, Journal, plan_digest
from batchml.runner.logs import JobLogs
from batchml.runner.order import window_size
from batchml.runner.plan import ListedBatches, StreamedBatches, listing, plan_mini_batches
from batchml.runner.scheduler import Scheduler
from batchml.runner.tally import Tally
from batchml.worker.messages import WorkerConfig

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from batchml.backends.base import BackendFactory
    from batchml.core.run_settings import RunSettings
    from batchml.core.storage_urls import StorageAccess
    from batchml.runner.events import JobEvent, JobResult
    from batchml.runner.reuse import Reuse
    from batchml.runner.staging import Fetcher
from batchml.worker.messages import ScoringSpec


def worker_config(
    scoring: ScoringSpec,
    settings: RunSettings,
    *,
    output_dir: Path,
    logs_dir: Path,
    journal_dir: Path,
    python: Path | None = None,
    storage: StorageAccess | None = None,
    storage_names: dict[str, str] | None = None,
    blob_sizes: Mapping[str, int] | None = None,
) -> WorkerConfig:
    """What run_job starts its workers with; a runner that starts them before it calls
    run_job (batchml.runner.process) makes the same with this. Workers that fetch their
    files from `storage` name them in messages as `storage_names` says (see run_job's
    `shown`), and read row ranges of the blobs `blob_sizes` gives the sizes of."""
    # Absolute before they reach workers, which change directory (and may run elsewhere).
    model_dir = scoring.model_dir.absolute() if scoring.model_dir is not None else None
    scoring = replace(scoring, code_dir=scoring.code_dir.absolute(), model_dir=model_dir)
    # Not resolved: a virtualenv's python is a link, and the venv is known by the link's path.
    python = python.absolute() if python is not None else None
    append_row = settings.output_action == "append_row"
    parts_dir = journal_dir.absolute() / PARTS_DIR if append_row else None
    output_dir, logs_dir = output_dir.absolute(), logs_dir.absolute()
    return WorkerConfig(
        scoring, output_dir, logs_dir, parts_dir, python, storage,
        storage_names=storage_names or {}, blob_sizes=blob_sizes or {},
    )  # fmt: skip


def run_job(
    files: Sequence[Path | str] | Sequence[tuple[str, ...]],
    scoring: ScoringSpec,
    settings: RunSettings,
    *,
    output_dir: Path,
    logs_dir: Path,
    on_event: Callable[[JobEvent], None] | None = None,
    cancel: threading.Event | None = None,
    backend: BackendFactory | None = None,
    journal_dir: Path | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    python: Path | None = None,
    code_source: Path | None = None,
    fetcher: Fetcher | None = None,
    fetch_on_workers: bool = False,
    reuse: Reuse | None = None,
    shown: dict[str, str] | None = None,
) -> JobResult:
    """Score `files` with the scoring script, as an Azure ML batch deployment would; `files`
    may be their mini-batches planned already, tuples of paths (batchml.runner.plan).

    Blocks until the job ends and returns how it ended; a failing script gives a Failed result,
    not an exception. Setting `cancel` stops the workers and gives a Canceled result. `backend`
    builds the workers (default: local processes). `python` is the interpreter that local
    workers run with, seeing its packages instead of this process's (default: this process's
    own). Raises UsageError when there are no files and ConflictError when the append_row
    output file already exists, before anything runs.

    Every final outcome goes to the journal in `journal_dir` (default: `journal` beside
    `logs_dir`), which a new run replaces. With `resume`, the run continues the journal there
    instead: mini-batches it has an outcome for are kept, not run again (those that failed are
    run again with `retry_failed`), and the output comes out as one uninterrupted run's would;
    it raises JournalError if the journal there belongs to other mini-batches.

    Every failed item is recorded in `logs_dir`/failures.jsonl, with the paths of the code
    folder mapped to `code_source`, the folder it was copied from, when given.

    With `fetcher`, `files` are paths in storage, which it fetches, mini-batch by mini-batch
    and a few ahead, for the workers to read as local files; with `fetch_on_workers` too, the
    workers fetch them themselves. `shown` maps their folder in storage to how the user named it, for failure records and
    errors (batchml.runner.inputs.storage_names).

    With `reuse`, mini-batches the result cache has an outcome for are journaled from it
    instead of run, and those that succeed with every file are stored there.
    """
    started = time.monotonic()
    if isinstance(files, ListedBatches) or (files and isinstance(files[0], tuple)):
        batches = cast("Sequence[tuple[str, ...]]", files)
    else:
        paths = cast("Sequence[Path | str]", files)
        batches = plan_mini_batches(paths, settings.mini_batch_size, local=fetcher is None)
    if not batches:
        raise UsageError("the job has no input files")
    output_dir = output_dir.absolute()
    logs_dir = logs_dir.absolute()
    journal_dir = (journal_dir or logs_dir.parent / "journal").absolute()
    output_file = None
    if settings.output_action == "append_row":
        output_file = output_dir / settings.output_file_name
        if not resume:
            check_output(output_file)
    output_dir.mkdir(parents=True, exist_ok=True)
    if backend is None:
        backend = LocalBackend
    # Undone in reverse order: workers stopped, logs closed, journal closed.
    with ExitStack() as cleanup:
        if isinstance(batches, StreamedBatches):
            cleanup.callback(batches.close)
        # The digest of a plan still listed comes when the listing ends (Tally.listed).
        action = settings.output_action
        if listing(batches):
            plan = PENDING
        elif isinstance(batches, StreamedBatches) and batches.output_action == action:
            plan = batches.digest or plan_digest(batches, action)
        else:
            plan = plan_digest(batches, action)
        journal = Journal.reopen(journal_dir, plan) if resume else Journal.create(journal_dir, plan)
        cleanup.callback(journal.close)
        if isinstance(batches, StreamedBatches):
            # A resume checks the list again up to the last file a record may name.
            journal.synced_first = batches.sync
        if output_file is not None:
            check_output(output_file, journal.published)
        if retry_failed:
            journal.forget_failed()
        logs = JobLogs(logs_dir, resume=resume, kept=journal.outcomes)
        cleanup.callback(logs.close)
        storage = fetcher.access if fetcher is not None and fetch_on_workers else None
        config = worker_config(
            scoring,
            settings,
            output_dir=output_dir,
            logs_dir=logs_dir,
            journal_dir=journal_dir,
            python=python,
            storage=storage,
            storage_names=shown if storage is not None else None,
            blob_sizes=fetcher.sizes if fetcher is not None and storage is not None else None,
        )
        workers = backend(config)
        cleanup.callback(workers.shutdown)
        code_dir = str(config.scoring.code_dir)
        folders = {code_dir: str(code_source)} if code_source is not None else {}
        # Local workers whose files are local are sent several mini-batches at once.
        ahead = SEND_AHEAD if isinstance(workers, LocalBackend) and fetcher is None else 1
        # Only rows need mini-batch order: a summary_only job journals each outcome at once.
        window = window_size(settings.workers, ahead) if output_file is not None else 0
        tally = Tally(batches, logs, journal, folders, reuse, window, shown)
        if reuse is not None:
            reuse.start(tally, batches)
            cleanup.callback(reuse.close)
        if fetcher is not None:
            # Not on the way to a local-file job's first mini-batch (tens of milliseconds
            # compiled from source, with the storage modules it needs).
            from batchml.runner.staging import KeyedBackend, StagedBackend
        if fetcher is not None and fetch_on_workers:
            cleanup.callback(fetcher.close)
            workers = KeyedBackend(workers, fetcher.keys)
        elif fetcher is not None:
            skip = tally.is_done if reuse is None else reuse.skips(tally)
            ahead = 2 * settings.workers + 4
            workers = StagedBackend(workers, fetcher, batches, skip, ahead, shown)
            cleanup.callback(workers.shutdown)
        try:
            scheduler = Scheduler(
                batches, settings, workers, logs, tally, on_event, cancel,
                fetches=fetcher is not None, ahead=ahead,
            )  # fmt: skip
            return scheduler.run(started, output_file)
        except BaseException as exc:
            logs.crashed(exc)
            raise
