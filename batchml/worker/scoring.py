"""The worker side of a job: the init()/run() contract, run inside a worker of any backend.

A backend creates one ScoringWorker per worker (process or actor), calls start() once, then
score() once per mini-batch, and sends the outcomes back to the scheduler. User errors become
failed outcomes with the traceback as text; a fault in batchml itself is marked internal.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import logging
import os
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from batchml.worker.messages import MiniBatchOutcome, StartOutcome, Status
from batchml.worker.rows import (
    FileResults,
    count_items,
    describe_bad_return,
    iter_lines,
    plain_text,
)
from batchml.worker.tabular import context_of, is_tabular, mini_batch_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import ModuleType, TracebackType

    from batchml.worker.messages import MiniBatchTask, WorkerConfig, WorkerLogPaths

# Rows up to about this many characters go back in the outcome, larger ones in a part file.
# Lines sent back are written once (to the journal's rows.bin, which becomes the output);
# those of a part file twice (the part, then rows.bin). The runner holds at most
# batchml.runner.order.MAX_HELD_BYTES of them waiting for earlier mini-batches.
INLINE_ROWS_LIMIT = 4 * 1024 * 1024


def redirect_std_streams(paths: WorkerLogPaths) -> None:
    """Send this process's fd 1 and 2 (print, logging, C extensions, subprocesses) to its logs."""
    for path, fd in ((paths.stdout, 1), (paths.stderr, 2)):
        path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, fd)
        os.close(log_fd)
    # Line-buffered, so what a worker printed is on disk even if it is killed later.
    sys.stdout = _line_buffered(1)
    sys.stderr = _line_buffered(2)


def _line_buffered(fd: int) -> TextIO:
    return open(fd, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _user_traceback(exc: BaseException) -> str:
    # Drop the leading frames of this module and of importlib, so the text starts in user code.
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__
        or tb.tb_frame.f_code.co_filename.startswith("<frozen ")
    ):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _write_part(parts_dir: Path, task: MiniBatchTask, head: str, lines: Iterator[str]) -> str:
    # Written under a temporary name and renamed, so a part file is complete or absent;
    # the attempt is in the name, so a killed earlier attempt can never be mistaken for it.
    final = parts_dir / f"{task.index:08d}-{task.attempt}.part"
    temporary = final.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8", errors="backslashreplace") as part:
        part.write(head)
        for line in lines:
            part.write(line)
            part.write("\n")
    os.replace(temporary, final)
    return str(final)


def _activate(python: Path) -> None:
    """As an activated virtualenv does: the interpreter's folder first on PATH (so what the
    script runs, `pip` or a console script, is the environment's) and VIRTUAL_ENV set."""
    os.environ["PATH"] = os.pathsep.join(filter(None, [str(python.parent), os.environ.get("PATH")]))
    if (python.parent.parent / "pyvenv.cfg").is_file():
        os.environ["VIRTUAL_ENV"] = str(python.parent.parent)


def _takes_two(function: Callable[..., Any]) -> bool:
    """Whether run() takes a second argument: a partitioned run(input_data, mini_batch_context)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def _import_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered like `import score` would, so pickle and the script's own imports find it.
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


class ScoringWorker:
    """Runs the user's init() once and run() per mini-batch, inside one worker.

    `on_error` is called with each exception the user's code raised, before it becomes a
    failed outcome (a foreground run's debugger starts there).
    """

    def __init__(
        self,
        config: WorkerConfig,
        slot: int,
        error_log: Path,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._config = config
        self._slot = slot
        self._error_log = error_log
        self._on_error = on_error
        self._run: Callable[[Any], Any] | None = None

    def start(self) -> StartOutcome:
        """Set up the process, import the scoring script and call its init()."""
        try:
            return self._start()
        except Exception as exc:  # a batchml fault: report it, with its traceback, as internal
            return StartOutcome(
                Status.INTERNAL_ERROR,
                error=f"internal error starting worker {self._slot}: {_one_line(exc)}",
                detail=traceback.format_exc(),
            )

    def score(self, task: MiniBatchTask) -> MiniBatchOutcome:
        """Call run() on one mini-batch and, for append_row, format the lines it returned."""
        started = time.monotonic()
        try:
            return self._score(task, started)
        except Exception as exc:  # a batchml fault: report it, with its traceback, as internal
            return MiniBatchOutcome(
                task.index,
                task.attempt,
                Status.INTERNAL_ERROR,
                elapsed=time.monotonic() - started,
                error=f"internal error in worker {self._slot}: {_one_line(exc)}",
                detail=traceback.format_exc(),
            )

    def _start(self) -> StartOutcome:
        scoring = self._config.scoring
        script = scoring.script_path
        code_dir = scoring.code_dir.absolute()
        if not script.is_file():
            return self._start_failed(f"scoring script not found: {script}", None)
        if not code_dir.is_dir():
            return self._start_failed(f"code folder not found: {code_dir}", None)
        self._prepare_process(code_dir, script)
        try:
            module = _import_script(script)
        except (Exception, SystemExit) as exc:
            error = f"could not import scoring script {scoring.scoring_script}: {_one_line(exc)}"
            return self._start_failed(error, exc)
        missing = [name for name in ("init", "run") if not callable(getattr(module, name, None))]
        if missing:
            functions = " and ".join(f"{name}()" for name in missing)
            return self._start_failed(
                f"scoring script {scoring.scoring_script} does not define {functions}", None
            )
        try:
            module.init()
        except (Exception, SystemExit) as exc:
            error = f"init() failed in worker {self._slot}: {_one_line(exc)}"
            return self._start_failed(error, exc)
        self._run = module.run
        return StartOutcome(Status.SUCCEEDED)

    def _prepare_process(self, code_dir: Path, script: Path) -> None:
        scoring = self._config.scoring
        # str(): values from YAML may be numbers or booleans, as Azure accepts them.
        variables = scoring.environment_variables.items()
        os.environ.update({str(name): str(value) for name, value in variables})
        if scoring.model_dir is not None:
            os.environ["AZUREML_MODEL_DIR"] = str(scoring.model_dir.absolute())
        os.environ["AZUREML_BI_OUTPUT_PATH"] = str(self._config.output_dir.absolute())
        if self._config.python is not None:
            _activate(self._config.python)
        for folder in dict.fromkeys([str(script.parent), str(code_dir)]):
            sys.path.insert(0, folder)
        os.chdir(code_dir)
        # As if run as `python score.py`, whatever the start method left in argv.
        sys.argv = [str(script)]
        # Azure sends print() and logging to the same per-process stdout log.
        logging.basicConfig(
            level=scoring.logging_level.upper(),
            stream=sys.stdout,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )

    def _start_failed(self, error: str, exc: BaseException | None) -> StartOutcome:
        detail = self._user_error(exc)
        self._log_error(error, detail)
        return StartOutcome(Status.FAILED, error=error, detail=detail)

    def _score(self, task: MiniBatchTask, started: float) -> MiniBatchOutcome:
        if self._run is None:
            raise RuntimeError("score() called before a successful start()")
        try:
            arguments = self._arguments(task, self._run)
        except (Exception, SystemExit) as exc:
            error = f"could not read the mini-batch's rows: {_one_line(exc)}"
            return self._failed(task, started, error, exc)
        try:
            result = self._run(*arguments)
        except (Exception, SystemExit) as exc:
            return self._failed(task, started, f"run() failed: {_one_line(exc)}", exc)
        failed_files = None
        if isinstance(result, FileResults):
            failed_files = tuple(f"{path}: {error}" for path, error in result.failed.items())
            for failure in failed_files:
                self._log_error(f"mini-batch {task.index} attempt {task.attempt}: {failure}", None)
            result = result.rows
        items = count_items(result)
        if items is None:
            return self._failed(task, started, describe_bad_return(result), None)
        rows, part = b"", None
        if self._config.parts_dir is not None:
            try:
                rows, part = self._format_rows(self._config.parts_dir, task, result)
            except OSError:
                raise
            except Exception as exc:  # str() of a returned object raised: the user's error
                error = f"could not write the rows run() returned: {_one_line(exc)}"
                return self._failed(task, started, error, exc)
        elapsed = time.monotonic() - started
        return MiniBatchOutcome(
            task.index,
            task.attempt,
            Status.SUCCEEDED,
            elapsed,
            items=items,
            rows=rows,
            part=part,
            failed_files=failed_files,
        )

    @staticmethod
    def _arguments(task: MiniBatchTask, run: Callable[..., Any]) -> tuple[Any, ...]:
        """run()'s arguments: the files; or a tabular mini-batch's DataFrame, and a partition's
        context if run() takes a second argument."""
        if not is_tabular(task.files):
            return (list(task.files),)
        frame = mini_batch_frame(task.files)
        context = context_of(task.files, task.index)
        return (frame, context) if context is not None and _takes_two(run) else (frame,)

    def _failed(
        self, task: MiniBatchTask, started: float, error: str, exc: BaseException | None
    ) -> MiniBatchOutcome:
        detail = self._user_error(exc)
        self._log_error(f"mini-batch {task.index} attempt {task.attempt}: {error}", detail)
        elapsed = time.monotonic() - started
        return MiniBatchOutcome(
            task.index, task.attempt, Status.FAILED, elapsed, error=error, detail=detail
        )

    def _user_error(self, exc: BaseException | None) -> str | None:
        """The traceback of an exception of the user's code, after on_error has seen it."""
        if exc is None:
            return None
        if self._on_error is not None:
            self._on_error(exc)
        return _user_traceback(exc)

    @staticmethod
    def _format_rows(
        parts_dir: Path, task: MiniBatchTask, result: object
    ) -> tuple[bytes, str | None]:
        # Small outputs travel back with the outcome: a file per mini-batch would cost more
        # than the mini-batch. Past the limit, the lines go to a part file as they are made.
        text = plain_text(result)
        if text is not None and len(text) <= INLINE_ROWS_LIMIT:
            return text.encode("utf-8", "backslashreplace"), None
        buffer = io.StringIO()
        size = 0
        lines = iter_lines(result)
        for line in lines:
            buffer.write(line)
            buffer.write("\n")
            size += len(line) + 1
            if size > INLINE_ROWS_LIMIT:
                return b"", _write_part(parts_dir, task, buffer.getvalue(), lines)
        return buffer.getvalue().encode("utf-8", "backslashreplace"), None

    def _log_error(self, error: str, detail: str | None) -> None:
        self._error_log.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().isoformat(sep=" ", timespec="seconds")
        with open(self._error_log, "a", encoding="utf-8", errors="backslashreplace") as log:
            log.write(f"{stamp} {error}\n")
            if detail:
                log.write(detail.rstrip("\n") + "\n")


def release_script(code_dir: str) -> None:
    """Empty the modules loaded from `code_dir`, as an interpreter exit would: this closes the
    files and writers the script kept in its globals."""
    prefix = os.path.join(code_dir, "")
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if filename and os.path.abspath(filename).startswith(prefix):
            namespace = module.__dict__
            # Newest first: what init() created goes before the imports it may still need.
            for name in reversed(list(namespace)):
                del namespace[name]
