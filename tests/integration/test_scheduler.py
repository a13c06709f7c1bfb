"""The job engine on real processes and files: outputs, logs, environment, cancel."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from batchml.core import failures as records
from batchml.core.errors import ConflictError
from batchml.runner import JobEvent, RunSettings, ScoringSpec, plan_mini_batches, run_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60), pytest.mark.usefixtures("no_worker_left")]


def test_plan_keeps_order_and_makes_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    batches = plan_mini_batches(["a", "b", "c", "d", "e"], 2)
    assert batches == [
        (str(tmp_path / "a"), str(tmp_path / "b")),
        (str(tmp_path / "c"), str(tmp_path / "d")),
        (str(tmp_path / "e"),),
    ]


def test_rows_come_out_in_input_order_whatever_order_workers_finish(run):
    # Mini-batch 0 is the slowest, so workers finish 1 and 2 (and more) before it.
    contents = ["sleep 0.8", "ok", "ok", "sleep 0.1", "ok", "ok", "ok", "ok", "ok"]
    job = run(contents, mini_batch_size=2, workers=3)

    result = job.result
    assert result.status == "Completed"
    assert result.error is None
    assert job.output_lines() == [f"f{i:03d}.txt {content}" for i, content in enumerate(contents)]
    counts = result.counts
    assert (counts.mini_batches_total, counts.mini_batches_succeeded) == (5, 5)
    assert (counts.files_total, counts.files_succeeded, counts.files_failed) == (9, 9, 0)
    assert counts.items_succeeded == 9
    # The report has a row per attempt as it ends: workers finished out of order...
    finished = [int(row["mini_batch"]) for row in job.report()]
    assert sorted(finished) == [0, 1, 2, 3, 4]
    assert finished != [0, 1, 2, 3, 4]
    # ... and the journal recorded them in order (batchml.runner.order), so said so in order.
    recorded = [e.mini_batch for e in job.events if e.kind == "mini_batch_succeeded"]
    assert recorded == [0, 1, 2, 3, 4]
    # So the output is the journal's rows file itself, its lines written once.
    rows = job.logs_dir.parent / "journal" / "rows.bin"
    assert os.path.samestat(rows.stat(), job.result.output_file.stat())
    assert (job.events[0].kind, job.events[-1].kind) == ("job_started", "job_finished")
    assert job.events[-1].counts == counts
    # Only the output itself is left: no temporary file, no part files.
    assert [p.name for p in job.output_dir.iterdir()] == ["predictions.csv"]
    assert not (job.logs_dir / "job_error.txt").exists()
    assert job.log("job_result.txt").startswith("Status: Completed\n")
    overview = job.log("job_progress_overview.txt").splitlines()
    assert overview[0].endswith(
        "5 mini-batches created from 9 files (mini_batch_size 2, 3 workers)"
    )
    assert overview[-1].endswith("Job Completed")


def test_those_sent_ahead_behind_a_slow_mini_batch_are_run_by_the_idle_worker(run):
    # The worker of wait-rest was sent some of those after it ahead, when its mini-batches
    # took no time: wait-rest ends only once the other worker has taken them back and run them.
    contents = ["ok"] * 12 + ["wait-rest"] + ["ok"] * 12
    job = run(contents, mini_batch_size=1, workers=2, timeout=300)

    assert job.result.status == "Completed"
    counts = job.result.counts
    assert (counts.mini_batches_succeeded, counts.mini_batches_failed) == (25, 0)
    assert job.output_lines() == [f"f{i:03d}.txt {content}" for i, content in enumerate(contents)]
    report = job.report()
    assert all(row["attempt"] == "1" for row in report)
    slow = next(row["worker"] for row in report if row["mini_batch"] == "12")
    assert [row["mini_batch"] for row in report if row["worker"] == slow][-1] == "12"


def test_report_lists_every_attempt_and_user_output_goes_to_worker_logs(run):
    job = run(["ok", "raise", "ok"], mini_batch_size=1, workers=1, max_retries=1)

    assert job.result.status == "Completed"
    # Sorted: a retry may run after a mini-batch that was already sent ahead to the worker.
    rows = sorted(
        (r["mini_batch"], r["attempt"], r["worker"], r["result"], r["items_succeeded"],
         r["items_failed"], r["error"])
        for r in job.report()
    )  # fmt: skip
    error = "run() failed: ValueError: cannot score f001.txt"
    assert rows == [
        ("0", "1", "0", "succeeded", "1", "0", ""),
        ("1", "1", "0", "failed", "0", "1", error),
        ("1", "2", "0", "failed", "0", "1", error),
        ("2", "1", "0", "succeeded", "1", "0", ""),
    ]
    assert all(r["process"].startswith("pid ") for r in job.report())
    assert all(float(r["elapsed_seconds"]) >= 0 for r in job.report())

    stdout = job.log("user", "stdout", "localhost", "process000.stdout.txt").splitlines()
    assert sorted(line for line in stdout if line.startswith("scoring")) == [
        "scoring f000.txt",
        "scoring f001.txt",
        "scoring f001.txt",
        "scoring f002.txt",
    ]
    assert sum(line.endswith("INFO behave: info about f000.txt") for line in stdout) == 1
    assert not [line for line in stdout if "debug about" in line]
    stderr = job.log("user", "stderr", "localhost", "process000.stderr.txt")
    assert stderr.splitlines()[0] == "stderr note f000.txt"
    errors = job.log("user", "error", "localhost", "process000.txt")
    assert errors.count("ValueError: cannot score f001.txt") == 4  # a line and a traceback, twice
    assert 'raise ValueError(f"cannot score {name}")' in errors
    job_error = job.log("job_error.txt")
    assert job_error.startswith("Completed, with failed attempts\nFailed attempts: 2\n")


def test_debug_logging_level_reaches_the_worker_log(run):
    job = run(["ok"], logging_level="debug")

    stdout = job.log("user", "stdout", "localhost", "process000.stdout.txt")
    assert "DEBUG behave: debug about f000.txt" in stdout


def test_large_outputs_go_through_part_files_and_keep_their_place(run):
    job = run(["big", "ok", "big", "ok", "ok"], mini_batch_size=1, workers=2)

    assert job.result.status == "Completed"
    lines = job.output_lines()
    assert [line.split()[0] for line in lines] == [f"f{i:03d}.txt" for i in range(5)]
    assert lines[0] == "f000.txt " + "x" * 300_000
    assert lines[1] == "f001.txt ok"
    assert [p.name for p in job.output_dir.iterdir()] == ["predictions.csv"]


@pytest.mark.parametrize("start_method", ["server", "spawn", "forkserver", "fork"])
def test_every_start_method_runs_a_job(run, start_method):
    job = run(["ok", "ok", "ok"], mini_batch_size=1, workers=2, start_method=start_method)

    assert job.result.status == "Completed"
    assert job.output_lines() == ["f000.txt ok", "f001.txt ok", "f002.txt ok"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        # The label and first numpy column count rows within each mini-batch of two.
        ("dataframe", ["f000.txt 0.25 0", "f001.txt 0.25 1", "f002.txt 0.25 0"]),
        ("numpy", ["0.0 0.5", "1.0 0.5", "0.0 0.5"]),
        ("tuples", ["f000.txt 1 a b", "f001.txt 1 a b", "f002.txt 1 a b"]),
        ("objects", ["{'file': 'f000.txt'}", "{'file': 'f001.txt'}", "{'file': 'f002.txt'}"]),
    ],
)
def test_append_row_writes_space_separated_rows_without_header(run, kind, expected):
    job = run(["ok"] * 3, "shapes.py", env={"RETURN_KIND": kind}, mini_batch_size=2)

    assert job.result.status == "Completed"
    assert job.output_lines() == expected
    assert job.result.counts.items_succeeded == 3


def test_fewer_items_than_files_count_as_failed_files(run):
    job = run(["ok", "skip", "skip", "ok", "ok"], mini_batch_size=2, workers=2)

    counts = job.result.counts
    assert job.result.status == "Completed"
    assert (counts.mini_batches_succeeded, counts.mini_batches_failed) == (3, 0)
    assert (counts.files_succeeded, counts.files_failed, counts.items_succeeded) == (3, 2, 3)
    assert job.output_lines() == ["f000.txt ok", "f003.txt ok", "f004.txt ok"]
    errors = [(r["mini_batch"], r["items_failed"], r["error"]) for r in job.report()]
    assert sorted(errors) == [
        ("0", "1", "run() returned 1 items for 2 files"),
        ("1", "1", "run() returned 1 items for 2 files"),
        ("2", "0", ""),
    ]
    # Each record names its mini-batch's two files, and counts one failed, as the job does.
    groups = records.group(records.read(job.logs_dir / records.FAILURES_FILE))
    assert [(group.files_failed, len(group.files)) for group in groups] == [(2, 4)]
    assert [records.describe(group) for group in groups] == [
        "[short_return] run() returned 1 items for 2 files "
        "(2 attempts, 2 files failed, not known which of 4)"
    ]


def test_summary_only_counts_and_the_script_writes_its_own_files(run):
    job = run(
        ["a", "b", "c"],
        "summary.py",
        output_action="summary_only",
        mini_batch_size=2,
        workers=2,
    )

    assert job.result.status == "Completed"
    assert job.result.output_file is None
    assert job.result.counts.items_succeeded == 3
    written = {p.name: p.read_text() for p in job.output_dir.iterdir()}
    assert written == {"f000.out": "A", "f001.out": "B", "f002.out": "C"}


def test_workers_exit_cleanly_flushing_what_the_script_left_open(run):
    job = run(["a", "b", "c"], "keeps_open.py", output_action="summary_only", workers=2)

    assert job.result.status == "Completed"
    files = {p.name.split("-")[0]: p for p in job.output_dir.iterdir()}
    written = sorted(
        line for p in job.output_dir.glob("rows-*") for line in p.read_text().splitlines()
    )
    assert written == ["f000.txt", "f001.txt", "f002.txt"]
    atexit_marks = list(job.output_dir.glob("atexit-*"))
    assert atexit_marks and all(p.read_text() == "ran" for p in atexit_marks)
    assert set(files) == {"rows", "atexit"}


def test_worker_sees_model_dir_output_path_user_variables_and_code_dir(run, tmp_path, scripts):
    model_dir = tmp_path / "model"
    job = run(
        ["ok", "ok"],
        "code/score.py",
        env={"MY_SETTING": 42},  # a number, as YAML gives it
        model_dir=model_dir,
        mini_batch_size=1,
        workers=2,
    )

    assert job.result.status == "Completed", job.result.error
    seen = f"{model_dir} {job.output_dir} 42 {scripts}"
    assert job.output_lines() == [f"f000.txt {seen}", f"f001.txt {seen}"]


def test_relative_folders_are_taken_from_the_callers_directory(
    tmp_path, inputs, scripts, monkeypatch
):
    monkeypatch.chdir(scripts.parent)
    result = run_job(
        inputs(["ok"]),
        ScoringSpec(Path(scripts.name), "code/score.py", model_dir=Path("model")),
        RunSettings(),
        output_dir=tmp_path / "out",
        logs_dir=tmp_path / "logs",
    )

    assert result.status == "Completed", result.error
    assert result.output_file is not None
    expected = f"f000.txt {scripts.parent / 'model'} {tmp_path / 'out'} - {scripts}"
    assert result.output_file.read_text() == expected + "\n"


def test_an_existing_output_file_is_refused_before_anything_runs(tmp_path, inputs, scripts):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "scores.csv").write_text("earlier results\n")

    with pytest.raises(ConflictError, match=r"output file already exists: .*scores\.csv"):
        run_job(
            inputs(["ok"]),
            ScoringSpec(scripts, "behave.py"),
            RunSettings(output_file_name="scores.csv"),
            output_dir=output_dir,
            logs_dir=tmp_path / "logs",
        )

    assert (output_dir / "scores.csv").read_text() == "earlier results\n"
    assert [p.name for p in output_dir.iterdir()] == ["scores.csv"]
    assert not (tmp_path / "logs").exists()


# Hung runs that were not stopped would hold the job for a minute, past this deadline.
@pytest.mark.timeout(30)
def test_cancel_from_another_thread_stops_workers_and_publishes_nothing(run):
    cancel, hanging = threading.Event(), threading.Event()

    def on_event(event: JobEvent) -> None:
        # Either hanging mini-batch may start first: 2 may wait behind 1 on the same worker.
        if event.kind == "mini_batch_started" and event.mini_batch in (1, 2):
            hanging.set()  # a worker now hangs: only a cancel ends the job in time

    def cancel_once_hanging() -> None:
        hanging.wait()
        cancel.set()

    canceler = threading.Thread(target=cancel_once_hanging)
    canceler.start()
    try:
        job = run(
            ["ok", "hang", "hang", "ok"],
            mini_batch_size=1,
            workers=2,
            cancel=cancel,
            on_event=on_event,
        )
    finally:
        hanging.set()
        canceler.join()

    assert job.result.status == "Canceled"
    assert job.result.output_file is None
    assert list(job.output_dir.iterdir()) == []
    assert job.log("job_result.txt").startswith("Status: Canceled\n")
    assert job.events[-1].kind == "job_finished"
