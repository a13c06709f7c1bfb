"""Reuse across jobs, through the CLI: a job takes the outcome of the mini-batches an earlier
job scored with the same files, code, model, environment and settings, and writes the output a
run without reuse writes, byte for byte; anything that changed is scored again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from projects import Project, model_deployment, project_at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# Each run() call appends the names it scores to calls.txt, beside the project's data.
SCRIPT = """\
import glob
import os

def init():
    pass

def run(mini_batch):
    calls = os.path.join(os.path.dirname(os.path.dirname(mini_batch[0])), "calls.txt")
    with open(calls, "a") as out:
        out.write("".join(os.path.basename(path) + "\\n" for path in mini_batch))
    scale = os.environ.get("SCALE", "1")
    model = os.environ["AZUREML_MODEL_DIR"]
    weights = open(glob.glob(model + "/**/weights.txt", recursive=True)[0]).read()
    return [f"{os.path.basename(p)} {open(p).read()} x{scale} {weights}" for p in mini_batch]
"""


@pytest.fixture
def project(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_at(cli, ws, tmp_path, monkeypatch, "reuse-ep") as reusing:
        reusing.deploy(model_deployment("blue"), SCRIPT)
        yield reusing


def run(project: Project, *args: str) -> tuple[dict[str, int], bytes, list[str], str]:
    """Invoke, wait; (mini_batches counts, the output's bytes, the files run() scored, the
    job's name)."""
    calls = project.root / "calls.txt"
    calls.unlink(missing_ok=True)
    name = project.invoke(*args)
    job = project.wait(name)
    assert job["status"] == "Completed", job.get("error")
    output = project.ws / "datastores/workspaceblobstore/azureml" / name / "score"
    scored = sorted(calls.read_text().split()) if calls.exists() else []
    return job["batch"]["mini_batches"], (output / "predictions.csv").read_bytes(), scored, name


def counts(reused: int) -> dict[str, int]:
    return {"total": 2, "succeeded": 2, "failed": 0, "resumed": 0, "reused": reused}


def test_an_unchanged_job_is_not_scored_again_and_writes_the_same_output(project: Project) -> None:
    first, output, scored, _ = run(project)
    assert first == counts(0)
    assert scored == ["in0.txt", "in1.txt", "in2.txt", "in3.txt"]

    again, reused_output, scored, name = run(project)
    assert again == counts(2)
    assert scored == []
    assert reused_output == output
    overview = (project.folder(name) / "logs" / "job_progress_overview.txt").read_text()
    assert "Reused: 2 mini-batches scored by earlier jobs" in overview
    assert "(2 succeeded, 0 failed, 2 reused)" in project.log(name, "70_driver_log.txt")

    not_reused, fresh_output, scored, _ = run(project, "--set", "reuse=false")
    assert not_reused == counts(0)
    assert len(scored) == 4
    assert fresh_output == output

    # One file changed: its mini-batch alone is scored again.
    (project.root / "data" / "in3.txt").write_text("33")
    partly, partly_output, scored, _ = run(project)
    assert partly == counts(1)
    assert scored == ["in2.txt", "in3.txt"]
    assert partly_output == output.replace(b"in3.txt 3 ", b"in3.txt 33 ")


def test_a_change_of_code_model_or_settings_reuses_nothing(project: Project) -> None:
    run(project)
    assert run(project)[0] == counts(2)

    (project.root / "model" / "weights.txt").write_text("w2")
    project.deploy(model_deployment("blue"), SCRIPT)
    model_changed, output, scored, _ = run(project)
    assert (model_changed, len(scored)) == (counts(0), 4)
    assert b" w2\n" in output

    project.deploy(model_deployment("blue"), SCRIPT + "\n# another version\n")
    code_changed, _, scored, _ = run(project)
    assert (code_changed, len(scored)) == (counts(0), 4)

    variables_changed, output, scored, _ = run(project, "--set", "environment_variables.SCALE=2")
    assert (variables_changed, len(scored)) == (counts(0), 4)
    assert b" x2 " in output


def test_a_corrupt_cache_entry_is_not_used_and_is_written_again(project: Project) -> None:
    _, output, _, _ = run(project)
    entries = [p for p in (project.root.parent / "cache" / "results").glob("??/*")]
    entries = [p for p in entries if p.parent.name != "hashes" and not p.name.startswith(".")]
    assert len(entries) == 2
    for entry in entries:
        raw = bytearray(entry.read_bytes())
        raw[-2] ^= 0x01  # a bit flipped in its rows, same length
        entry.write_bytes(bytes(raw))

    again, again_output, scored, _ = run(project)
    assert again == counts(0)
    assert len(scored) == 4
    assert again_output == output
    # Written again, whole: the next job takes them.
    assert run(project)[:2] == (counts(2), output)
