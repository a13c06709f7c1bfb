"""What a person sees while a batch scoring job runs: one progress line (phase, mini-batches
succeeded / failed / running, files, rate, ETA, elapsed), made from the counts the runner
writes to job.json.

On a terminal the line is rich's, kept at the bottom of stderr, and the job's log lines are
printed above it through the same console. Elsewhere (a pipe, a CI log) it is a plain
timestamped line on stderr now and then, with no control characters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING

from batchml.core.batch_job import BatchJob
from batchml.core.job_record import JobStatus

if TYPE_CHECKING:
    from rich.text import Text

    from batchml.core.batch_job import JobCounts
    from batchml.core.jobs import AnyJob

# A plain progress line at most this often (and one when the job ends).
PLAIN_INTERVAL_SECONDS = 10.0

_WAITING = {
    JobStatus.NOT_STARTED: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.PREPARING: "preparing the environment",
}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _elapsed(job: AnyJob) -> float | None:
    if not job.start_time:
        return None
    started = datetime.fromisoformat(job.start_time.replace("Z", "+00:00"))
    end = datetime.fromisoformat(job.end_time.replace("Z", "+00:00")) if job.end_time else None
    return max(0.0, ((end or datetime.now(timezone.utc)) - started).total_seconds())


class Pace:
    """Files per second and the time left, from the counts seen since the plan was known (or
    since the view began: a job followed half-way is measured from then on)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._first: tuple[float, int, int] | None = None

    def measure(self, counts: JobCounts) -> tuple[float | None, float | None]:
        """(files per second, seconds left), each None while there is nothing to tell."""
        now, files = self._clock(), counts.files_succeeded + counts.files_failed
        if not counts.mini_batches_total:
            return None, None  # still preparing or planning: that time is not the pace
        if self._first is None:
            self._first = (now, files, counts.mini_batches_done)
            return None, None
        then, files_then, done_then = self._first
        seconds, done = now - then, counts.mini_batches_done - done_then
        if seconds <= 0 or done <= 0:
            return None, None
        left = counts.mini_batches_total - counts.mini_batches_done
        return (files - files_then) / seconds, left * seconds / done


def _started(counts: JobCounts) -> bool:
    return bool(counts.mini_batches_done or counts.mini_batches_running)


def describe(job: BatchJob, pace: tuple[float | None, float | None]) -> str:
    """The progress line: what the job is doing, its counts, rate, ETA and elapsed time."""
    counts, status = job.counts, job.status
    elapsed = _elapsed(job)
    parts = [f"{status}"]
    if status in _WAITING:
        parts[0] = f"{status}: {_WAITING[status]}"
    elif not counts.mini_batches_total and not job.is_terminal() and not _started(counts):
        parts[0] = f"{status}: planning mini-batches"
    else:
        # Mini-batches run while the input is listed: the totals are not known yet.
        total = counts.mini_batches_total or "? (listing)"
        parts.append(
            f"mini-batches {counts.mini_batches_done}/{total}: "
            f"{counts.mini_batches_succeeded} succeeded, {counts.mini_batches_failed} failed, "
            f"{counts.mini_batches_running} running"
        )
        files = counts.files_succeeded + counts.files_failed
        parts.append(f"files {files}/{counts.files_total or '?'} ({counts.files_failed} failed)")
        rate, left = pace
        if rate is not None:
            parts.append(f"{rate:.1f} files/s")
        if not job.is_terminal():
            parts.append(f"ETA {_clock(left)}" if left is not None else "ETA --")
    if elapsed is not None:
        parts.append(f"elapsed {_clock(elapsed)}")
    return " | ".join(parts)


class View:
    """Log lines to `out`, and no progress: a pipeline job's view (its log says which steps
    ran). The progress views below add the line."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def log(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def update(self, job: AnyJob) -> None:
        """Show the job's latest counts."""

    def close(self, job: AnyJob) -> None:
        """The job ended (or the view is left): end the progress line."""


class PlainView(View):
    """A timestamped progress line on `err` when the counts changed, at most every
    PLAIN_INTERVAL_SECONDS, and the last one when the view closes."""

    def __init__(
        self,
        out: IO[str],
        err: IO[str],
        interval: float = PLAIN_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(out)
        self._err, self._interval, self._clock = err, interval, clock
        self._pace = Pace(clock)
        # What the last line said (status and counts: not the clock) and when.
        self._said: tuple[object, float] | None = None
        self._state: object = None
        self._line = ""

    def update(self, job: AnyJob) -> None:
        if not isinstance(job, BatchJob):
            return
        self._line = describe(job, self._pace.measure(job.counts))
        self._state = (job.status, job.counts)
        now = self._clock()
        if self._said is None or now - self._said[1] >= self._interval:
            self._say(now)

    def _say(self, now: float) -> None:
        if self._said is None or self._said[0] != self._state:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self._err.write(f"{stamp} {self._line}\n")
            self._err.flush()
            self._said = (self._state, now)

    def close(self, job: AnyJob) -> None:
        self.update(job)
        if self._line:
            self._say(self._clock())


class LiveView(View):
    """rich's live line at the bottom of the terminal; log lines bound for the terminal go
    through the same console, above it (a log bound for a pipe goes there)."""

    def __init__(self, out: IO[str]) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=sys.stderr)
        self._through_console = out.isatty()
        self._pace = Pace()
        self._line = ""
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def _render(self) -> Text:
        from rich.text import Text

        return Text(self._line, no_wrap=True, overflow="ellipsis", style="bold")

    def log(self, line: str) -> None:
        if not self._through_console:
            super().log(line)
            return
        from rich.text import Text

        self._console.print(Text(line), soft_wrap=True, highlight=False)

    def update(self, job: AnyJob) -> None:
        if isinstance(job, BatchJob):
            self._line = describe(job, self._pace.measure(job.counts))
            self._live.refresh()

    def close(self, job: AnyJob) -> None:
        self.update(job)
        self._live.stop()
        if self._line:
            from rich.text import Text

            self._console.print(Text(self._line), soft_wrap=True, highlight=False)


def view_for(job: AnyJob, out: IO[str]) -> View:
    """The view of `job` with its logs to `out`: live on a terminal, plain elsewhere."""
    if not isinstance(job, BatchJob):
        return View(out)
    if sys.stderr.isatty():
        return LiveView(out)
    return PlainView(out, sys.stderr)
