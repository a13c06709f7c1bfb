"""End-to-end batch jobs through the CLI: invoke, the detached runner, stream, show, cancel,
download. Real processes and files; each test checks that no runner or worker is left."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from processes import session_members, wait_sessions_gone
from waiting import wait_for, wait_for_status

from batchml.cli.app import run
from batchml.runner.journal import HEADER_SIZE

pytestmark = pytest.mark.timeout(120)

SCRIPT = """
import os, time, logging
def init():
    logging.info("init in %s", os.getpid())
def run(mini_batch):
    out = []
    for path in mini_batch:
        name = os.path.basename(path)
        if name.startswith("bad"):
            raise ValueError("cannot score " + name)
        if name.startswith("slow"):
            time.sleep(60)
        out.append(name + " " + open(path).read().strip() + " " + os.environ.get("GREETING", "-"))
    return out
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A workspace with endpoint `ep`, deployment `dep` (default) and 25 input files."""
    monkeypatch.setenv("BATCHML_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BATCHML_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "score.py").write_text(SCRIPT)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w")
    (tmp_path / "conda.yml").write_text(
        "name: env\ndependencies:\n  - python=3.11\n  - pip:\n"
        "    - definitely-not-installed-pkg==1.0\n    - pandas==0.0.1\n    - azureml-core\n"
    )
    (tmp_path / "endpoint.yml").write_text("name: endpoint-a\n")
    (tmp_path / "deployment.yml").write_text(
        textwrap.dedent("""\
            name: dep-one
            endpoint_name: endpoint-a
            type: model
            model: {name: m, path: model}
            code_configuration: {code: code, scoring_script: score.py}
            environment: {image: python:3.11, conda_file: conda.yml}
            compute: azureml:cpu
            settings:
              mini_batch_size: 4
              max_concurrency_per_instance: 2
              retry_settings: {max_retries: 1, timeout: 30}
              environment_variables: {GREETING: hello}
            """)
    )
    data = tmp_path / "data"
    data.mkdir()
    for i in range(25):
        (data / f"file{i:02d}.txt").write_text(str(i))
    for args in (
        ("compute", "create", "-n", "cpu", "--type", "amlcompute"),
        ("batch-endpoint", "create", "-f", "endpoint.yml"),
        ("batch-deployment", "create", "-f", "deployment.yml", "--set-default"),
    ):
        code, _, err = cli(capsys, *args, "-o", "none")
        assert code == 0, err
    return tmp_path


def invoke(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out, err = cli(
        capsys,
        "batch-endpoint",
        "invoke",
        "-n",
        "endpoint-a",
        "--query",
        "name",
        "-o",
        "tsv",
        *extra,
    )
    assert code == 0, err
    return out.strip()


def show(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    return dict(json.loads(cli(capsys, "job", "show", "-n", name)[1]))


def wait_terminal(capsys: pytest.CaptureFixture[str], name: str) -> dict:
    return wait_for_status(
        lambda name: show(capsys, name), name, "Completed", "Failed", "Canceled", timeout=90
    )


def assert_no_processes_left(job: dict) -> None:
    if Path(job["batch"]["logs"]).parent.joinpath("job.json").exists():
        wait_sessions_gone([_runner_pid(job)])


def _runner_pid(job: dict) -> int:
    state = json.loads(Path(job["batch"]["logs"]).parent.joinpath("job.json").read_text())
    return int(state["runner_pid"])


def test_invoke_stream_show_download(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = invoke(capsys, "--input", "data")
    code, out, _ = cli(capsys, "job", "stream", "-n", name)
    assert code == 0
    assert out.startswith(f"RunId: {name}\n")
    assert "Execution Summary" in out
    # The environment's missing packages are said as the job starts, before it scores.
    assert out.index("WARNING: the environment declares") < out.index("mini-batches processed")
    job = wait_terminal(capsys, name)
    assert job["status"] == "Completed"
    assert job["batch"]["mini_batches"] == {
        "total": 7,
        "succeeded": 7,
        "failed": 0,
        "resumed": 0,
        "reused": 0,
    }
    assert job["batch"]["files"] == {"total": 25, "succeeded": 25, "failed": 0}
    assert (
        job["outputs"]["score"]["path"]
        == f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/score/"
    )
    assert job["warnings"] == [
        "the environment declares definitely-not-installed-pkg==1.0, which is not installed here",
        f"the environment declares pandas==0.0.1, but pandas {_version('pandas')} is installed here",
    ]
    assert cli(capsys, "job", "download", "-n", name, "--output-name", "score", "-p", "out")[0] == 0
    lines = (ws / "out" / "predictions.csv").read_text().splitlines()
    assert lines == [f"file{i:02d}.txt {i} hello" for i in range(25)]
    logs = ws / "ws" / "jobs" / name / "logs"
    report = (logs / "sys" / "job_report" / "processed_mini-batches.csv").read_text().splitlines()
    assert len(report) == 1 + 7
    listed = json.loads(cli(capsys, "batch-endpoint", "list-jobs", "-n", "endpoint-a")[1])
    assert [j["name"] for j in listed] == [name]
    assert listed[0]["properties"]["status"] == "Completed"
    assert_no_processes_left(job)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def test_per_job_overrides(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = invoke(
        capsys,
        "--input",
        "data",
        "-m",
        "10",
        "--output-path",
        "custom",
        "--set",
        "output_file_name=scores.csv",
        "environment_variables.GREETING=hi",
        "--job-name",
        "job-overrides",
    )
    assert name == "job-overrides"
    job = wait_terminal(capsys, name)
    assert job["status"] == "Completed"
    assert job["settings"]["mini_batch_size"] == 10
    assert job["batch"]["mini_batches"]["total"] == 3
    assert (ws / "custom" / "scores.csv").read_text().splitlines()[0] == "file00.txt 0 hi"
    code, _, err = cli(
        capsys,
        "batch-endpoint",
        "invoke",
        "-n",
        "endpoint-a",
        "--input",
        "data",
        "--output-path",
        "custom",
        "--set",
        "output_file_name=scores.csv",
    )
    assert code == 5
    assert "already exists" in err
    code, _, err = cli(
        capsys,
        "batch-endpoint",
        "invoke",
        "-n",
        "endpoint-a",
        "--input",
        "data",
        "--set",
        "model=x",
    )
    assert code == 2
    assert "model cannot be set per job" in err
    assert_no_processes_left(job)


def test_failures_and_threshold(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "data" / "bad1.txt").write_text("x")
    name = invoke(capsys, "--input", "data", "--set", "error_threshold=3")
    code, out, _ = cli(capsys, "job", "stream", "-n", name)
    assert code == 1
    job = wait_terminal(capsys, name)
    assert job["status"] == "Failed"
    assert "error_threshold" in job["error"]["message"]
    assert "\n" not in job["error"]["message"]
    assert "Status: Failed" in out
    assert_no_processes_left(job)


def test_file_names_not_valid_utf8_are_scored_and_reported(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ws / os.fsdecode(b"donn\xe9es")  # Latin-1 names, as an old disk may hold
    data.mkdir()
    (data / os.fsdecode(b"caf\xe9.txt")).write_text("1")
    (data / os.fsdecode(b"bad\xff.txt")).write_text("2")
    name = invoke(capsys, "--input", str(data), "-m", "1", "--set", "error_threshold=5")
    code, out, _ = cli(capsys, "job", "stream", "-n", name)
    assert code == 0, out
    job = wait_terminal(capsys, name)
    assert job["status"] == "Completed"
    assert job["inputs"]["input_data"]["path"] == str(data)
    assert job["batch"]["files"] == {"total": 2, "succeeded": 1, "failed": 1}
    # Printed with the name's bytes escaped, which a JSON reader takes back to the name.
    assert job["failures"]["files"] == [os.fsdecode(b"bad\xff.txt")]
    assert "Failed files: 1 (bad\\udcff.txt)" in out
    output = ws / "ws/datastores/workspaceblobstore/azureml" / name / "score" / "predictions.csv"
    assert output.read_text() == "caf\\udce9.txt 1 hello\n"
    assert_no_processes_left(job)


@pytest.mark.parametrize("bad", [False, True])
def test_job_stream_says_what_it_says_without_typer(
    ws: Path, capsys: pytest.CaptureFixture[str], bad: bool
) -> None:
    # `batchml job stream -n NAME` is followed without typer and click (batchml.cli.app):
    # the same output and exit status as through them (-o makes it go through them).
    if bad:
        (ws / "data" / "bad1.txt").write_text("x")
    name = invoke(capsys, "--input", "data", "--set", "error_threshold=0")
    assert wait_terminal(capsys, name)["status"] == ("Failed" if bad else "Completed")
    code = (
        "import sys\nfrom batchml.cli.app import main\nimport atexit\n"
        "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'typer', 'click'}), file=sys.stderr))\nmain()\n"
    )
    results = [
        subprocess.run(
            [sys.executable, "-c", code, "job", "stream", "-n", name, *extra],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
        for extra in ([], ["-o", "json"])
    ]
    fast, typed = ((r.returncode, r.stdout, _unstamped(r.stderr)) for r in results)
    assert fast[:2] == typed[:2] == (int(bad), fast[1])
    assert "Execution Summary" in fast[1]
    assert fast[2].splitlines()[:-1] == typed[2].splitlines()[:-1]
    assert (fast[2].splitlines()[-1], typed[2].splitlines()[-1]) == ("[]", "['click', 'typer']")


def _unstamped(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<time>", text)


def test_refused_invokes_create_no_job(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "empty").mkdir()
    assert cli(capsys, "batch-endpoint", "invoke", "-n", "endpoint-a", "--input", "nowhere")[0] == 3
    code, _, err = cli(capsys, "batch-endpoint", "invoke", "-n", "endpoint-a", "--input", "empty")
    assert (code, err.splitlines()[0]) == (
        2,
        f"ERROR: the input folder {ws / 'empty'} holds no files; there is nothing to score",
    )
    assert (
        cli(
            capsys,
            "batch-endpoint",
            "update",
            "-n",
            "endpoint-a",
            "--set",
            "defaults.deployment_name=null",
            "-o",
            "none",
        )[0]
        == 0
    )
    code, _, err = cli(capsys, "batch-endpoint", "invoke", "-n", "endpoint-a", "--input", "data")
    assert code == 2
    assert "has no default deployment" in err
    assert not (ws / "ws" / "jobs").exists() or not any((ws / "ws" / "jobs").iterdir())


def test_cancel_stops_runner_and_workers(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "data" / "slow1.txt").write_text("s")
    (ws / "data" / "slow2.txt").write_text("s")
    name = invoke(capsys, "--input", "data")
    job = wait_for_status(lambda name: show(capsys, name), name, "Running")
    # The journal, not job.json: the runner saves its counts at most twice a second, and the
    # quick mini-batches all end within that, before the slow one holds the job for a minute.
    journal = Path(job["batch"]["logs"]).parent / "journal" / "journal.bin"
    wait_for(
        lambda: journal.exists() and journal.stat().st_size > HEADER_SIZE,
        f"job {name} to record a mini-batch in its journal",
    )
    pid = _runner_pid(job)
    assert session_members(pid)
    code, out, _ = cli(capsys, "job", "cancel", "-n", name)
    assert code == 0
    assert json.loads(out)["status"] == "Canceled"
    assert_no_processes_left(job)
    assert not (
        ws
        / "ws"
        / "datastores"
        / "workspaceblobstore"
        / "azureml"
        / name
        / "score"
        / "predictions.csv"
    ).exists()


def test_invoke_with_invocation_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "inputs.yml").write_text(
        "inputs:\n  heart_dataset:\n    type: uri_folder\n    path: data\n"
        "outputs:\n  score:\n    type: uri_folder\n    path: from-file\n"
    )
    name = invoke(capsys, "-f", "inputs.yml")
    job = wait_terminal(capsys, name)
    assert job["status"] == "Completed"
    assert len((ws / "from-file" / "predictions.csv").read_text().splitlines()) == 25
    assert_no_processes_left(job)
