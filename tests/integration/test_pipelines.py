"""Pipeline jobs end to end through the CLI: pipeline component deployments invoked with an
inputs file, --set and --input; `job create -f pipeline-job.yml` and deployments made from it
(`job_definition`); step bindings, optional fragments and defaults at run time; a failing step
with and without continue_on_step_failure; cancel and resume. Steps are tiny shell commands; each
test checks that no runner or step process is left."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from processes import wait_sessions_gone
from waiting import wait_for, wait_for_status

if TYPE_CHECKING:
    from tests.conftest import Cli

pytestmark = pytest.mark.timeout(120)

DATASTORE = "azureml://datastores/workspaceblobstore/paths/azureml"

UPPER_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: upper
type: command
inputs:
  data: {type: uri_folder}
  suffix: {type: string, default: "!"}
outputs:
  out: {type: uri_folder}
environment: azureml:AzureML-minimal@latest
command: >-
  for f in ${{inputs.data}}/*; do
  echo "$(tr a-z A-Z < $f)${{inputs.suffix}}" > ${{outputs.out}}/$(basename $f);
  done
"""
JOIN_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: join
type: command
inputs:
  data: {type: uri_folder}
outputs:
  scores: {type: uri_folder}
code: join_src
environment: azureml:AzureML-minimal@latest
command: bash join.sh ${{inputs.data}} ${{outputs.scores}}
"""
JOIN_SH = 'cat "$1"/* > "$2/all.txt"\necho "joined in $(basename "$PWD")"\n'
PIPELINE_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: upper_and_join
inputs:
  input_data: {type: uri_folder}
  suffix: {type: string, default: "!"}
outputs:
  scores: {type: uri_folder, mode: upload}
jobs:
  upper_job:
    type: command
    component: components/upper.yml
    inputs:
      data: ${{parent.inputs.input_data}}
      suffix: ${{parent.inputs.suffix}}
  join_job:
    type: command
    component: components/join.yml
    inputs:
      data: ${{parent.jobs.upper_job.outputs.out}}
    outputs:
      scores: ${{parent.outputs.scores}}
"""
DEPLOYMENT_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json
name: two
endpoint_name: pipe-ep
type: pipeline
component: pipeline.yml
settings:
  continue_on_step_failure: false
"""
INPUTS_YML = """\
inputs:
  input_data:
    type: uri_folder
    path: data
  suffix:
    type: string
    default: "?"
outputs:
  scores:
    type: uri_folder
    mode: upload
"""
PIPELINE_JOB_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: upper-and-join-job
component: pipeline.yml
inputs:
  input_data:
    type: uri_folder
  suffix: "#"
outputs:
  scores:
    mode: upload
"""
INLINE_JOB_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: upper-and-join-inline
inputs:
  input_data:
    type: uri_folder
  suffix: "#"
outputs:
  scores:
    mode: upload
jobs:
  upper_job:
    type: command
    component: components/upper.yml
    inputs:
      data: ${{parent.inputs.input_data}}
      suffix: ${{parent.inputs.suffix}}
  join_job:
    type: command
    component: components/join.yml
    inputs:
      data: ${{parent.jobs.upper_job.outputs.out}}
    outputs:
      scores: ${{parent.outputs.scores}}
"""
FROM_JOB_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponentBatchDeployment.schema.json
name: from-job
endpoint_name: pipe-ep
type: pipeline
job_definition: azureml:job_name_placeholder
settings:
  continue_on_step_failure: false
"""


@dataclass
class Pipes:
    """A workspace with endpoint `pipe-ep` and its default deployment `two`: the pipeline
    `upper_and_join` (upper_job upper-cases each file of input_data and appends `suffix`;
    join_job, whose code is join_src/join.sh, concatenates them into scores/all.txt).

    The project folder holds data/ (a.txt, b.txt), the YAML files and inputs.yml. Runners seen
    through show() are waited for (and killed, failing the test) at the end."""

    cli: Cli
    root: Path
    ws: Path
    runners: set[int] = field(default_factory=set)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def invoke(self, *args: str | Path) -> str:
        name = str(self.cli.ok("batch-endpoint", "invoke", "-n", "pipe-ep", *args)["name"])
        self.runner_pid(name)
        return name

    def create_job(self, *args: str | Path) -> str:
        name = str(self.cli.ok("job", "create", *args, "--query", "name"))
        self.runner_pid(name)
        return name

    def show(self, name: str) -> dict[str, Any]:
        job: dict[str, Any] = self.cli.ok("job", "show", "-n", name)
        self.runner_pid(name)
        return job

    def wait(self, name: str, *statuses: str) -> dict[str, Any]:
        """Wait until the job is in one of `statuses` (default: any terminal one)."""
        return wait_for_status(self.show, name, *statuses)

    def steps(self, name: str) -> dict[str, dict[str, Any]]:
        """The child jobs of a pipeline job, by step name."""
        children = self.cli.ok("job", "list", "--parent-job-name", name)
        return {child["display_name"]: child for child in children}

    def folder(self, name: str) -> Path:
        return self.ws / "jobs" / name

    def output(self, job: str, output: str) -> Path:
        """Where an output with no path of its own goes: azureml/<job>/<output>/."""
        return self.ws / "datastores" / "workspaceblobstore" / "azureml" / job / output

    def runner_pid(self, name: str) -> int | None:
        state = self.folder(name) / "job.json"
        pid = json.loads(state.read_text()).get("runner_pid") if state.exists() else None
        if pid:
            self.runners.add(pid)
        return pid


@pytest.fixture
def pipes(cli: Cli, ws: Path, tmp_path: Path) -> Iterator[Pipes]:
    project = Pipes(cli, tmp_path / "project", ws)
    project.write("data/a.txt", "a\n")
    project.write("data/b.txt", "b\n")
    project.write("components/upper.yml", UPPER_YML)
    project.write("components/join.yml", JOIN_YML)
    project.write("components/join_src/join.sh", JOIN_SH)
    project.write("pipeline.yml", PIPELINE_YML)
    project.write("endpoint.yml", "name: pipe-ep\n")
    project.write("deployment.yml", DEPLOYMENT_YML)
    project.write("inputs.yml", INPUTS_YML)
    project.write("pipeline-job.yml", PIPELINE_JOB_YML)
    project.write("inline-job.yml", INLINE_JOB_YML)
    project.write("deployment-from-job.yml", FROM_JOB_YML)
    cli.ok("batch-endpoint", "create", "-f", project.root / "endpoint.yml", "-o", "none")
    cli.ok(
        "batch-deployment",
        "create",
        "-f",
        project.root / "deployment.yml",
        "--set-default",
        "-o",
        "none",
    )
    yield project
    try:
        wait_sessions_gone(project.runners)
    finally:
        for sid in project.runners:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(sid, signal.SIGKILL)


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


# -- a pipeline deployment invoked with an inputs file ------------------------------------------


def test_invoke_with_an_inputs_file_runs_the_steps_in_order(pipes: Pipes) -> None:
    cli, ws = pipes.cli, pipes.ws
    # The deployment runs the code folder as it was deployed, not as it is now.
    pipes.write("components/join_src/join.sh", "echo edited after the deployment; exit 9\n")

    invoked = cli.ok("batch-endpoint", "invoke", "-n", "pipe-ep", "-f", pipes.root / "inputs.yml")
    name = invoked["name"]
    assert name.startswith("pipelinejob-")
    assert invoked["properties"]["output_data"] == {
        "scores": {
            "job_output_type": "uri_folder",
            "mode": "Upload",
            "uri": f"{DATASTORE}/{name}/scores/",
        }
    }
    job = pipes.wait(name)
    assert job["status"] == "Completed", job.get("error")

    # upper_job wrote one file per input; join_job read them through the binding.
    upper, scores = pipes.output(f"{name}-upper_job", "out"), pipes.output(name, "scores")
    assert {p.name: p.read_text() for p in upper.iterdir()} == {"a.txt": "A?\n", "b.txt": "B?\n"}
    assert (scores / "all.txt").read_text() == "A?\nB?\n"

    data = str(pipes.root / "data")
    assert job["inputs"] == {"input_data": {"path": data, "type": "uri_folder"}, "suffix": "?"}
    assert job["outputs"] == {
        "scores": {"mode": "upload", "path": f"{DATASTORE}/{name}/scores/", "type": "uri_folder"}
    }
    assert (job["type"], job["experiment_name"], job["properties"]) == (
        "pipeline",
        "pipe-ep",
        {
            "azureml.deploymentname": "two",
            "azureml.endpointname": "pipe-ep",
            "runSource": "BatchDeployment",
            "runType": "HTTP",
        },
    )
    assert {step: j["name"] for step, j in job["jobs"].items()} == {
        "join_job": f"{name}-join_job",
        "upper_job": f"{name}-upper_job",
    }

    # Its steps are child jobs; `job list` shows only the parent.
    steps = pipes.steps(name)
    assert {s: (c["name"], c["status"]) for s, c in steps.items()} == {
        "join_job": (f"{name}-join_job", "Completed"),
        "upper_job": (f"{name}-upper_job", "Completed"),
    }
    assert [j["name"] for j in cli.ok("job", "list")] == [name]

    child = pipes.show(f"{name}-upper_job")
    assert steps["upper_job"] == child
    out = ws / "datastores/workspaceblobstore/azureml" / f"{name}-upper_job" / "out"
    assert child["command"] == (
        f'for f in {data}/*; do echo "$(tr a-z A-Z < $f)?" > {out}/$(basename $f); done'
    )
    assert (child["status"], child["parent_job_name"], child["type"]) == (
        "Completed",
        name,
        "command",
    )
    assert child["inputs"] == {"data": {"path": data, "type": "uri_folder"}, "suffix": "?"}
    assert child["outputs"] == {
        "out": {
            "mode": "rw_mount",
            "path": f"{DATASTORE}/{name}-upper_job/out/",
            "type": "uri_folder",
        }
    }
    assert child["properties"] == {"StepName": "upper_job", "azureml.exitcode": 0}
    assert child["environment"] == "azureml:AzureML-minimal@latest"
    join = pipes.show(f"{name}-join_job")
    assert join["command"] == f"bash join.sh {upper} {scores}"
    assert join["inputs"] == {
        "data": {"path": f"{DATASTORE}/{name}-upper_job/out/", "type": "uri_folder"}
    }
    log = pipes.folder(f"{name}-join_job") / "user_logs" / "std_log.txt"
    assert log.read_text() == "joined in wd\n"

    # download: the named output under named-outputs/<output>/
    target = cli.tmp / "download"
    result = cli("job", "download", "-n", name, "--output-name", "scores", "-p", target)
    assert (result.code, result.out) == (0, "")
    assert result.err == f"Downloaded {target}/named-outputs/scores/all.txt\n"
    assert (target / "named-outputs" / "scores" / "all.txt").read_text() == "A?\nB?\n"
    result = cli("job", "download", "-n", name, "--output-name", "nope", "-p", cli.tmp / "x")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: job '{name}' has no output nope\nHint: its outputs: scores\n",
    )
    assert not (cli.tmp / "x").exists()
    # --all: every output, and the logs of the job and of each step under artifacts/
    everything = cli.tmp / "everything"
    result = cli("job", "download", "-n", name, "--all", "-p", everything)
    assert result.code == 0, result.err
    files = sorted(p.relative_to(everything).as_posix() for p in everything.rglob("*.txt"))
    assert files == [
        "artifacts/azureml-logs/70_driver_log.txt",
        "artifacts/logs/azureml/executionlogs.txt",
        "artifacts/steps/join_job/user_logs/std_log.txt",
        "artifacts/steps/upper_job/user_logs/std_log.txt",
        "named-outputs/scores/all.txt",
    ]

    result = cli("job", "stream", "-n", name)
    assert result.code == 0, result.err
    assert "Streaming logs/azureml/executionlogs.txt" in result.out
    assert f"Completing processing run id {name}-join_job (step join_job)." in result.out
    assert result.out.endswith("Status: Completed\n")


def test_job_list_parent_lists_the_steps_in_the_order_they_run(pipes: Pipes) -> None:
    name = pipes.invoke("-f", pipes.root / "inputs.yml")
    assert pipes.wait(name)["status"] == "Completed"
    listed = pipes.cli.ok("job", "list", "-p", name, "--query", "[].display_name")
    assert listed == ["upper_job", "join_job"]
    # -r counts steps too, as in az; --all-results ignores it.
    assert pipes.cli.ok("job", "list", "-p", name, "-r", "1", "--query", "[].display_name") == [
        "upper_job"
    ]
    every = pipes.cli.ok(
        "job", "list", "-p", name, "-r", "1", "--all-results", "--query", "[].name"
    )
    assert len(every) == 2


# -- --set and --input ---------------------------------------------------------------------------


def test_set_and_input_on_invoke(pipes: Pipes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pipes.root)
    with_set = pipes.invoke(
        "--set",
        "inputs.input_data.type=uri_folder",
        "inputs.input_data.path=data",
        "inputs.suffix=+",
    )
    with_input = pipes.invoke("--input", "data", "--input-type", "uri_folder")
    assert pipes.wait(with_set)["status"] == "Completed"
    assert pipes.wait(with_input)["status"] == "Completed"
    assert (pipes.output(with_set, "scores") / "all.txt").read_text() == "A+\nB+\n"
    # suffix not given: the pipeline input's default
    assert (pipes.output(with_input, "scores") / "all.txt").read_text() == "A!\nB!\n"
    assert pipes.show(with_set)["inputs"] == {
        "input_data": {"path": "data", "type": "uri_folder"},
        "suffix": "+",
    }
    assert pipes.show(with_input)["inputs"] == {
        "input_data": {"path": "data", "type": "uri_folder"},
        "suffix": "!",
    }


def test_a_pipeline_jobs_output_is_the_next_pipelines_input(pipes: Pipes) -> None:
    first = pipes.invoke("--input", pipes.root / "data", "--input-type", "uri_folder")
    assert pipes.wait(first)["status"] == "Completed"
    uri = f"azureml://jobs/{first}/outputs/scores"
    second = pipes.invoke("--input", uri, "--input-type", "uri_folder")
    assert pipes.wait(second)["status"] == "Completed"
    # upper_job reads the first job's all.txt, "A!\nB!\n", as one file.
    assert (pipes.output(second, "scores") / "all.txt").read_text() == "A!\nB!!\n"
    assert pipes.show(second)["inputs"]["input_data"] == {"path": uri, "type": "uri_folder"}


def test_input_needs_exactly_one_data_input(pipes: Pipes) -> None:
    deployment = pipes.write(
        "two-inputs.yml",
        """\
        name: two-inputs
        endpoint_name: pipe-ep
        type: pipeline
        component:
          type: pipeline
          inputs:
            left: {type: uri_folder}
            right: {type: uri_folder}
          jobs:
            both:
              type: command
              component:
                environment: azureml:AzureML-minimal@latest
                inputs:
                  a: {type: uri_folder}
                  b: {type: uri_folder}
                command: ls ${{inputs.a}} ${{inputs.b}}
              inputs:
                a: ${{parent.inputs.left}}
                b: ${{parent.inputs.right}}
        """,
    )
    pipes.cli.ok("batch-deployment", "create", "-f", deployment, "-o", "none")
    result = pipes.cli(
        "batch-endpoint", "invoke", "-n", "pipe-ep", "-d", "two-inputs", "--input", "data"
    )
    assert (result.code, result.err) == (
        2,
        "ERROR: --input needs a pipeline with exactly one data input; this one has left, right\n"
        "Hint: name them in -f inputs.yml or --set inputs.NAME.path=...\n",
    )
    assert pipes.cli.ok("job", "list") == []


# -- refused before any job exists -------------------------------------------------------------


def test_a_missing_required_input_creates_no_job(pipes: Pipes) -> None:
    result = pipes.cli("batch-endpoint", "invoke", "-n", "pipe-ep")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: input input_data is required and was not given\n"
        "Hint: give it in inputs.yml, or with --set inputs.input_data.path=...\n",
    )
    result = pipes.cli(
        "batch-endpoint", "invoke", "-n", "pipe-ep", "--set", "inputs.suffix=x", "inputs.sufix=y"
    )
    assert (result.code, result.err) == (
        2,
        "ERROR: the pipeline has no input sufix; did you mean suffix?\n"
        "Hint: its inputs: input_data, suffix\n",
    )
    assert pipes.cli.ok("job", "list") == []
    assert not (pipes.ws / "jobs").exists() or list((pipes.ws / "jobs").iterdir()) == []


def test_a_path_for_a_literal_input_is_refused(
    pipes: Pipes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(pipes.root)
    result = pipes.cli(
        "batch-endpoint",
        "invoke",
        "-n",
        "pipe-ep",
        "--input",
        "data",
        "--set",
        "inputs.suffix.type=uri_folder",
        "inputs.suffix.path=data",
    )
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: input suffix is a string input; give it a value, not a path\n"
        "Hint: inputs.suffix: VALUE in inputs.yml, or --set inputs.suffix=VALUE\n"
    )
    assert pipes.cli("job", "list", "--query", "length(@)", "-o", "tsv").out == "0\n"


def test_a_literal_input_given_as_a_default_without_type_is_used(
    pipes: Pipes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(pipes.root)
    pipes.write("suffix-without-type.yml", 'inputs:\n  suffix:\n    default: "?"\n')
    result = pipes.cli(
        "batch-endpoint",
        "invoke",
        "-n",
        "pipe-ep",
        "--input",
        "data",
        "-f",
        "suffix-without-type.yml",
    )
    assert result.code == 0, result.err
    name = result.json()["name"]
    pipes.runner_pid(name)
    pipes.wait(name)
    assert pipes.show(name)["inputs"]["suffix"] == "?"


# -- optional fragments and defaults at run time ------------------------------------------------

OPTIONS_YML = """\
type: pipeline
name: options
inputs:
  label: {type: string, optional: true}
  count: {type: integer, optional: true}
outputs:
  result: {type: uri_folder}
jobs:
  only:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      inputs:
        label: {type: string, optional: true}
        count: {type: integer, optional: true, default: 2}
        flag: {type: boolean, default: false}
        ratio: {type: number, default: 0.5}
      outputs:
        out: {type: uri_folder}
      command: >-
        echo args $[[--label ${{inputs.label}}]] $[[--count ${{inputs.count}}]]
        --flag ${{inputs.flag}} --ratio ${{inputs.ratio}} > ${{outputs.out}}/args.txt
    inputs:
      label: ${{parent.inputs.label}}
      count: ${{parent.inputs.count}}
    outputs:
      out: ${{parent.outputs.result}}
"""


def test_optional_fragments_and_defaults_at_run_time(pipes: Pipes) -> None:
    pipes.write("options.yml", OPTIONS_YML)
    job_yml = pipes.write("options-job.yml", "type: pipeline\ncomponent: options.yml\n")
    absent = pipes.create_job("-f", job_yml)
    given = pipes.create_job(
        "-f",
        job_yml,
        "--set",
        "inputs.label=hello",
        "inputs.count=5",
        "settings.continue_on_step_failure=false",
    )
    for name in (absent, given):
        assert pipes.wait(name)["status"] == "Completed"

    # label absent: its fragment is gone; count absent: its default fills the fragment.
    out = pipes.output(absent, "result")
    assert pipes.show(f"{absent}-only")["command"] == (
        f"echo args  --count 2 --flag False --ratio 0.5 > {out}/args.txt"
    )
    assert (out / "args.txt").read_text() == "args --count 2 --flag False --ratio 0.5\n"
    assert pipes.show(f"{absent}-only")["inputs"] == {"count": 2, "flag": False, "ratio": 0.5}
    assert pipes.show(absent)["inputs"] == {}

    out = pipes.output(given, "result")
    child = pipes.show(f"{given}-only")
    assert child["command"] == (
        f"echo args --label hello --count 5 --flag False --ratio 0.5 > {out}/args.txt"
    )
    assert child["inputs"] == {"count": 5, "flag": False, "label": "hello", "ratio": 0.5}
    assert (
        out / "args.txt"
    ).read_text() == "args --label hello --count 5 --flag False --ratio 0.5\n"


# -- a failing step ------------------------------------------------------------------------------

FAILING_YML = """\
type: pipeline
name: failing
outputs:
  result: {{type: uri_folder}}
jobs:
  bad:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      outputs: {{out: {{type: uri_folder}}}}
      command: echo to-stdout; echo broken-marker >&2; exit 3
  after:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      inputs: {{data: {{type: uri_folder}}}}
      outputs: {{out: {{type: uri_folder}}}}
      command: ls ${{{{inputs.data}}}} > ${{{{outputs.out}}}}/listing.txt
    inputs:
      data: ${{{{parent.jobs.bad.outputs.out}}}}
  independent:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      outputs: {{out: {{type: uri_folder}}}}
      command: >-
        while [ ! -e {gate} ]; do sleep 0.05; done;
        echo done > ${{{{outputs.out}}}}/done.txt
    outputs:
      out: ${{{{parent.outputs.result}}}}
"""


@pytest.mark.parametrize("keep_going", [True, False], ids=["continue", "stop"])
def test_a_failing_step(pipes: Pipes, keep_going: bool) -> None:
    gate = pipes.root / "gate"
    pipes.write("failing.yml", FAILING_YML.format(gate=gate))
    job_yml = pipes.write("failing-job.yml", "type: pipeline\ncomponent: failing.yml\n")
    name = pipes.create_job(
        "-f", job_yml, "--set", f"settings.continue_on_step_failure={str(keep_going).lower()}"
    )
    bad, after, independent = (f"{name}-{step}" for step in ("bad", "after", "independent"))
    if keep_going:
        # The independent step goes on after bad failed; it ends when the test lets it.
        pipes.wait(after, "Canceled")
        assert pipes.show(independent)["status"] == "Running"
        assert pipes.show(name)["status"] == "Running"
        gate.touch()
    job = pipes.wait(name)

    error = f"step bad failed (exit code 3); see: batchml job show -n {bad}"
    if not keep_going:
        error += "; the steps still running were stopped"
    assert (job["status"], job["error"]) == (
        "Failed",
        {"details": f"{pipes.folder(name)}/logs/azureml/executionlogs.txt", "message": error},
    )

    # The failed step: its exit code, and its stdout and stderr in its std_log.
    log = pipes.folder(bad) / "user_logs" / "std_log.txt"
    failed = pipes.show(bad)
    assert (failed["status"], failed["properties"]) == (
        "Failed",
        {"StepName": "bad", "azureml.exitcode": 3},
    )
    assert failed["error"] == {
        "details": str(log),
        "message": f"step bad failed with exit code 3; its log: {log}",
    }
    assert log.read_text() == "to-stdout\nbroken-marker\n"
    streamed = pipes.cli("job", "stream", "-n", bad)
    assert streamed.code == 1
    assert "Streaming user_logs/std_log.txt" in streamed.out
    assert "broken-marker\n" in streamed.out
    execution_log = (pipes.folder(name) / "logs/azureml/executionlogs.txt").read_text()
    assert f"Step bad (run id {bad}) failed with exit code 3. Last lines of its log:" in (
        execution_log
    )
    assert "    broken-marker\n" in execution_log

    # The step reading bad's output never ran.
    skipped = pipes.show(after)
    assert (skipped["status"], skipped["properties"]["azureml.exitcode"]) == ("Canceled", None)
    assert not (pipes.folder(after) / "user_logs").exists()
    assert not pipes.output(after, "out").exists()

    steps = pipes.steps(name)
    if keep_going:
        assert skipped["error"]["message"] == "a step it reads from did not complete (bad)"
        assert steps["independent"]["status"] == "Completed"
        assert (pipes.output(name, "result") / "done.txt").read_text() == "done\n"
    else:
        assert skipped["error"]["message"] == "step bad failed"
        assert (steps["independent"]["status"], steps["independent"]["error"]["message"]) == (
            "Canceled",
            "stopped",
        )
        assert not (pipes.output(name, "result") / "done.txt").exists()
    streamed = pipes.cli("job", "stream", "-n", name)
    assert streamed.code == 1
    assert f"Error: {error}\n" in streamed.out


# -- job create, and deployments from the job -------------------------------------------------


@pytest.mark.parametrize("job_file", ["pipeline-job.yml", "inline-job.yml"])
def test_pipeline_job_then_a_deployment_from_it(pipes: Pipes, job_file: str) -> None:
    cli = pipes.cli
    name = pipes.create_job("-f", pipes.root / job_file, "--set", "inputs.input_data.path=data")
    job = pipes.wait(name)
    assert job["status"] == "Completed", job.get("error")
    assert (pipes.output(name, "scores") / "all.txt").read_text() == "A#\nB#\n"
    assert (job["experiment_name"], job["properties"]) == (
        "project",
        {"azureml.runsource": "azureml.PipelineRun", "runType": "HTTP"},
    )
    assert job["inputs"] == {"input_data": {"path": "data", "type": "uri_folder"}, "suffix": "#"}
    assert job["display_name"] == (
        "upper-and-join-job" if job_file == "pipeline-job.yml" else "upper-and-join-inline"
    )
    assert {s: c["status"] for s, c in pipes.steps(name).items()} == {
        "join_job": "Completed",
        "upper_job": "Completed",
    }

    deployment = cli.ok(
        "batch-deployment",
        "create",
        "-f",
        pipes.root / "deployment-from-job.yml",
        "--set",
        f"job_definition=azureml:{name}",
    )
    assert (deployment["name"], deployment["type"]) == ("from-job", "pipeline")
    invoked = pipes.invoke("-d", "from-job", "-f", pipes.root / "inputs.yml")
    job = pipes.wait(invoked)
    assert job["status"] == "Completed", job.get("error")
    # The same result as the deployment of the pipeline component (see the first test).
    assert (pipes.output(invoked, "scores") / "all.txt").read_text() == "A?\nB?\n"
    assert job["properties"]["azureml.deploymentname"] == "from-job"


def test_a_step_runs_with_its_environment_variables_over_its_component_s(pipes: Pipes) -> None:
    job = pipes.write(
        "env-job.yml",
        """\
type: pipeline
outputs:
  seen: {type: uri_folder}
jobs:
  only:
    type: command
    environment_variables: {B: from-step, C: 3}
    component:
      environment: azureml:AzureML-minimal@latest
      environment_variables: {A: from-component, B: from-component}
      outputs: {out: {type: uri_folder}}
      command: echo "$A $B $C $AZUREML_RUN_ID" > ${{outputs.out}}/env.txt
    outputs:
      out: ${{parent.outputs.seen}}
""",
    )
    name = pipes.create_job("-f", job)
    assert pipes.wait(name)["status"] == "Completed"
    seen = (pipes.output(name, "seen") / "env.txt").read_text()
    assert seen == f"from-component from-step 3 {name}-only\n"


def test_job_definition_naming_a_missing_or_non_pipeline_job(pipes: Pipes) -> None:
    from_job = pipes.root / "deployment-from-job.yml"
    result = pipes.cli(
        "batch-deployment", "create", "-f", from_job, "--set", "job_definition=azureml:nope"
    )
    assert (result.code, result.out, result.err) == (
        4,
        "",
        f"ERROR: {from_job}:5: job_definition: job 'nope' not found; run one with: batchml job "
        "create -f pipeline-job.yml\n",
    )
    name = pipes.invoke("-f", pipes.root / "inputs.yml")
    assert pipes.wait(name)["status"] == "Completed"
    result = pipes.cli(
        "batch-deployment",
        "create",
        "-f",
        from_job,
        "--set",
        f"job_definition=azureml:{name}-upper_job",
    )
    assert (result.code, result.err) == (
        4,
        f"ERROR: {from_job}:5: job_definition: job '{name}-upper_job' is not a pipeline job\n",
    )
    assert pipes.cli.ok("batch-deployment", "list", "-e", "pipe-ep", "--query", "[].name") == [
        "two"
    ]


# -- cancel and resume --------------------------------------------------------------------------

SLOW_YML = """\
type: pipeline
name: slow
outputs:
  result: {{type: uri_folder}}
jobs:
  first:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      outputs: {{out: {{type: uri_folder}}}}
      command: echo run >> {runs}; echo one > ${{{{outputs.out}}}}/one.txt
  second:
    type: command
    component:
      environment: azureml:AzureML-minimal@latest
      inputs: {{data: {{type: uri_folder}}}}
      outputs: {{out: {{type: uri_folder}}}}
      command: >-
        test -e {gate} || python -c "import time; time.sleep(60)" {marker};
        cp ${{{{inputs.data}}}}/one.txt ${{{{outputs.out}}}}/two.txt
    inputs:
      data: ${{{{parent.jobs.first.outputs.out}}}}
    outputs:
      out: ${{{{parent.outputs.result}}}}
"""


def test_cancel_a_running_pipeline_then_resume_it(pipes: Pipes) -> None:
    cli = pipes.cli
    marker = f"pipeline-sleep-{uuid.uuid4().hex}"
    runs, gate = pipes.root / "first-runs.txt", pipes.root / "gate"
    pipes.write("slow.yml", SLOW_YML.format(runs=runs, gate=gate, marker=marker))
    job_yml = pipes.write("slow-job.yml", "type: pipeline\ncomponent: slow.yml\n")
    name = pipes.create_job("-f", job_yml)
    first, second = f"{name}-first", f"{name}-second"
    pipes.wait(second, "Running")
    wait_for(lambda: processes_with(marker), "the sleeping step to start")

    canceled = cli.ok("job", "cancel", "-n", name)
    assert canceled["status"] == "Canceled"
    assert processes_with(marker) == []
    steps = pipes.steps(name)
    assert {s: c["status"] for s, c in steps.items()} == {
        "first": "Completed",
        "second": "Canceled",
    }
    assert steps["second"]["error"]["message"] == "stopped"
    assert not (pipes.output(name, "result") / "two.txt").exists()

    # A step is canceled and resumed through its pipeline.
    result = cli("job", "cancel", "-n", second)
    assert (result.code, result.err) == (
        2,
        f"ERROR: job '{second}' is step second of pipeline job {name}; cancel the pipeline job\n"
        f"Hint: batchml job cancel -n {name}\n",
    )

    gate.touch()
    resumed = cli.ok("job", "resume", "-n", name)
    assert resumed["status"] in ("Preparing", "Running", "Completed")
    job = pipes.wait(name)
    assert job["status"] == "Completed", job.get("error")
    assert {s: c["status"] for s, c in pipes.steps(name).items()} == {
        "first": "Completed",
        "second": "Completed",
    }
    # first ran once: the resumed job kept it
    assert runs.read_text() == "run\n"
    assert (pipes.output(name, "result") / "two.txt").read_text() == "one\n"
    execution_log = (pipes.folder(name) / "logs/azureml/executionlogs.txt").read_text()
    assert "Resuming: keeping completed steps first\n" in execution_log
    assert execution_log.count(f"Submitting 1 runs, first five are: {first} (step first)") == 1
    assert execution_log.count(f"Submitting 1 runs, first five are: {second} (step second)") == 2
    result = cli("job", "resume", "-n", name)
    assert (result.code, result.err) == (
        5,
        f"ERROR: job '{name}' is Completed: there is nothing to resume\n",
    )
