"""`batchml batch-endpoint create|update|show|list|delete|list-jobs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Cli, Project


def endpoint_view(arm: str, name: str = "mnist-batch", **changes: Any) -> dict[str, Any]:
    ident = f"{arm}/batchEndpoints/{name}"
    view = {
        "auth_mode": "aad_token",
        "defaults": {"deployment_name": None},
        "description": "A batch endpoint for MNIST",
        "id": ident,
        "location": "local",
        "name": name,
        "properties": {
            "BatchEndpointCreationApiVersion": "2023-10-01",
            "azureml.onlineendpointid": ident,
        },
        "provisioning_state": "Succeeded",
        "scoring_uri": f"batchml://ws/batchEndpoints/{name}/jobs",
        "tags": {"team": "vision"},
    }
    view.update(changes)
    return view


def state_of(ws: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ws / "endpoints" / name / "endpoint.json").read_text())
    return document


# create


def test_create_prints_the_endpoint_and_stores_it(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    result = cli("batch-endpoint", "create", "-f", project.endpoint_yml)
    assert (result.code, result.err) == (0, "")
    assert result.json() == endpoint_view(arm)
    state = state_of(ws, "mnist-batch")
    assert cli.mask(state) == {
        "__meta__": {"format_version": 1, "kind": "batch-endpoint"},
        "auth_mode": "aad_token",
        "created_at": "<time>",
        "default_deployment": None,
        "description": "A batch endpoint for MNIST",
        "modified_at": "<time>",
        "name": "mnist-batch",
        "tags": {"team": "vision"},
    }
    assert sorted(p.name for p in ws.iterdir()) == [
        ".lock",
        "datastores",
        "endpoints",
        "workspace.json",
    ]


def test_create_name_flag_overrides_the_file(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    view = cli.ok("batch-endpoint", "create", "-f", project.endpoint_yml, "-n", "other-ep")
    assert view == endpoint_view(arm, "other-ep")
    assert sorted(p.name for p in (ws / "endpoints").iterdir()) == ["other-ep"]


def test_create_set_takes_several_values_after_one_flag(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    view = cli.ok(
        "batch-endpoint",
        "create",
        "-f",
        project.endpoint_yml,
        "--set",
        "description=demo",
        "tags.stage=dev",
        "tags.count=5",
    )
    assert view == endpoint_view(
        arm, description="demo", tags={"count": "5", "stage": "dev", "team": "vision"}
    )


def test_create_set_values_are_typed(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    view = cli.ok(
        "batch-endpoint",
        "create",
        "-f",
        project.endpoint_yml,
        "--set",
        'tags={"a": 1, "b": true}',
        "description=NaN",
    )
    # A JSON object replaces the mapping; NaN is not JSON, so it stays a string.
    assert view == endpoint_view(arm, description="NaN", tags={"a": "1", "b": "true"})
    assert state_of(ws, "mnist-batch")["description"] == "NaN"


def test_create_again_overwrites_but_keeps_created_at(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    cli.ok("batch-endpoint", "create", "-f", project.endpoint_yml)
    first = state_of(ws, "mnist-batch")
    view = cli.ok("batch-endpoint", "create", "-f", project.endpoint_yml, "--set", "description=v2")
    assert view == endpoint_view(arm, description="v2")
    second = state_of(ws, "mnist-batch")
    assert second["created_at"] == first["created_at"]
    assert second["modified_at"] >= first["modified_at"]


def test_create_with_a_default_that_does_not_exist_fails(
    cli: Cli, ws: Path, project: Project
) -> None:
    result = cli(
        "batch-endpoint",
        "create",
        "-f",
        project.endpoint_yml,
        "--set",
        "defaults.deployment_name=nope",
    )
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        "ERROR: cannot make 'nope' the default of batch endpoint 'mnist-batch': no such "
        "deployment\n"
        "Hint: create it first with: batchml batch-deployment create -e mnist-batch -f "
        "deployment.yml\n"
    )
    assert not (ws / "endpoints").exists()


def test_create_reports_every_schema_mistake_with_its_line(
    cli: Cli, ws: Path, project: Project
) -> None:
    bad = project.write(
        "bad-endpoint.yml",
        """\
        name: 1-bad
        description: 5
        auth_mode: key
        defaults:
          deployment: x
        colour: blue
        """,
    )
    result = cli("batch-endpoint", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {bad}:1: name: must be 3-32 characters of letters, digits and '-', start with a "
        'letter and end with a letter or digit (got "1-bad")',
        f"  {bad}:2: description: must be a string (got 5)",
        f'  {bad}:3: auth_mode: must be one of aad_token (got "key")',
        f"  {bad}:5: defaults.deployment: unknown field; did you mean 'deployment_name'?",
        f"  {bad}:6: colour: unknown field; allowed: $schema, auth_mode, defaults, description, "
        "name, tags",
    ]
    assert not ws.exists()


def test_create_missing_file_is_not_found(cli: Cli, ws: Path) -> None:
    result = cli("batch-endpoint", "create", "-f", "nope.yml")
    assert (result.code, result.out, result.err) == (3, "", "ERROR: file not found: nope.yml\n")


def test_create_from_a_folder_is_a_usage_error(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("batch-endpoint", "create", "-f", project.root)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"ERROR: {project.root} is a folder; -f/--file takes a YAML file\n"


def test_create_invalid_yaml_names_the_line(cli: Cli, ws: Path, project: Project) -> None:
    bad = project.write("broken.yml", "name: mnist-batch\ntags: [unclosed\n")
    result = cli("batch-endpoint", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"ERROR: {bad}:3: not valid YAML: expected ',' or ']', but got '<stream end>'\n"
    )


def test_create_yaml_that_is_not_a_mapping(cli: Cli, ws: Path, project: Project) -> None:
    bad = project.write("list.yml", "- name: mnist-batch\n")
    result = cli("batch-endpoint", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err == f"ERROR: {bad}: the file must hold a YAML mapping (key: value lines)\n"


def test_create_without_file_is_a_usage_error(cli: Cli, ws: Path) -> None:
    result = cli("batch-endpoint", "create", "-n", "mnist-batch")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "Usage: batchml batch-endpoint create [OPTIONS]\n"
        "Try 'batchml batch-endpoint create --help' for help.\n"
        "\n"
        "Error: Missing option '-f' / '--file'.\n"
    )


def test_bad_set_assignment_is_a_usage_error(cli: Cli, ws: Path, project: Project) -> None:
    result = cli("batch-endpoint", "create", "-f", project.endpoint_yml, "--set", "=x")
    assert (result.code, result.out) == (2, "")
    assert result.err == "ERROR: --set takes key=value (e.g. description=demo); got '=x'\n"


# show / list


def test_show(cli: Cli, ready: Project, arm: str) -> None:
    assert cli.ok("batch-endpoint", "show", "-n", "mnist-batch") == endpoint_view(arm)


def test_show_unknown_endpoint(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli("batch-endpoint", "show", "-n", "nope")
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        f"ERROR: batch endpoint 'nope' not found in workspace {ws}\n"
        "Hint: list them with: batchml batch-endpoint list\n"
    )


def test_show_without_name_is_a_usage_error(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "show")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == "Error: Missing option '-n' / '--name'."


def test_list_is_sorted_by_name(cli: Cli, ready: Project, arm: str) -> None:
    cli.ok("batch-endpoint", "create", "-f", ready.endpoint_yml, "-n", "aaa-first")
    assert cli.ok("batch-endpoint", "list") == [
        endpoint_view(arm, "aaa-first"),
        endpoint_view(arm),
    ]


def test_list_of_an_empty_workspace_creates_nothing(cli: Cli, ws: Path) -> None:
    assert cli.ok("batch-endpoint", "list") == []
    assert not ws.exists()


# update


def test_update_set_description_tags_and_default(cli: Cli, deployed: Project, arm: str) -> None:
    view = cli.ok(
        "batch-endpoint",
        "update",
        "-n",
        "mnist-batch",
        "--set",
        "description=new",
        "tags.stage=prod",
        "defaults.deployment_name=mnist-torch",
    )
    assert view == endpoint_view(
        arm,
        description="new",
        tags={"stage": "prod", "team": "vision"},
        defaults={"deployment_name": "mnist-torch"},
    )
    assert cli.ok("batch-endpoint", "show", "-n", "mnist-batch") == view


def test_update_from_a_file(cli: Cli, ready: Project, arm: str) -> None:
    update = ready.write("update.yml", "name: mnist-batch\ndescription: from file\n")
    view = cli.ok("batch-endpoint", "update", "-n", "mnist-batch", "-f", update)
    assert view == endpoint_view(arm, description="from file")


def test_update_file_naming_another_endpoint(cli: Cli, ready: Project) -> None:
    update = ready.write("update.yml", "name: other-ep\ndescription: x\n")
    result = cli("batch-endpoint", "update", "-n", "mnist-batch", "-f", update)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"ERROR: {update}: name: the file names 'other-ep', not 'mnist-batch'\n"


def test_update_read_only_field_is_refused(cli: Cli, ready: Project, ws: Path) -> None:
    before = state_of(ws, "mnist-batch")
    result = cli("batch-endpoint", "update", "-n", "mnist-batch", "--set", "auth_mode=key")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: --set auth_mode=key: only description, tags, defaults can be updated\n"
    )
    assert state_of(ws, "mnist-batch") == before


def test_update_default_to_a_missing_deployment(cli: Cli, ready: Project, ws: Path) -> None:
    before = state_of(ws, "mnist-batch")
    result = cli(
        "batch-endpoint", "update", "-n", "mnist-batch", "--set", "defaults.deployment_name=nope"
    )
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines()[0] == (
        "ERROR: cannot make 'nope' the default of batch endpoint 'mnist-batch': no such deployment"
    )
    assert state_of(ws, "mnist-batch") == before


def test_update_invalid_value_is_an_invalid_spec(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "update", "-n", "mnist-batch", "--set", "tags=[1]")
    assert (result.code, result.out) == (4, "")
    assert result.err == "ERROR: command line: tags: must be a mapping (got [1])\n"


def test_update_unknown_endpoint(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli("batch-endpoint", "update", "-n", "nope", "--set", "description=x")
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines()[0] == f"ERROR: batch endpoint 'nope' not found in workspace {ws}"


# delete


def test_delete_needs_yes_without_a_terminal(cli: Cli, ready: Project, ws: Path) -> None:
    result = cli("batch-endpoint", "delete", "-n", "mnist-batch")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "ERROR: delete batch endpoint 'mnist-batch' and its deployments: pass --yes to confirm "
        "(no terminal to ask on)\n"
    )
    assert (ws / "endpoints" / "mnist-batch" / "endpoint.json").is_file()


def test_delete_removes_the_endpoint_and_its_deployments_but_keeps_jobs(
    cli: Cli, deployed: Project, ws: Path
) -> None:
    job = ws / "jobs" / "job-1" / "job.json"
    job.parent.mkdir(parents=True)
    job.write_text("{}")
    result = cli("batch-endpoint", "delete", "-n", "mnist-batch", "--yes")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert not (ws / "endpoints" / "mnist-batch").exists()
    assert [p.name for p in (ws / "endpoints").iterdir()] == []
    assert job.read_text() == "{}"
    assert cli("batch-endpoint", "show", "-n", "mnist-batch").code == 3


def test_delete_unknown_endpoint(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "delete", "-n", "nope", "-y")
    assert (result.code, result.out) == (3, "")


# list-jobs


def test_list_jobs_with_none(cli: Cli, ready: Project) -> None:
    assert cli.ok("batch-endpoint", "list-jobs", "-n", "mnist-batch") == []


def test_list_jobs_of_an_unknown_endpoint(cli: Cli, ready: Project) -> None:
    result = cli("batch-endpoint", "list-jobs", "-n", "nope")
    assert (result.code, result.out) == (3, "")


def test_no_default_deployment_hints_at_what_exists(cli: Cli, ready: Project) -> None:
    bare = cli("batch-endpoint", "invoke", "-n", "mnist-batch", "--input", ready.root)
    assert (bare.code, bare.out) == (2, "")
    assert bare.err.splitlines()[-1] == (
        "Hint: it has no deployments yet; create one with: batchml batch-deployment create "
        "-f deployment.yml -e mnist-batch --set-default"
    )
    cli.ok("batch-deployment", "create", "-f", ready.deployment_yml, "-o", "none")
    one = cli("batch-endpoint", "invoke", "-n", "mnist-batch", "--input", ready.root)
    assert one.err.splitlines()[-1] == (
        "Hint: give -d mnist-torch, or set a default with: batchml batch-endpoint update "
        "-n mnist-batch --set defaults.deployment_name=mnist-torch"
    )
