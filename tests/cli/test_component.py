"""`batchml component create|show|list`: command and pipeline components, their versions, code
snapshots, references to registered components and environments, and the errors of a pipeline
graph (unknown references, cycles), each with its exact message and exit code."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Cli, Project

CONTEXT = {
    "created_at": "<time>",
    "created_by": "tester",
    "created_by_type": "User",
    "last_modified_at": "<time>",
    "last_modified_by": "tester",
    "last_modified_by_type": "User",
}
CURATED = "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest"
REGISTRY_ENV = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"

STEP_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: echo_step
display_name: Echo step
type: command
description: Copies its input and says hello.
inputs:
  data:
    type: uri_folder
  greeting:
    type: string
    default: hi
  verbose:
    type: boolean
    optional: true
outputs:
  out:
    type: uri_folder
code: src
environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
command: >-
  python run.py --data ${{inputs.data}} --greeting ${{inputs.greeting}}
  $[[--verbose ${{inputs.verbose}}]] --out ${{outputs.out}}
"""
RUN_PY = "print('version one')\n"

PIPELINE_YML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: two_steps
display_name: Two steps
inputs:
  input_data:
    type: uri_folder
  greeting:
    type: string
    default: hello
outputs:
  result:
    type: uri_folder
jobs:
  first:
    type: command
    component: azureml:echo_step@latest
    inputs:
      data: ${{parent.inputs.input_data}}
  second:
    type: command
    component: components/step.yml
    inputs:
      data: ${{parent.jobs.first.outputs.out}}
      greeting: ${{parent.inputs.greeting}}
    outputs:
      out: ${{parent.outputs.result}}
"""


@pytest.fixture
def comp(project: Project) -> Project:
    """The project with components/step.yml (command component `echo_step`, code in
    components/src) and pipeline.yml (pipeline component `two_steps`)."""
    project.write("components/step.yml", STEP_YML)
    project.write("components/src/run.py", RUN_PY)
    project.write("components/src/lib/util.py", "X = 1\n")
    project.write("pipeline.yml", PIPELINE_YML)
    return project


def step_view(arm: str, ws: Path, version: str = "1") -> dict[str, Any]:
    return {
        "code": f"<tmp>/ws/components/echo_step/{version}/code/src",
        "command": "python run.py --data ${{inputs.data}} --greeting ${{inputs.greeting}} "
        "$[[--verbose ${{inputs.verbose}}]] --out ${{outputs.out}}",
        "creation_context": CONTEXT,
        "description": "Copies its input and says hello.",
        "display_name": "Echo step",
        "environment": CURATED,
        "environment_variables": {},
        "id": f"{arm}/components/echo_step/versions/{version}",
        "inputs": {
            "data": {"type": "uri_folder"},
            "greeting": {"default": "hi", "type": "string"},
            "verbose": {"optional": True, "type": "boolean"},
        },
        "name": "echo_step",
        "outputs": {"out": {"type": "uri_folder"}},
        "tags": {},
        "type": "command",
        "version": version,
    }


def failed(cli: Cli, *args: str | Path) -> tuple[int, str]:
    """Run a command that must fail with nothing on stdout: (exit code, stderr masked)."""
    result = cli(*args)
    assert result.out == ""
    return result.code, cli.masked_text(result.err)


# -- command components ------------------------------------------------------------------------


def test_create_a_command_component_snapshots_its_code(
    cli: Cli, ws: Path, comp: Project, arm: str
) -> None:
    view = cli.ok("component", "create", "-f", comp.root / "components/step.yml")
    assert cli.mask(view) == step_view(arm, ws)
    snapshot = ws / "components/echo_step/1/code/src"
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*")) == [
        "lib",
        "lib/util.py",
        "run.py",
    ]
    assert (snapshot / "run.py").read_text() == RUN_PY

    # Editing the original afterwards changes nothing registered.
    comp.write("components/src/run.py", "print('version two')\n")
    comp.write("components/src/new.py", "")
    assert (snapshot / "run.py").read_text() == RUN_PY
    assert not (snapshot / "new.py").exists()
    assert cli.mask(cli.ok("component", "show", "-n", "echo_step", "-v", "1")) == step_view(arm, ws)

    # A new registration takes the folder as it is now, in a snapshot of its own.
    second = cli.ok("component", "create", "-f", comp.root / "components/step.yml")
    assert cli.mask(second) == step_view(arm, ws, "2")
    assert (ws / "components/echo_step/2/code/src/run.py").read_text() == "print('version two')\n"
    assert (snapshot / "run.py").read_text() == RUN_PY


def test_versions_latest_show_and_list(cli: Cli, ws: Path, comp: Project, arm: str) -> None:
    step_yml = comp.root / "components/step.yml"
    versions = [cli.ok("component", "create", "-f", step_yml, "--query", "version")]
    versions.append(cli.ok("component", "create", "-f", step_yml, "--query", "version"))
    cli.ok("component", "create", "-f", step_yml, "-v", "10", "-o", "none")
    versions.append(cli.ok("component", "create", "-f", step_yml, "--query", "version"))
    assert versions == ["1", "2", "11"]

    assert cli.ok("component", "show", "-n", "echo_step", "--query", "version") == "11"
    assert cli.ok("component", "show", "-n", "echo_step", "-l", "latest", "--query", "version") == (
        "11"
    )
    assert cli.mask(cli.ok("component", "show", "-n", "echo_step", "-v", "2")) == step_view(
        arm, ws, "2"
    )
    assert cli.ok("component", "list", "-n", "echo_step", "--query", "[].version") == [
        "11",
        "10",
        "2",
        "1",
    ]

    cli.ok("component", "create", "-f", comp.root / "pipeline.yml", "-o", "none")
    listed = cli.ok("component", "list", "--query", "[].[name, version, type]")
    assert listed == [["echo_step", "11", "command"], ["two_steps", "1", "pipeline"]]
    assert cli.ok("component", "list", "-n", "nothing_here") == []


def test_show_errors(cli: Cli, ws: Path, comp: Project) -> None:
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    assert failed(cli, "component", "show", "-n", "echo_step", "-v", "9") == (
        3,
        "ERROR: component 'echo_step' has no version 9\nHint: versions: 1\n",
    )
    assert failed(cli, "component", "show", "-n", "nope") == (
        3,
        "ERROR: component 'nope' not found in workspace <tmp>/ws\n"
        "Hint: list them with: batchml component list\n",
    )
    assert failed(cli, "component", "show", "-n", "echo_step", "-v", "1", "-l", "latest") == (
        2,
        "ERROR: give -v/--version or -l/--label, not both\n",
    )


def test_an_explicit_version_recreated_the_same_is_returned_unchanged(
    cli: Cli, ws: Path, comp: Project, digest: Callable[[Path], dict[str, str]]
) -> None:
    step_yml = comp.root / "components/step.yml"
    first = cli.ok("component", "create", "-f", step_yml, "-v", "3")
    before = digest(ws)
    assert cli.ok("component", "create", "-f", step_yml, "-v", "3") == first
    assert digest(ws) == before

    comp.write("components/src/run.py", "print('changed')\n")
    conflict = (
        5,
        "ERROR: component 'echo_step' version 3 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 4\n",
    )
    assert failed(cli, "component", "create", "-f", step_yml, "-v", "3") == conflict
    comp.write("components/src/run.py", RUN_PY)
    assert (
        failed(cli, "component", "create", "-f", step_yml, "-v", "3", "--set", "description=x")
        == conflict
    )
    assert digest(ws) == before
    assert cli.ok("component", "create", "-f", step_yml, "-v", "3") == first


def test_the_same_version_given_in_the_yaml_or_by_flag_is_the_same(
    cli: Cli, ws: Path, comp: Project
) -> None:
    step_yml = comp.write(
        "components/step.yml", STEP_YML.replace("type: command\n", "type: command\nversion: 3\n", 1)
    )
    first = cli.ok("component", "create", "-f", step_yml)
    assert first["version"] == "3"
    assert cli.ok("component", "create", "-f", step_yml) == first
    result = cli("component", "create", "-f", step_yml, "-v", "3")
    assert (result.code, result.err) == (0, "")
    assert result.json() == first


# -- pipeline components ---------------------------------------------------------------------


def test_pipeline_component_pins_references_and_snapshots_files(
    cli: Cli, ws: Path, comp: Project, arm: str
) -> None:
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    view = cli.ok("component", "create", "-f", comp.root / "pipeline.yml")
    inline = step_view(arm, ws)
    for key in ("creation_context", "id", "tags", "version"):
        del inline[key]
    inline["code"] = "<tmp>/ws/components/two_steps/1/jobs/second/code/src"
    assert cli.mask(view) == {
        "creation_context": CONTEXT,
        "description": "",
        "display_name": "Two steps",
        "id": f"{arm}/components/two_steps/versions/1",
        "inputs": {
            "greeting": {"default": "hello", "type": "string"},
            "input_data": {"type": "uri_folder"},
        },
        "jobs": {
            "first": {
                "component": "azureml:echo_step:2",
                "inputs": {"data": "${{parent.inputs.input_data}}"},
                "outputs": {},
                "type": "command",
            },
            "second": {
                "component": inline,
                "inputs": {
                    "data": "${{parent.jobs.first.outputs.out}}",
                    "greeting": "${{parent.inputs.greeting}}",
                },
                "outputs": {"out": "${{parent.outputs.result}}"},
                "type": "command",
            },
        },
        "name": "two_steps",
        "outputs": {"result": {"type": "uri_folder"}},
        "tags": {},
        "type": "pipeline",
        "version": "1",
    }
    assert cli.ok("component", "show", "-n", "two_steps", "-v", "1") == view

    # The step given as a file is snapshotted with the pipeline: later edits change nothing.
    snapshot = ws / "components/two_steps/1/jobs/second/code/src/run.py"
    assert snapshot.read_text() == RUN_PY
    comp.write("components/src/run.py", "print('edited')\n")
    assert snapshot.read_text() == RUN_PY

    # A newer echo_step does not move a registered pipeline; a new version pins the newest.
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    assert cli.ok("component", "show", "-n", "two_steps", "--query", "jobs.first.component") == (
        "azureml:echo_step:2"
    )
    cli.ok("component", "create", "-f", comp.root / "pipeline.yml", "-o", "none")
    assert cli.ok("component", "show", "-n", "two_steps", "--query", "jobs.first.component") == (
        "azureml:echo_step:3"
    )
    assert cli.ok(
        "component", "show", "-n", "two_steps", "-v", "1", "--query", "jobs.first.component"
    ) == ("azureml:echo_step:2")


def test_pipeline_component_explicit_version_recreated_the_same(
    cli: Cli, ws: Path, comp: Project
) -> None:
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    first = cli.ok("component", "create", "-f", comp.root / "pipeline.yml", "-v", "5")
    assert cli.ok("component", "create", "-f", comp.root / "pipeline.yml", "-v", "5") == first
    comp.write("components/src/run.py", "print('edited')\n")
    assert failed(cli, "component", "create", "-f", comp.root / "pipeline.yml", "-v", "5") == (
        5,
        "ERROR: component 'two_steps' version 5 already exists (versions cannot change)\n"
        "Hint: omit the version to create version 6\n",
    )


def test_a_step_may_not_reference_a_pipeline_component(cli: Cli, ws: Path, comp: Project) -> None:
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    cli.ok("component", "create", "-f", comp.root / "pipeline.yml", "-o", "none")
    nested = comp.write(
        "nested.yml",
        PIPELINE_YML.replace("name: two_steps", "name: nested").replace(
            "azureml:echo_step@latest", "azureml:two_steps:1"
        ),
    )
    assert failed(cli, "component", "create", "-f", nested) == (
        4,
        f"ERROR: {nested}:17: jobs.first.component: azureml:two_steps:1 is a pipeline "
        "component, not command\n".replace(str(cli.tmp), "<tmp>"),
    )


# -- what create refuses --------------------------------------------------------------------


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("file", "old", "new", "stderr"),
    [
        pytest.param(
            "pipeline.yml",
            "${{parent.jobs.first.outputs.out}}",
            "${{parent.jobs.nope.outputs.x}}",
            "ERROR: <file>:24: jobs.second.inputs.data: there is no step nope (it has: first, "
            "second)\n",
            id="unknown-step",
        ),
        pytest.param(
            "pipeline.yml",
            "${{parent.jobs.first.outputs.out}}",
            "${{parent.jobs.first.outputs.result}}",
            "ERROR: <file>:24: jobs.second.inputs.data: step first has no output result (it has: "
            "out)\n",
            id="unknown-step-output",
        ),
        pytest.param(
            "pipeline.yml",
            "data: ${{parent.inputs.input_data}}",
            "data: ${{parent.jobs.second.outputs.out}}",
            "ERROR: <file>:14: jobs: the steps form a cycle: first -> second -> first "
            "(first.inputs.data = ${{parent.jobs.second.outputs.out}}; "
            "second.inputs.data = ${{parent.jobs.first.outputs.out}})\n",
            id="cycle",
        ),
        pytest.param(
            "pipeline.yml",
            "${{parent.inputs.input_data}}",
            "${{parent.inputs.input}}",
            "ERROR: <file>:19: jobs.first.inputs.data: the pipeline has no input input (it has: "
            "input_data, greeting)\n",
            id="unknown-parent-input",
        ),
        pytest.param(
            "pipeline.yml",
            "azureml:echo_step@latest",
            "azureml://registries/azureml/components/echo_step/labels/latest",
            "ERROR: <file>:17: jobs.first.component: azureml://registries/azureml/components/"
            "echo_step/labels/latest: registry components are not available locally\n",
            id="registry-component",
        ),
        pytest.param(
            "pipeline.yml",
            "azureml:echo_step@latest",
            "azureml:no_such_step@latest",
            "ERROR: <file>:17: jobs.first.component: component 'no_such_step' not found in "
            "workspace <tmp>/ws (list them with: batchml component list)\n",
            id="unregistered-component",
        ),
        pytest.param(
            "pipeline.yml",
            "component: components/step.yml",
            "component: components/nope.yml",
            "ERROR: <file>:22: jobs.second.component: file not found: "
            "<tmp>/project/components/nope.yml\n",
            id="missing-component-file",
        ),
        pytest.param(
            "components/step.yml",
            "code: src",
            "code: source",
            "ERROR: <file>:18: code: code folder not found: <tmp>/project/components/source\n",
            id="missing-code-folder",
        ),
        pytest.param(
            "components/step.yml",
            "--greeting ${{inputs.greeting}}",
            "--greeting ${{inputs.greting}}",
            "ERROR: <file>:20: command: ${{inputs.greting}} is not declared (it has: data, "
            "greeting, verbose)\n",
            id="undeclared-input",
        ),
        pytest.param(
            "components/step.yml",
            "$[[--verbose ${{inputs.verbose}}]]",
            "--verbose ${{inputs.verbose}}",
            "ERROR: <file>:20: command: the optional input verbose is used outside $[[ ... ]]; "
            "wrap the part that needs it: $[[--verbose ${{inputs.verbose}}]]\n",
            id="optional-outside-fragment",
        ),
        pytest.param(
            "components/step.yml",
            f"environment: {CURATED}",
            "environment: azureml:my-env@latest",
            "ERROR: <file>:19: environment: environment 'azureml:my-env@latest' not found in "
            "workspace <tmp>/ws (register it first: batchml environment create -f "
            "environment.yml)\n",
            id="unregistered-environment",
        ),
    ],
)
def test_create_refuses(
    cli: Cli,
    ws: Path,
    comp: Project,
    digest: Callable[[Path], dict[str, str]],
    file: str,
    old: str,
    new: str,
    stderr: str,
) -> None:
    cli.ok("component", "create", "-f", comp.root / "components/step.yml", "-o", "none")
    before = digest(ws)
    path = comp.root / file
    path.write_text(edited(path.read_text(), old, new))
    expected = stderr.replace("<file>", str(path).replace(str(cli.tmp), "<tmp>"))
    assert failed(cli, "component", "create", "-f", path) == (4, expected)
    assert digest(ws) == before


def test_create_reports_every_problem_of_a_pipeline(cli: Cli, ws: Path, comp: Project) -> None:
    text = edited(PIPELINE_YML, "azureml:echo_step@latest", "azureml:no_such_step@latest")
    path = comp.write("pipeline.yml", text)
    comp.write("components/step.yml", edited(STEP_YML, "code: src", "code: source"))
    file = str(path).replace(str(cli.tmp), "<tmp>")
    step_file = "<tmp>/project/components/step.yml"
    assert failed(cli, "component", "create", "-f", path) == (
        4,
        f"ERROR: {file}:17: jobs.first.component: component 'no_such_step' not found in "
        "workspace <tmp>/ws (list them with: batchml component list)\n"
        f"  {step_file}:18: code: code folder not found: <tmp>/project/components/source\n",
    )
    assert cli.ok("component", "list") == []


def test_the_bindings_of_a_step_whose_component_is_missing_are_still_checked(
    cli: Cli, ws: Path, comp: Project
) -> None:
    path = comp.write(
        "pipeline.yml",
        """\
type: pipeline
name: partial
inputs:
  data: {type: uri_folder}
jobs:
  first:
    type: command
    component: missing.yml
    inputs:
      d: ${{parent.inputs.dat}}
  second:
    type: command
    component: missing.yml
    inputs:
      x: ${{parent.jobs.first.outputs.o}}
      y: ${{parent.jobs.third.outputs.o}}
""",
    )
    file = str(path).replace(str(cli.tmp), "<tmp>")
    missing = "<tmp>/project/missing.yml"
    assert failed(cli, "component", "create", "-f", path) == (
        4,
        f"ERROR: {file}:8: jobs.first.component: file not found: {missing}\n"
        f"  {file}:10: jobs.first.inputs.d: the pipeline has no input dat (it has: data)\n"
        f"  {file}:13: jobs.second.component: file not found: {missing}\n"
        f"  {file}:16: jobs.second.inputs.y: there is no step third (it has: first, second)\n",
    )
    assert cli.ok("component", "list") == []


def test_a_reserved_input_name_is_refused(cli: Cli, ws: Path, comp: Project) -> None:
    path = comp.write(
        "reserved.yml",
        """\
        name: reserved
        type: command
        inputs:
          home: {type: string}
        environment: azureml:AzureML-minimal@latest
        command: echo ${{inputs.home}}
        """,
    )
    file = str(path).replace(str(cli.tmp), "<tmp>")
    assert failed(cli, "component", "create", "-f", path) == (
        4,
        f"ERROR: {file}:4: inputs.home: 'home' is a reserved name; rename it\n",
    )


# -- environments --------------------------------------------------------------------------------


def test_a_workspace_environment_is_resolved_strictly_and_pinned(
    cli: Cli, ws: Path, comp: Project
) -> None:
    step_yml = comp.root / "components/step.yml"
    step_yml.write_text(edited(STEP_YML, CURATED, "azureml:scoring-env@latest"))
    code, err = failed(cli, "component", "create", "-f", step_yml)
    assert (code, err) == (
        4,
        "ERROR: <tmp>/project/components/step.yml:19: environment: environment "
        "'azureml:scoring-env@latest' not found in workspace <tmp>/ws (register it first: "
        "batchml environment create -f environment.yml)\n",
    )
    env_yml = comp.write("env/environment.yml", "name: scoring-env\nimage: python:3.11\n")
    cli.ok("environment", "create", "-f", env_yml, "-o", "none")
    cli.ok("environment", "create", "-f", env_yml, "-o", "none")
    assert cli.ok("component", "create", "-f", step_yml, "--query", "environment") == (
        "azureml:scoring-env:2"
    )
    step_yml.write_text(edited(STEP_YML, CURATED, "azureml:scoring-env:1"))
    assert cli.ok("component", "create", "-f", step_yml, "--query", "environment") == (
        "azureml:scoring-env:1"
    )
    step_yml.write_text(edited(STEP_YML, CURATED, "azureml:scoring-env:7"))
    code, err = failed(cli, "component", "create", "-f", step_yml)
    assert code == 4
    assert err.startswith(
        "ERROR: <tmp>/project/components/step.yml:19: environment: environment "
        "'azureml:scoring-env:7' not found"
    ), err


@pytest.mark.parametrize("environment", [CURATED, REGISTRY_ENV])
def test_curated_and_registry_environments_are_kept_as_given(
    cli: Cli, ws: Path, comp: Project, environment: str
) -> None:
    step_yml = comp.root / "components/step.yml"
    step_yml.write_text(edited(STEP_YML, CURATED, environment))
    assert cli.ok("component", "create", "-f", step_yml, "--query", "environment") == environment


def test_an_inline_pipeline_step_with_a_registered_environment(
    cli: Cli, ws: Path, comp: Project
) -> None:
    env_yml = comp.write("env/environment.yml", "name: scoring-env\nimage: python:3.11\n")
    cli.ok("environment", "create", "-f", env_yml, "-o", "none")
    path = comp.write(
        "inline.yml",
        """\
        type: pipeline
        name: inline_pipe
        jobs:
          only:
            type: command
            component:
              type: command
              command: echo ${{inputs.x}}
              environment: azureml:scoring-env@latest
              inputs:
                x: {type: integer, default: 3}
        """,
    )
    assert cli.ok("component", "create", "-f", path, "--query", "jobs.only.component") == {
        "command": "echo ${{inputs.x}}",
        "environment": "azureml:scoring-env:1",
        "environment_variables": {},
        "inputs": {"x": {"default": 3, "type": "integer"}},
        "type": "command",
    }
