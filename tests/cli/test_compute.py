"""`batchml compute create|show|list|delete`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Cli, Project


def compute_view(arm: str, name: str = "cpu-cluster", **changes: Any) -> dict[str, Any]:
    view = {
        "description": "",
        "id": f"{arm}/computes/{name}",
        "idle_time_before_scale_down": 120,
        "location": "local",
        "max_instances": 1,
        "min_instances": 0,
        "name": name,
        "provisioning_state": "Succeeded",
        "size": "Standard_DS3_v2",
        "tags": {},
        "tier": "dedicated",
        "type": "amlcompute",
    }
    view.update(changes)
    return view


def test_create_from_flags_with_defaults(cli: Cli, ws: Path, arm: str) -> None:
    result = cli("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    assert (result.code, result.err) == (0, "")
    assert result.json() == compute_view(arm)
    assert (ws / "computes" / "cpu-cluster.json").is_file()


def test_create_with_every_flag(cli: Cli, ws: Path, arm: str) -> None:
    view = cli.ok(
        "compute",
        "create",
        "--name",
        "gpu-cluster",
        "-t",
        "AmlCompute",
        "--size",
        "Standard_NC6",
        "--tier",
        "low_priority",
        "--min-instances",
        "1",
        "--max-instances",
        "4",
        "--idle-time-before-scale-down",
        "300",
        "--description",
        "GPUs",
    )
    assert view == compute_view(
        arm,
        "gpu-cluster",
        size="Standard_NC6",
        tier="low_priority",
        min_instances=1,
        max_instances=4,
        idle_time_before_scale_down=300,
        description="GPUs",
    )


def test_create_from_a_file_keeps_azure_only_keys(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    compute_yml = project.write(
        "compute.yml",
        """\
        $schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json
        name: gpu-cluster
        type: amlcompute
        size: Standard_NC6
        max_instances: 4
        identity:
          type: system_assigned
        tags:
          team: vision
        """,
    )
    view = cli.ok("compute", "create", "-f", compute_yml, "--set", "min_instances=1")
    assert view == compute_view(
        arm,
        "gpu-cluster",
        size="Standard_NC6",
        max_instances=4,
        min_instances=1,
        identity={"type": "system_assigned"},
        tags={"team": "vision"},
    )


def test_create_again_overwrites(cli: Cli, ws: Path, arm: str) -> None:
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    view = cli.ok(
        "compute", "create", "-n", "cpu-cluster", "--type", "amlcompute", "--max-instances", "2"
    )
    assert view == compute_view(arm, max_instances=2)
    assert cli.ok("compute", "list") == [view]


def test_create_reports_every_mistake(cli: Cli, ws: Path) -> None:
    result = cli(
        "compute",
        "create",
        "-n",
        "x1",
        "--type",
        "computeinstance",
        "--max-instances",
        "0",
        "--tier",
        "cheap",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        "ERROR: command line: max_instances: must be at least 1 (got 0)",
        "  command line: name: must be 3-32 characters of letters, digits and '-', start with a "
        'letter and end with a letter or digit (got "x1")',
        '  command line: tier: must be one of dedicated, low_priority (got "cheap")',
        "  command line: type: must be amlcompute (this machine) or ray (a Ray cluster) (got "
        '"computeinstance")',
    ]
    assert not ws.exists()


def test_create_needs_a_file_or_name_and_type(cli: Cli, ws: Path) -> None:
    result = cli("compute", "create", "-n", "cpu-cluster")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: give -f compute.yml, or --name and --type amlcompute|ray\n",
    )


def test_create_non_integer_flag_is_a_usage_error(cli: Cli, ws: Path) -> None:
    result = cli("compute", "create", "-n", "cpu", "-t", "amlcompute", "--max-instances", "many")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == (
        "Error: Invalid value for '--max-instances': 'many' is not a valid integer."
    )


def test_show_and_list(cli: Cli, ws: Path, arm: str) -> None:
    cli.ok("compute", "create", "-n", "zeta-cluster", "--type", "amlcompute")
    cli.ok("compute", "create", "-n", "alpha-cluster", "--type", "amlcompute")
    assert cli.ok("compute", "show", "-n", "zeta-cluster") == compute_view(arm, "zeta-cluster")
    assert cli.ok("compute", "list", "--query", "[].name") == ["alpha-cluster", "zeta-cluster"]


def test_show_unknown(cli: Cli, ws: Path) -> None:
    result = cli("compute", "show", "-n", "nope")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: compute 'nope' not found in workspace {ws}\n",
    )


def test_list_of_an_empty_workspace(cli: Cli, ws: Path) -> None:
    assert cli.ok("compute", "list") == []
    assert not ws.exists()


def test_delete(cli: Cli, ws: Path) -> None:
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    result = cli("compute", "delete", "-n", "cpu-cluster", "--yes")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert list((ws / "computes").iterdir()) == []
    assert cli("compute", "show", "-n", "cpu-cluster").code == 3


def test_delete_needs_yes(cli: Cli, ws: Path) -> None:
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    result = cli("compute", "delete", "-n", "cpu-cluster")
    assert (result.code, result.out, result.err) == (
        2,
        "",
        "ERROR: delete compute 'cpu-cluster': pass --yes to confirm (no terminal to ask on)\n",
    )
    assert (ws / "computes" / "cpu-cluster.json").is_file()


def test_delete_unknown(cli: Cli, ws: Path) -> None:
    cli.ok("compute", "create", "-n", "cpu-cluster", "--type", "amlcompute")
    result = cli("compute", "delete", "-n", "nope", "-y")
    assert (result.code, result.out, result.err) == (
        3,
        "",
        f"ERROR: compute 'nope' not found in workspace {ws}\n",
    )


def test_min_instances_may_not_exceed_max_instances(cli: Cli, ws: Path) -> None:
    result = cli(
        "compute",
        "create",
        "-n",
        "cpu-cluster",
        "--type",
        "amlcompute",
        "--min-instances",
        "3",
        "--max-instances",
        "2",
    )
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        "ERROR: command line: min_instances: must not exceed max_instances (3 > 2)\n"
    )
    assert not ws.exists()
