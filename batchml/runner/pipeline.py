"""The runner of a pipeline job: its steps' commands, in dependency order, in shells.

Each step runs `bash -c COMMAND` in a copy of its component's code folder (`<child job>/wd`),
with its output folders created empty beforehand, its stdout and stderr in the child job's
`user_logs/std_log.txt`, and `python` meaning the interpreter batchml runs on (environments are
recorded, not built). Independent steps run side by side, up to one per CPU. A step that fails
fails the pipeline: the steps still running are stopped and the others are not started, unless
`continue_on_step_failure` is set, in which case the steps that do not depend on it go on.
The parent's `logs/azureml/executionlogs.txt` says what was submitted and how it ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from batchml.core.errors import BatchmlError
from batchml.core.pipeline_job import EXECUTION_LOG, STEP_LOG, PipelineJob, StepJob
from batchml.store import job_files as job_store
from batchml.store.workspace import Workspace, now_iso
from batchml.worker.lifetime import die_with_parent

# How long a stopped step gets between SIGTERM and SIGKILL.
STOP_GRACE = 5.0
# How many lines of a failed step's log the execution log repeats.
TAIL_LINES = 10


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())


def _tail(path: Path, lines: int) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


class PipelineRunner:
    """Runs one pipeline job's steps and keeps its and its children's records current."""

    def __init__(self, folder: Path, *, resume: bool = False) -> None:
        self.folder = folder
        self.workspace = Workspace(folder.parent.parent)
        job = job_store.get(self.workspace, folder.name)
        if not isinstance(job, PipelineJob):
            raise BatchmlError(f"job '{folder.name}' is not a pipeline job")
        self.job = job
        self.resume = resume
        self.cancel = threading.Event()
        self.children: dict[str, StepJob] = {}
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self._log = folder / EXECUTION_LOG

    # -- records and logs ---------------------------------------------------------------------
    def say(self, message: str) -> None:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("a") as log:
            log.write(f"[{_stamp()}] {message}\n")

    def update(self, **changes: object) -> None:
        self.job = dataclasses.replace(self.job, **changes)  # type: ignore[arg-type]
        with job_store.job_lock(self.workspace, self.job.name):
            job_store.save(self.workspace, self.job)

    def update_step(self, step: str, **changes: object) -> StepJob:
        child = dataclasses.replace(self.children[step], **changes)  # type: ignore[arg-type]
        self.children[step] = child
        with job_store.job_lock(self.workspace, child.name):
            job_store.save(self.workspace, child)
        return child

    # -- steps --------------------------------------------------------------------------------
    def _start(self, step: str) -> bool:
        """Start a step's command; False (the step recorded Failed) if it cannot start."""
        try:
            self._launch(step)
        except OSError as exc:
            error = f"step {step} could not start: {exc}"
            self.update_step(step, status="Failed", end_time=now_iso(), error=error)
            self.say(f"Step {step} (run id {self.children[step].name}) could not start: {exc}")
            return False
        return True

    def _launch(self, step: str) -> None:
        child = self.children[step]
        folder = job_store.job_dir(self.workspace, child.name)
        workdir = folder / "wd"
        shutil.rmtree(workdir, ignore_errors=True)
        code = child.component.get("code")
        if code:
            shutil.copytree(code, workdir, symlinks=True)
        else:
            workdir.mkdir(parents=True)
        for record in child.outputs.values():
            output = Path(record["local"])
            shutil.rmtree(output, ignore_errors=True)
            output.mkdir(parents=True)
        log = folder / STEP_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            **child.environment_variables,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "AZUREML_RUN_ID": child.name,
            "AZUREML_ROOT_RUN_ID": self.job.name,
            "PYTHONUNBUFFERED": "1",
        }
        with log.open("ab") as out:
            self.running[step] = subprocess.Popen(
                ["bash", "-c", child.command],
                cwd=workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_step_process,
            )
        self.update_step(step, status="Running", start_time=now_iso(), end_time=None, error=None)
        self.say(f"Submitting 1 runs, first five are: {child.name} (step {step})")

    def _finished(self, step: str, code: int) -> bool:
        """Record how a step ended; True if it completed."""
        child = self.children[step]
        self.running.pop(step)
        if code == 0:
            self.update_step(step, status="Completed", exit_code=0, end_time=now_iso())
            self.say(f"Completing processing run id {child.name} (step {step}).")
            return True
        log = job_store.job_dir(self.workspace, child.name) / STEP_LOG
        how = f"exit code {code}" if code > 0 else f"signal {signal.Signals(-code).name}"
        error = f"step {step} failed with {how}; its log: {log}"
        self.update_step(step, status="Failed", exit_code=code, end_time=now_iso(), error=error)
        self.say(f"Step {step} (run id {child.name}) failed with {how}. Last lines of its log:")
        for line in _tail(log, TAIL_LINES):
            self.say(f"    {line}")
        return False

    def _stop_running(self) -> None:
        for process in self.running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while any(p.poll() is None for p in self.running.values()):
            if time.monotonic() > deadline:
                for process in self.running.values():
                    _signal_group(process, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        for step in list(self.running):
            self.running.pop(step)
            self.update_step(step, status="Canceled", end_time=now_iso(), error="stopped")
            self.say(f"Step {step} (run id {self.children[step].name}) stopped.")

    def _skip(self, step: str, reason: str) -> None:
        self.update_step(step, status="Canceled", end_time=now_iso(), error=reason)
        self.say(f"Step {step} not run: {reason}")

    # -- the job ------------------------------------------------------------------------------
    def run(self) -> int:
        if self.job.is_terminal():
            self.say(f"job {self.job.name} is {self.job.status}: nothing to run")
            return 0
        for step, name in self.job.steps.items():
            child = job_store.get(self.workspace, name)
            assert isinstance(child, StepJob)
            self.children[step] = child
        self.update(
            runner_pid=os.getpid(),
            status="Running",
            start_time=self.job.start_time or now_iso(),
            end_time=None,
            error=None,
        )
        for warning in self.job.warnings:
            self.say(f"WARNING: {warning}")
        if (self.folder / job_store.CANCEL_FILE).exists():
            self.cancel.set()
        keep_going = bool(self.job.settings.get("continue_on_step_failure", True))
        pending = [s for s in self.job.steps if self.children[s].status != "Completed"]
        if self.resume:
            kept = [s for s in self.job.steps if s not in pending]
            self.say(f"Resuming: keeping completed steps {', '.join(kept) or '(none)'}")
        for step in pending:
            self.update_step(step, status="NotStarted", exit_code=None, error=None)
        failed: list[str] = []
        slots = max(1, os.cpu_count() or 1)
        while (pending or self.running) and not self.cancel.is_set():
            for step in list(pending):
                needs = self.children[step].depends_on
                if any(s in failed or self.children[s].status == "Canceled" for s in needs):
                    pending.remove(step)
                    self._skip(step, f"a step it reads from did not complete ({', '.join(needs)})")
                elif len(self.running) < slots and all(
                    self.children[s].status == "Completed" for s in needs
                ):
                    pending.remove(step)
                    if not self._start(step):
                        failed.append(step)
            time.sleep(0.05)
            for step, process in list(self.running.items()):
                code = process.poll()
                if code is not None and not self._finished(step, code):
                    failed.append(step)
            if failed and not keep_going:
                break
        stopped = bool(self.running)
        self._stop_running()
        for step in pending:
            reason = "the job was canceled" if self.cancel.is_set() else f"step {failed[0]} failed"
            self._skip(step, reason)
        return self.finish(failed, canceled=self.cancel.is_set() and not failed, stopped=stopped)

    def finish(self, failed: list[str], *, canceled: bool, stopped: bool) -> int:
        if failed:
            names = ", ".join(failed)
            error = f"step {names} failed" if len(failed) == 1 else f"steps {names} failed"
            first = self.children[failed[0]]
            if first.exit_code is not None:
                error += f" (exit code {first.exit_code})"
            error += f"; see: batchml job show -n {first.name}"
            if stopped:
                error += "; the steps still running were stopped"
            status = "Failed"
        else:
            error, status = None, "Canceled" if canceled else "Completed"
        self.say(f"Pipeline job {self.job.name} {status}" + (f": {error}" if error else ""))
        self.update(status=status, error=error, end_time=now_iso())
        return 0 if status == "Completed" else 1

    def crashed(self, exc: BaseException) -> int:
        traceback.print_exc()
        message = exc.message if isinstance(exc, BatchmlError) else f"the runner failed: {exc}"
        self._stop_running()
        self.update(status="Failed", error=message, end_time=now_iso())
        return 1


def _step_process() -> None:
    """In the step's process before it runs the shell: a process group of its own (to stop
    everything the command starts), ended with the runner."""
    os.setpgid(0, 0)
    die_with_parent()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
