"""Pipeline step reuse, through the CLI (batchml.runner.step_reuse): a step whose code,
command, environment, inputs and parameters are those of a step that ran before takes its
outputs, byte for byte, instead of running, and says so; a changed input, a changed code folder,
`settings.force_rerun` and `is_deterministic: false` make steps run. The pipeline is
test_pipelines' upper_and_join."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_pipelines import UPPER_YML, Pipes, pipes  # noqa: F401 (the fixture)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def run(project: Pipes, *args: str) -> tuple[str, dict[str, str | None]]:
    """Create the pipeline job of pipeline-job.yml, wait; (its name, each step's job it reused
    the outputs of, or None)."""
    name = project.create_job(
        "-f", project.root / "pipeline-job.yml", "--set", "inputs.input_data.path=data", *args
    )
    job = project.wait(name)
    assert job["status"] == "Completed", job.get("error")
    reused = {}
    for step, child in project.steps(name).items():
        assert child["status"] == "Completed"
        reused[step] = child["properties"].get("azureml.reusedrunid")
    return name, reused


def test_a_rerun_takes_the_outputs_of_unchanged_steps(pipes: Pipes) -> None:  # noqa: F811
    first, reused = run(pipes)
    assert reused == {"upper_job": None, "join_job": None}
    scores = files(pipes.output(first, "scores"))
    assert scores == {"all.txt": b"A#\nB#\n"}

    second, reused = run(pipes)
    assert reused == {"upper_job": f"{first}-upper_job", "join_job": f"{first}-join_job"}
    assert files(pipes.output(second, "scores")) == scores
    upper = pipes.output(f"{second}-upper_job", "out")
    assert files(upper) == files(pipes.output(f"{first}-upper_job", "out"))
    child = pipes.show(f"{second}-join_job")
    assert child["properties"] == {
        "StepName": "join_job",
        "azureml.exitcode": None,
        "azureml.isreused": "true",
        "azureml.reusedrunid": f"{first}-join_job",
    }
    log = (pipes.folder(second) / "logs/azureml/executionlogs.txt").read_text()
    assert (
        f"Step join_job (run id {second}-join_job) reused the outputs of {first}-join_job "
        "(same code, command, environment, inputs and parameters); not run." in log
    )
    step_log = pipes.folder(f"{second}-join_job") / "user_logs/std_log.txt"
    assert step_log.read_text().startswith(f"batchml: reused the outputs of {first}-join_job")

    # A changed input file: upper_job runs, and so does join_job, whose input it writes.
    (pipes.root / "data" / "b.txt").write_text("c\n")
    third, reused = run(pipes)
    assert reused == {"upper_job": None, "join_job": None}
    assert files(pipes.output(third, "scores")) == {"all.txt": b"A#\nC#\n"}

    # join_job's code changed: upper_job is reused, join_job runs.
    pipes.write("components/join_src/join.sh", 'cat "$1"/* > "$2/all.txt"\necho "v2"\n')
    fourth, reused = run(pipes)
    assert reused == {"upper_job": f"{third}-upper_job", "join_job": None}
    assert (pipes.folder(f"{fourth}-join_job") / "user_logs/std_log.txt").read_text() == "v2\n"
    assert files(pipes.output(fourth, "scores")) == {"all.txt": b"A#\nC#\n"}


def test_force_rerun_and_is_deterministic_false_run_steps(pipes: Pipes) -> None:  # noqa: F811
    run(pipes)
    forced, reused = run(pipes, "settings.force_rerun=true")
    assert reused == {"upper_job": None, "join_job": None}
    exec_log = pipes.folder(forced) / "logs/azureml/executionlogs.txt"
    assert "step upper_job: not reused: the pipeline job's settings say force_rerun" in (
        exec_log.read_text()
    )

    # upper_job runs; join_job's input (upper_job's output) is as before: it is reused.
    pipes.write(
        "components/upper.yml",
        UPPER_YML.replace("type: command\n", "type: command\nis_deterministic: false\n"),
    )
    last, reused = run(pipes)
    assert reused["upper_job"] is None
    assert reused["join_job"] == f"{forced}-join_job"  # kept by the forced run, the latest
    assert files(pipes.output(last, "scores")) == {"all.txt": b"A#\nB#\n"}


def test_an_earlier_output_changed_or_pruned_is_not_taken(pipes: Pipes) -> None:  # noqa: F811
    first, _ = run(pipes)
    # upper_job's earlier output was altered: it runs; join_job's input is as it was.
    (pipes.output(f"{first}-upper_job", "out") / "a.txt").write_text("tampered\n")
    second, reused = run(pipes)
    assert reused == {"upper_job": None, "join_job": f"{first}-join_job"}
    assert files(pipes.output(f"{second}-upper_job", "out"))["a.txt"] == b"A#\n"
    assert files(pipes.output(second, "scores")) == {"all.txt": b"A#\nB#\n"}

    pruned = pipes.cli.ok("cache", "prune", "--all", "--yes")
    assert len(pruned["removed"]) == 2  # the records of the steps that ran: one each
    _, reused = run(pipes)
    assert reused == {"upper_job": None, "join_job": None}
