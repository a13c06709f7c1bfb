"""`batchml datastore create|show|list|delete`: Azure's YAML, the default datastore, and secrets
that never leave `<ws>/secrets/`."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="
SAS = "sv=2024-01-01&sig=TOPSECRETSIGNATURE"
CLIENT_SECRET = "client-secret-never-shown"

BLOB_YML = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: blob_example
type: azure_blob
description: Datastore pointing to a blob container.
account_name: mytestblobstore
container_name: data-container
credentials:
  account_key: {KEY}
"""


def view(arm: str, name: str = "blob_example", **changes: Any) -> dict[str, Any]:
    shape = {
        "account_name": "mytestblobstore",
        "container_name": "data-container",
        "credentials": {"type": "account_key"},
        "description": "Datastore pointing to a blob container.",
        "endpoint": "core.windows.net",
        "id": f"{arm}/datastores/{name}",
        "name": name,
        "protocol": "https",
        "tags": {},
        "type": "azure_blob",
    }
    shape.update(changes)
    return shape


def default_view(arm: str, ws: Path) -> dict[str, Any]:
    return {
        "account_name": "local",
        "container_name": "workspaceblobstore",
        "credentials": {"type": "none"},
        "description": "The workspace's default datastore: a folder of the workspace.",
        "endpoint": "core.windows.net",
        "id": f"{arm}/datastores/workspaceblobstore",
        "local_path": str(ws / "datastores" / "workspaceblobstore"),
        "name": "workspaceblobstore",
        "protocol": "https",
        "tags": {},
        "type": "azure_blob",
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_outside_secrets(ws: Path) -> list[Path]:
    return [p for p in ws.rglob("*") if p.is_file() and "secrets" not in p.parts]


def test_create_with_an_account_key_keeps_the_key_apart(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    result = cli("datastore", "create", "-f", project.write("blob.yml", BLOB_YML))
    assert (result.code, result.err) == (0, "")
    assert result.json() == view(arm)
    assert (ws / "datastores" / "blob_example.json").is_file()
    secret = ws / "secrets" / "datastores" / "blob_example.json"
    assert (mode(ws / "secrets"), mode(secret.parent), mode(secret)) == (0o700, 0o700, 0o600)
    assert KEY in secret.read_text()
    leaks = [p for p in files_outside_secrets(ws) if KEY in p.read_text(errors="replace")]
    assert leaks == []


@pytest.mark.parametrize("output", ["json", "yaml", "table", "tsv", "jsonc"])
def test_show_and_list_never_print_a_secret(
    cli: Cli, ws: Path, project: Project, output: str
) -> None:
    cli.ok("datastore", "create", "-f", project.write("blob.yml", BLOB_YML))
    sas_yml = BLOB_YML.replace("blob_example", "sas_example").replace(
        f"account_key: {KEY}", f'sas_token: "{SAS}"'
    )
    cli.ok("datastore", "create", "-f", project.write("sas.yml", sas_yml))
    for args in (["show", "-n", "blob_example"], ["show", "-n", "sas_example"], ["list"]):
        result = cli("datastore", *args, "-o", output)
        assert result.code == 0
        assert KEY not in result.out + result.err
        assert "TOPSECRET" not in result.out + result.err


def test_a_sas_token_and_no_credentials(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    sas = cli.ok("datastore", "create", "-f", project.write("b.yml", BLOB_YML), "-n", "sas1")
    assert sas["credentials"] == {"type": "account_key"}
    sas = cli.ok(
        "datastore", "create", "-f", project.write("b.yml", BLOB_YML), "-n", "sas1",
        "--set", "credentials={}", f"credentials.sas_token={SAS}",
    )  # fmt: skip
    assert sas == view(arm, "sas1", credentials={"type": "sas"})
    secret = ws / "secrets" / "datastores" / "sas1.json"
    assert SAS in secret.read_text()
    anonymous = BLOB_YML.split("credentials:")[0]
    shown = cli.ok("datastore", "create", "-f", project.write("anon.yml", anonymous), "-n", "sas1")
    assert shown == view(arm, "sas1", credentials={"type": "none"})
    assert not secret.exists()  # replaced by a datastore without secrets


def test_data_lake_gen2_with_a_service_principal(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    gen2 = project.write(
        "gen2.yml",
        f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/azureDataLakeGen2.schema.json
        name: adls_gen2_example
        type: azure_data_lake_gen2
        account_name: mytestdatalakegen2
        filesystem: my-gen2-container
        protocol: abfss
        tags:
          team: data
        credentials:
          tenant_id: 00000000-1111-2222-3333-444444444444
          client_id: 55555555-6666-7777-8888-999999999999
          client_secret: {CLIENT_SECRET}
        """,
    )
    result = cli("datastore", "create", "-f", gen2)
    assert (result.code, result.err) == (0, "")
    assert CLIENT_SECRET not in result.out
    assert result.json() == {
        "account_name": "mytestdatalakegen2",
        "credentials": {
            "authority_url": "https://login.microsoftonline.com",
            "client_id": "55555555-6666-7777-8888-999999999999",
            "resource_url": "https://storage.azure.com/",
            "tenant_id": "00000000-1111-2222-3333-444444444444",
            "type": "service_principal",
        },
        "description": "",
        "endpoint": "core.windows.net",
        "filesystem": "my-gen2-container",
        "id": f"{arm}/datastores/adls_gen2_example",
        "name": "adls_gen2_example",
        "protocol": "abfss",
        "tags": {"team": "data"},
        "type": "azure_data_lake_gen2",
    }
    assert CLIENT_SECRET in (ws / "secrets" / "datastores" / "adls_gen2_example.json").read_text()


def test_an_emulator_by_its_account_url(cli: Cli, ws: Path, project: Project, arm: str) -> None:
    shown = cli.ok(
        "datastore", "create", "-f", project.write("blob.yml", BLOB_YML),
        "--set", "account_url=http://127.0.0.1:10000/devstoreaccount1", "protocol=http",
    )  # fmt: skip
    assert shown == view(
        arm, account_url="http://127.0.0.1:10000/devstoreaccount1", protocol="http"
    )


def test_list_shows_the_default_datastore_first_in_name_order(
    cli: Cli, ws: Path, project: Project, arm: str
) -> None:
    assert cli.ok("datastore", "list") == [default_view(arm, ws)]
    assert not ws.exists()  # listing writes nothing
    blob = project.write("blob.yml", BLOB_YML)
    cli.ok("datastore", "create", "-f", blob, "-n", "zeta")
    cli.ok("datastore", "create", "-f", blob, "-n", "alpha")
    assert cli.ok("datastore", "list", "--query", "[].name") == [
        "alpha",
        "workspaceblobstore",
        "zeta",
    ]
    assert cli.ok("datastore", "list", "-r", "1", "--query", "[].name") == ["alpha"]
    assert cli.ok("datastore", "show", "-n", "workspaceblobstore") == default_view(arm, ws)
    assert cli.ok("workspace", "show", "--query", "datastores") == [
        "alpha",
        "workspaceblobstore",
        "zeta",
    ]


def test_create_reports_every_mistake_with_its_line(cli: Cli, ws: Path, project: Project) -> None:
    bad = project.write(
        "bad.yml",
        """\
        name: bad-name
        type: azure_blob
        account_name: MyAccount
        container_name: c
        protocol: ftp
        credentials:
          account_key: a
          sas_token: b
        """,
    )
    result = cli("datastore", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        f"ERROR: {bad}:1: name: must be 1-255 characters of letters, digits and '_' (got "
        '"bad-name")',
        f"  {bad}:3: account_name: must be 3-24 lowercase letters and digits (a storage account "
        'name) (got "MyAccount")',
        f"  {bad}:4: container_name: must be 3-63 characters of lowercase letters, digits and "
        "'-', starting and ending with a letter or digit, without '--' (got \"c\")",
        f'  {bad}:5: protocol: must be https or wasbs (http or wasb for an emulator) (got "ftp")',
        f"  {bad}:6: credentials: takes account_key or sas_token, not both",
    ]
    assert not ws.exists()


def test_missing_fields_and_unsupported_types(cli: Cli, ws: Path, project: Project) -> None:
    bare = project.write("bare.yml", "name: bare\ntype: azure_data_lake_gen2\n")
    result = cli("datastore", "create", "-f", bare)
    assert (result.code, result.err.splitlines()) == (
        4,
        [f"ERROR: {bare}: account_name: is required", f"  {bare}: filesystem: is required"],
    )
    share = project.write("share.yml", "name: share\ntype: azure_file\n")
    result = cli("datastore", "create", "-f", share)
    assert (result.code, result.err) == (
        4,
        f"ERROR: {share}:2: type: azure_file datastores are not supported (batchml reads "
        "azure_blob and azure_data_lake_gen2)\n",
    )
    unknown = project.write("unknown.yml", BLOB_YML.replace("type: azure_blob", "type: s3"))
    result = cli("datastore", "create", "-f", unknown)
    assert (result.code, result.err) == (
        4,
        f'ERROR: {unknown}:3: type: must be azure_blob or azure_data_lake_gen2 (got "s3")\n',
    )
    assert not ws.exists()


def test_a_missing_datastore(cli: Cli, ws: Path) -> None:
    for command in (["show", "-n", "nope"], ["delete", "-n", "nope", "--yes"]):
        result = cli("datastore", *command)
        assert (result.code, result.out, result.err) == (
            3,
            "",
            f"ERROR: datastore 'nope' not found in workspace {ws}\n"
            "Hint: list them with: batchml datastore list\n",
        )


def test_the_default_datastore_is_neither_replaced_nor_deleted(
    cli: Cli, ws: Path, project: Project
) -> None:
    blob = project.write("blob.yml", BLOB_YML)
    result = cli("datastore", "create", "-f", blob, "-n", "workspaceblobstore")
    assert (result.code, result.out) == (5, "")
    assert result.err.splitlines()[0] == (
        "ERROR: 'workspaceblobstore' is the workspace's default datastore (its folder "
        f"{ws}/datastores/workspaceblobstore); it cannot be replaced"
    )
    result = cli("datastore", "delete", "-n", "workspaceblobstore", "--yes")
    assert (result.code, result.err) == (
        5,
        "ERROR: 'workspaceblobstore' is the default datastore; it cannot be deleted\n",
    )


def test_delete_forgets_the_record_and_its_secrets(cli: Cli, ws: Path, project: Project) -> None:
    cli.ok("datastore", "create", "-f", project.write("blob.yml", BLOB_YML))
    result = cli("datastore", "delete", "-n", "blob_example")
    assert (result.code, result.err) == (
        2,
        "ERROR: delete datastore 'blob_example': pass --yes to confirm (no terminal to ask on)\n",
    )
    assert cli("datastore", "delete", "-n", "blob_example", "--yes").code == 0
    assert sorted(p.name for p in (ws / "datastores").iterdir()) == ["workspaceblobstore"]
    assert list((ws / "secrets" / "datastores").iterdir()) == []
    assert cli("datastore", "show", "-n", "blob_example").code == 3


def test_a_job_input_in_storage_that_cannot_be_reached_makes_no_job(
    cli: Cli, ws: Path, deployed: Project
) -> None:
    unreachable = BLOB_YML + "protocol: http\naccount_url: http://127.0.0.1:1/mytestblobstore\n"
    cli.ok("datastore", "create", "-f", deployed.write("blob.yml", unreachable))
    uri = "azureml://datastores/blob_example/paths/data/"
    result = cli(
        "batch-endpoint", "invoke", "-n", "mnist-batch", "--input", uri, "-d", "mnist-torch"
    )
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"ERROR: {uri}: storage error: datastore 'blob_example' at "
        "http://127.0.0.1:1/mytestblobstore cannot be reached (connection refused)\n"
    )
    assert not (ws / "jobs").exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://nosuchaccount.blob.invalid/data/in",
        "wasbs://data@nosuchaccount.blob.invalid/in",
        "abfss://data@nosuchaccount.dfs.invalid/in",
    ],
)
def test_a_storage_url_of_an_account_that_cannot_be_reached_is_exit_3_with_a_hint(
    cli: Cli, ws: Path, deployed: Project, url: str
) -> None:
    # No datastore is registered for the account, so it is read anonymously; `.invalid`
    # never resolves (RFC 2606), so this needs no network.
    for command in (
        ["batch-endpoint", "invoke", "-n", "mnist-batch", "-d", "mnist-torch", "--input", url],
        ["data", "create", "-n", "remote", "-v", "1", "-p", url, "-t", "uri_folder"],
    ):
        result = cli(*command)
        assert (result.code, result.out) == (3, ""), result.err
        error, hint = result.err.splitlines()
        assert error == (
            f"ERROR: {url}: the storage account https://nosuchaccount.blob.invalid cannot be "
            "reached (name not resolved)"
        )
        assert hint == (
            "Hint: no datastore is registered for account 'nosuchaccount' and container 'data', "
            "so it was read anonymously: check the account's name, or register it with its "
            "credentials (account_key or sas_token): batchml datastore create -f <datastore.yml>"
        )
    assert not (ws / "jobs").exists()
    assert cli.ok("data", "list") == []


def test_a_mistaken_secret_is_not_repeated_in_the_error(
    cli: Cli, ws: Path, project: Project
) -> None:
    bad = project.write(
        "bad.yml", BLOB_YML.replace(f"account_key: {KEY}", "account_key: [4242424242]")
    )
    result = cli("datastore", "create", "-f", bad)
    assert (result.code, result.out) == (4, "")
    assert (
        result.err == f"ERROR: {bad}:8: credentials.account_key: must be a string (got <secret>)\n"
    )
