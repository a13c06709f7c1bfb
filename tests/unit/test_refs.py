"""Reference syntax: azureml:name:version, name@latest, computes, ARM ids, datastore URIs."""

from __future__ import annotations

import pytest

from batchml.core import refs
from batchml.core.refs import AssetRef, DatastorePath, JobOutput

ARM = (
    "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
    "workspaces/ws"
)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("azureml:mnist:1", AssetRef("mnist", version="1")),
        ("azureml:mnist:2024.1", AssetRef("mnist", version="2024.1")),
        ("azureml:mnist@latest", AssetRef("mnist", label="latest")),
        ("azureml:mnist", AssetRef("mnist")),
        (f"azureml:{ARM}/models/mnist/versions/3", AssetRef("mnist", version="3")),
        (f"azureml:{ARM}/data/digits/versions/7", AssetRef("digits", version="7")),
        ("azureml://datastores/workspaceblobstore/paths/x", None),
        ("azureml://registries/azureml/models/m/versions/1", None),
        ("mnist:1", None),
        ("./model", None),
    ],
)
def test_parse_asset(value: str, parsed: AssetRef | None) -> None:
    assert refs.parse_asset(value) == parsed


def test_asset_ref_text() -> None:
    assert str(AssetRef("mnist", version="1")) == "azureml:mnist:1"
    assert str(AssetRef("mnist", label="latest")) == "azureml:mnist@latest"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("azureml:cpu-cluster", "cpu-cluster"),
        ("cpu-cluster", "cpu-cluster"),
        (f"azureml:{ARM}/computes/gpu-cluster", "gpu-cluster"),
        (f"{ARM}/computes/gpu-cluster", "gpu-cluster"),
        (f"{ARM}/batchEndpoints/mnist-batch", "mnist-batch"),
    ],
)
def test_parse_resource(value: str, name: str) -> None:
    assert refs.parse_resource(value) == name


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (
            "azureml://datastores/workspaceblobstore/paths/data/in",
            DatastorePath("workspaceblobstore", "data/in"),
        ),
        ("azureml://datastores/other/paths/a.csv", DatastorePath("other", "a.csv")),
        ("azureml://datastores/other/paths/", DatastorePath("other", "")),
        ("azureml://datastores/other", None),
        ("azureml:data:1", None),
        ("data/in", None),
        (
            "azureml://subscriptions/s1/resourcegroups/rg/workspaces/ws/datastores/blob/paths/o",
            DatastorePath("blob", "o"),
        ),
        (
            "azureml://subscriptions/s1/resourceGroups/rg/providers/"
            "Microsoft.MachineLearningServices/workspaces/ws/datastores/blob/paths/o/p",
            DatastorePath("blob", "o/p"),
        ),
        ("azureml://subscriptions/s1/datastores/blob/paths/o", None),
    ],
)
def test_parse_datastore(value: str, parsed: DatastorePath | None) -> None:
    assert refs.parse_datastore(value) == parsed


@pytest.mark.parametrize(
    ("value", "remote"),
    [
        ("https://host/x", True),
        ("http://host/x", True),
        ("wasbs://c@acct.blob.core.windows.net/x", True),
        ("abfss://c@acct.dfs.core.windows.net/x", True),
        ("adl://acct.azuredatalakestore.net/x", True),
        ("s3://bucket/x", True),
        ("gs://bucket/x", True),
        ("azureml://datastores/ds/paths/x", False),
        ("./local", False),
        ("/abs/local", False),
    ],
)
def test_is_remote_uri(value: str, remote: bool) -> None:
    assert refs.is_remote_uri(value) is remote


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("azureml://jobs/batchjob-1/outputs/score", JobOutput("batchjob-1", "score")),
        ("azureml://jobs/j/outputs/scores/", JobOutput("j", "scores")),
        ("azureml://jobs/j/outputs/score/paths/a.csv", None),
        ("azureml://jobs/j", None),
        ("azureml://datastores/ds/paths/x", None),
    ],
)
def test_parse_job_output(value: str, parsed: JobOutput | None) -> None:
    assert refs.parse_job_output(value) == parsed


def test_reference_kinds() -> None:
    assert refs.is_reference("azureml:m:1")
    assert not refs.is_reference("m:1")
    assert refs.is_registry("azureml://registries/azureml/models/m/versions/1")
    assert not refs.is_registry("azureml://datastores/ds/paths/x")
