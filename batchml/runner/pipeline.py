"""The runner of a pipeline job: its steps' commands, in dependency order, in shells.

Each step runs `bash -c COMMAND` in a copy of its component's code folder (`<child job>/wd`),
with its output folders created empty beforehand, its stdout and stderr in the child job's
`user_logs/std_log.txt`, and `python` meaning the interpreter of the step's environment
(its component's, built while the pipeline job is Preparing; batchml's own with env_manager
local). Independent steps run side by side, up to one per CPU. A step that fails
fails the pipeline: the steps still running are stopped and the others are not started, unless
`continue_on_step_failure` is set, in which case the steps that do not depend on it go on.
The parent's `logs/azureml/executionlogs.txt` says what was submitted and how it ended.
Inputs in storage are fetched before their steps, and outputs to datastores uploaded once the
job completed, by batchml.runner.pipeline_data.
A step whose code, command, environment, inputs and parameters are those of a step that
completed before takes its outputs instead of running (batchml.runner.step_reuse).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batchml.core.errors import BatchmlError
from batchml.core.job_record import JobStatus
from batchml.core.pipeline_job import EXECUTION_LOG, STEP_LOG, PipelineJob, StepJob
from batchml.mlflow import tracking
from batchml.runner.environment import prepare
from batchml.runner.lifecycle import Canceled, JobLifecycle, save
from batchml.runner.pipeline_data import PipelineData
from batchml.runner.step_reuse import StepReuse, opted_out
from batchml.store import job_files as job_store
from batchml.store.workspace import now_iso
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
        self.record = JobLifecycle(
            folder, PipelineJob, "pipeline job", child_runs=self._step_run_ids
        )
        self.workspace = self.record.workspace
        self.resume = resume
        self.children: dict[str, StepJob] = {}
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.step_runs: dict[str, tracking.TrackedRun] = {}  # the running steps' MLflow runs
        self.reuse = StepReuse()
        self._log = folder / EXECUTION_LOG
        self.data = PipelineData(self.workspace, self.record.job.name, self.say)

    def _step_run_ids(self) -> list[str]:
        """The steps' MLflow runs, those of steps a resume kept among them."""
        return [c.mlflow_run_id for c in self.children.values() if c.mlflow_run_id]

    # -- records and logs ---------------------------------------------------------------------
    def say(self, message: str) -> None:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("a") as log:
            log.write(f"[{_stamp()}] {message}\n")

    def _say_for(self, step: str, message: str) -> None:
        self.say(f"step {step}: {message}")

    def _record_step(self, step: str, child: StepJob) -> None:
        """Make `child` the record of `step` and write it."""
        self.children[step] = child
        save(self.workspace, child)

    def _end_step(
        self, step: str, status: JobStatus, error: str | None, exit_code: int | None = None
    ) -> None:
        child = self.children[step]
        ended = dataclasses.replace(
            child, status=status, end_time=now_iso(), error=error, exit_code=exit_code
        )
        run = self.step_runs.pop(step, None)
        if run is not None:
            tracking.guarded(self.say, lambda: run.end(status, ended.metrics()), "ending a run")
        self._record_step(step, ended)

    # -- steps --------------------------------------------------------------------------------
    def _start(self, step: str) -> bool:
        """Start a step's command, unless an earlier run's outputs are reused; False (the
        step recorded Failed) if it cannot start."""
        if self._reused(step):
            return True
        try:
            self._launch(step)
        except OSError as exc:
            error = f"step {step} could not start: {exc}"
            self._end_step(step, JobStatus.FAILED, error)
            self.say(f"Step {step} (run id {self.children[step].name}) could not start: {exc}")
            return False
        return True

    def _reused(self, step: str) -> bool:
        """Whether the step took the outputs of an earlier run with the same code, command,
        environment, inputs and parameters (batchml.runner.step_reuse), and is Completed."""
        child, job = self.children[step], self.record.job
        earlier = self.reuse.take(job, step, child)
        if earlier is None:
            why = opted_out(job, child)
            if why is not None:
                self._say_for(step, f"not reused: {why}")
            return False
        now = now_iso()
        reused = dataclasses.replace(
            child, status=JobStatus.COMPLETED, start_time=now, end_time=now, error=None,
            exit_code=None, reused_from=earlier,
        )  # fmt: skip
        self._record_step(step, reused)
        message = (
            f"reused the outputs of {earlier} (same code, command, environment, inputs and "
            "parameters); not run"
        )
        log = job_store.job_dir(self.workspace, child.name) / STEP_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"batchml: {message}\n")
        self.say(f"Step {step} (run id {child.name}) {message}.")
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
        run = self._open_step_run(step)
        child = self.children[step]
        python = Path(child.runs_in.python_executable or sys.executable)
        environment = {
            **os.environ,
            **(run.variables() if run is not None else {}),
            **child.environment_variables,
            "PATH": os.pathsep.join([str(python.parent), os.environ.get("PATH", "")]),
            **({"VIRTUAL_ENV": str(child.runs_in.path)} if child.runs_in.path else {}),
            "AZUREML_RUN_ID": child.name,
            "AZUREML_ROOT_RUN_ID": self.record.job.name,
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
        started = dataclasses.replace(
            child, status=JobStatus.RUNNING, start_time=now_iso(), end_time=None, error=None
        )
        self._record_step(step, started)
        self.say(f"Submitting 1 runs, first five are: {child.name} (step {step})")

    def _open_step_run(self, step: str) -> tracking.TrackedRun | None:
        """The step's MLflow run, a child of the pipeline's (its own again on a resume)."""
        parent, child = self.record.run, self.children[step]
        if parent is None:
            return None

        def opened() -> tracking.TrackedRun:
            if child.mlflow_run_id is not None:
                return parent.store.start(
                    parent.experiment_name, child.name, run_id=child.mlflow_run_id
                )
            return parent.child(child.name)

        run: tracking.TrackedRun | None = tracking.guarded(self.say, opened, "opening a run")
        if run is not None:
            self.step_runs[step] = run
            self._record_step(step, dataclasses.replace(child, mlflow_run_id=run.run_id))
        return run

    def _finished(self, step: str, code: int) -> bool:
        """Record how a step ended; True if it completed."""
        child = self.children[step]
        self.running.pop(step)
        if code == 0:
            self._end_step(step, JobStatus.COMPLETED, None, exit_code=0)
            self.reuse.keep(step, self.children[step])
            self.say(f"Completing processing run id {child.name} (step {step}).")
            return True
        log = job_store.job_dir(self.workspace, child.name) / STEP_LOG
        how = f"exit code {code}" if code > 0 else f"signal {signal.Signals(-code).name}"
        error = f"step {step} failed with {how}; its log: {log}"
        self._end_step(step, JobStatus.FAILED, error, exit_code=code)
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
            self._end_step(step, JobStatus.CANCELED, "stopped")
            self.say(f"Step {step} (run id {self.children[step].name}) stopped.")

    def _skip(self, step: str, reason: str) -> None:
        self._end_step(step, JobStatus.CANCELED, reason)
        self.say(f"Step {step} not run: {reason}")

    # -- the job ------------------------------------------------------------------------------
    def run(self) -> int:
        job = self.record.job
        if job.is_terminal():
            self.say(f"job {job.name} is {job.status}: nothing to run")
            return 0
        for step, name in job.steps.items():
            child = job_store.get(self.workspace, name)
            assert isinstance(child, StepJob)
            self.children[step] = child
        self.record.begin(job, JobStatus.PREPARING)
        for warning in job.warnings:
            self.say(f"WARNING: {warning}")
        cancel = self.record.cancel
        keep_going = bool(job.settings.get("continue_on_step_failure", True))
        pending = [s for s in job.steps if self.children[s].status != JobStatus.COMPLETED]
        if self.resume:
            kept = [s for s in job.steps if s not in pending]
            self.say(f"Resuming: keeping completed steps {', '.join(kept) or '(none)'}")
        for step in pending:
            reset = dataclasses.replace(
                self.children[step],
                status=JobStatus.NOT_STARTED,
                exit_code=None,
                error=None,
                reused_from=None,
            )
            self._record_step(step, reset)
        self.record.open_run(self.say)
        unprepared = self._prepare(pending)
        if unprepared is not None:
            return unprepared
        self.record.update(dataclasses.replace(self.record.job, status=JobStatus.RUNNING))
        failed: list[str] = []
        slots = max(1, os.cpu_count() or 1)
        while (pending or self.running) and not cancel.is_set():
            for step in list(pending):
                needs = self.children[step].depends_on
                if any(s in failed or self.children[s].status == JobStatus.CANCELED for s in needs):
                    pending.remove(step)
                    self._skip(step, f"a step it reads from did not complete ({', '.join(needs)})")
                elif len(self.running) < slots and all(
                    self.children[s].status == JobStatus.COMPLETED for s in needs
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
            reason = "the job was canceled" if cancel.is_set() else f"step {failed[0]} failed"
            self._skip(step, reason)
        return self.finish(failed, canceled=cancel.is_set() and not failed, stopped=stopped)

    def _prepare(self, steps: list[str]) -> int | None:
        """Make the environments of `steps` ready, as the job's image builds (each step's uv
        output in its own azureml-logs/); None if they are, else the runner's exit code once
        the job is recorded Failed (naming the step) or Canceled."""
        step = None
        try:
            with self.record.interruptible():
                for step in steps:
                    child = self.children[step]
                    say = functools.partial(self._say_for, step)
                    self.data.fetch(child.inputs, say)  # its inputs in storage, made local
                    logs = job_store.job_dir(self.workspace, child.name) / "azureml-logs"
                    logs.mkdir(parents=True, exist_ok=True)
                    ready = prepare(child.runs_in, logs, say)
                    self._record_step(step, dataclasses.replace(child, runs_in=ready))
        except Canceled:
            for name in steps:
                self._skip(name, "the job was canceled")
            return self.end(JobStatus.CANCELED, "canceled while the steps' environments were built")
        except BatchmlError as exc:
            assert step is not None
            self._end_step(step, JobStatus.FAILED, exc.message)
            for name in steps:
                if name != step:
                    self._skip(name, f"step {step} could not be prepared")
            return self.end(JobStatus.FAILED, f"step {step}: {exc.message}")
        return None

    def end(self, status: JobStatus, error: str) -> int:
        job = self.record.job
        self.say(f"Pipeline job {job.name} {status}: {error}")
        return self.record.finish(job, status, error)

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
            status = JobStatus.FAILED
        else:
            error, status = None, JobStatus.CANCELED if canceled else JobStatus.COMPLETED
        if status == JobStatus.COMPLETED:
            try:
                self.data.upload(self._outputs())
            except BatchmlError as exc:
                status, error = JobStatus.FAILED, exc.message
        if error is not None:
            return self.end(status, error)
        job = self.record.job
        self.say(f"Pipeline job {job.name} {status}")
        return self.record.finish(job, status, error)

    def _outputs(self) -> list[dict[str, Any]]:
        """The records of the job's outputs and its steps' (one output may be both)."""
        children = [output for child in self.children.values() for output in child.outputs.values()]
        return [*self.record.job.outputs.values(), *children]

    def crashed(self, exc: BaseException) -> int:
        self._stop_running()
        return self.record.crashed(exc)


def _step_process() -> None:
    """In the step's process before it runs the shell: a process group of its own (to stop
    everything the command starts), ended with the runner."""
    os.setpgid(0, 0)
    die_with_parent()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
