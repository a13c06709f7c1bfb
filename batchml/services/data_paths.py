"""Where a job's data comes from and where its outputs go, for batch scoring jobs and pipeline
jobs alike.

A data input is a local file or folder (relative to the invocation's or YAML file's folder), a
datastore path (`azureml://datastores/<ds>/paths/<p>`), a storage URL (batchml.core.storage_urls),
a registered asset (`azureml:name@latest`, `azureml:name:version`) or a finished job's output
(`azureml://jobs/<job>/outputs/<name>`). An output with no path of its own goes to
`azureml/<job>/<output>/` in the default datastore; one in a registered datastore (Azure storage)
is assembled in the job's staging folder, then uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core import refs, storage_urls
from batchml.core.batch_job import BatchJob, RemoteData
from batchml.core.errors import ConflictError, NotFoundError, UsageError
from batchml.core.job_record import JobStatus
from batchml.services import assets, storage_inputs
from batchml.services.common import local_path
from batchml.store import job_files
from batchml.store.workspace import DEFAULT_DATASTORE, Workspace

if TYPE_CHECKING:
    from batchml.core.resources import Asset

# The input types whose path is a folder.
FOLDER_TYPES = ("uri_folder", "mltable", "mlflow_model")


def locate(
    workspace: Workspace,
    value: str,
    base_dir: Path,
    what: str,
    *,
    asset_kind: str = "data",
    asset_what: str | None = None,
) -> tuple[Path | RemoteData, Asset | None]:
    """The local file or folder, or the data in storage, that a data input's path names, and
    the asset it names, if any.

    `what` names the input in errors; `asset_what`, the path of the asset it names (default:
    `what`)."""
    if refs.parse_job_output(value) is not None:
        found_output = job_output(workspace, value)
        if isinstance(found_output, Path):
            return found_output, None
        value = found_output
    asset = None
    if refs.parse_asset(value) is not None:
        asset = assets.resolve(workspace, asset_kind, value)
        value, what = asset.path, asset_what or what
    found = storage_inputs.resolve(workspace, value)
    if found is not None:
        return found, asset
    return local_path(workspace, value, base_dir, what), asset


def check_type(local: Path, kind: str, label: str, *, folder_hint: str | None = None) -> None:
    """UsageError if a uri_file input is a folder, or a folder input is a file; `label` is the
    input as the error names it, `folder_hint` the hint for a file given as a folder type."""
    if kind == "uri_file" and not local.is_file():
        raise UsageError(f"{label} is a folder, but the input type is uri_file")
    if kind in FOLDER_TYPES and not local.is_dir():
        raise UsageError(f"{label} is a file, but the input type is {kind}", hint=folder_hint)


def output_location(
    workspace: Workspace,
    job: str,
    output: str,
    given: str | None,
    base_dir: Path,
    what: str,
    *,
    file_name: str | None = None,
) -> tuple[str, Path, str | None]:
    """Where an output goes: as shown, as a local folder, and the datastore URI it is uploaded
    to from there (None if it stays local). The path given is a local folder or a datastore
    path (one in Azure storage is assembled in the job's staging folder and checked now, see
    `remote_output`, `file_name` the file it must not hold yet), else the output goes to
    `azureml/<job>/<output>/` in the default datastore."""
    remote = remote_output(workspace, given, file_name) if given else None
    if given and remote:
        return given, job_files.job_dir(workspace, job) / job_files.STAGING_DIR / output, remote
    if given:
        return given, local_path(workspace, given, base_dir, what, must_exist=False), None
    relative = f"azureml/{job}/{output}"
    shown = f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{relative}/"
    return shown, workspace.datastore_dir(DEFAULT_DATASTORE) / relative, None


def job_output(workspace: Workspace, value: str) -> Path | str:
    """Where `azureml://jobs/<job>/outputs/<name>` is: the local folder of a Completed job's
    output, or the datastore URI of one uploaded to a registered datastore."""
    ref = refs.parse_job_output(value)
    if ref is None:
        raise UsageError(f"{value} is not azureml://jobs/<job>/outputs/<name>")
    job = job_files.get(workspace, ref.job)
    if isinstance(job, BatchJob):
        outputs = {"score": (job.output.remote, job.output.local_dir)}
    else:
        outputs = {n: (r.get("remote"), r["local"]) for n, r in getattr(job, "outputs", {}).items()}
    if ref.output not in outputs:
        raise NotFoundError(
            f"job '{ref.job}' has no output {ref.output}",
            hint=f"its outputs: {', '.join(outputs) or 'none'}",
        )
    if job.status != JobStatus.COMPLETED:
        raise ConflictError(
            f"{value}: job '{ref.job}' is {job.status}; only a Completed job's output is an input",
            hint=f"wait for it (batchml job stream -n {ref.job}) or resume it",
        )
    uploaded, local = outputs[ref.output]
    return uploaded or Path(local)


def remote_output(workspace: Workspace, given: str, file_name: str | None) -> str | None:
    """The datastore URI (short form) of an output in a registered datastore, checked before
    any job is made: the datastore takes its credentials, has its container, and holds no
    `file_name` there yet. None for a local output (a folder, or a workspaceblobstore path).
    A storage URL (https, wasbs, abfss) is an output in the registered datastore on its
    account and container; one that no datastore is on is refused (its credentials are not
    known, and writing needs them)."""
    where = refs.parse_datastore(given) or _datastore_url(workspace, given)
    if where is None or not workspace.datastore_file(where.datastore).is_file():
        return None
    if ".." in where.path.split("/"):
        raise UsageError(f"output path '{given}' leaves the datastore '{where.datastore}'")
    from batchml.store import remote  # not on the path of a local job's invoke

    datastore = remote.read_datastore(workspace, where.datastore)
    secrets = remote.read_secrets(workspace, where.datastore)
    target = refs.DatastorePath(where.datastore, where.path.strip("/"))
    blob = f"{target.path}/{file_name}".lstrip("/") if file_name else None
    if remote.probe(datastore, secrets, blob):
        raise ConflictError(
            f"the output file {target}/{file_name} already exists (Azure never overwrites it)",
            hint="use another --output-path, or --set output_file_name=OTHER.csv",
        )
    return str(target)


def _datastore_url(workspace: Workspace, given: str) -> refs.DatastorePath | None:
    """The datastore path of output URL `given` (None if it is not a storage URL)."""
    url = storage_urls.parse(given)
    if url is None or url.kind == storage_urls.DATASTORE:
        return None
    found = storage_inputs.in_datastore(workspace, url)
    if found is None:
        raise NotFoundError(
            f"output path {given}: no registered datastore is on that storage, so batchml has "
            "no credentials to write there",
            hint="register one on its account and container (batchml datastore create), or "
            "write to azureml://datastores/<datastore>/paths/<path>",
        )
    return refs.DatastorePath(found[0].name, found[1])
