"""Invoking a batch endpoint: route to a deployment, plan the job from the deployment and the
invocation (`--input`, `-f inputs.yml`, `--set`), record it and start its detached runner. A
model deployment makes a batch scoring job; a pipeline deployment, a pipeline job."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core import invocation, refs
from batchml.core import spec as specs
from batchml.core.batch_job import BatchJob, DataInput, RemoteData, ScoreOutput, Scoring
from batchml.core.errors import ConflictError, UsageError
from batchml.core.invocation import Invocation
from batchml.core.job_record import JobStatus, display_name
from batchml.core.pipeline_job import PipelineJob
from batchml.core.resources import Compute, Deployment, PipelineDeployment
from batchml.core.run_settings import RunSettings
from batchml.services import (
    computes,
    data_paths,
    deployment_specs,
    deployments,
    endpoints,
    job_environments,
    storage_inputs,
)
from batchml.store import input_list, job_index
from batchml.store.job_files import (
    JOB_FILE,
    SNAPSHOT_DIR,
    document,
    job_dir,
)
from batchml.store.job_index import jobs
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso

if TYPE_CHECKING:
    from batchml.core.batch_job import Workers
    from batchml.core.job_environment import JobEnvironment
    from batchml.runner.detach import Ahead


@dataclass(frozen=True)
class InvokeOptions:
    endpoint: str
    deployment: str | None = None
    input: str | None = None
    input_type: str | None = None
    mini_batch_size: str | None = None  # a number of files, or a size bound ("10MB")
    instance_count: int | None = None
    output_path: str | None = None
    job_name: str | None = None
    experiment_name: str | None = None
    sets: tuple[str, ...] = ()
    invocation: Invocation = dataclasses.field(default_factory=Invocation)


def _route(workspace: Workspace, options: InvokeOptions) -> Deployment | PipelineDeployment:
    endpoint = endpoints.get(workspace, options.endpoint)
    name = options.deployment or endpoint.default_deployment
    if not name:
        existing = deployments.names(workspace, endpoint.name)
        if existing:
            hint = (
                f"give -d {existing[0]}, or set a default with: batchml batch-endpoint update "
                f"-n {endpoint.name} --set defaults.deployment_name={existing[0]}"
            )
        else:
            hint = (
                f"it has no deployments yet; create one with: batchml batch-deployment create "
                f"-f deployment.yml -e {endpoint.name} --set-default"
            )
        raise UsageError(
            f"batch endpoint '{endpoint.name}' has no default deployment and no -d/--deployment-name "
            "was given",
            hint=hint,
        )
    return deployments.get(workspace, endpoint.name, name)


def _settings(deployment: Deployment, options: InvokeOptions) -> RunSettings:
    """The deployment's run settings with this job's overrides, validated like the file."""
    if not options.sets and options.mini_batch_size is options.instance_count is None:
        # Validated when the deployment was made: jsonschema is only needed for overrides.
        return deployment_specs.run_settings(deployment.spec)
    flags = {
        "--set": bool(options.sets),
        "--mini-batch-size": options.mini_batch_size is not None,
        "--instance-count": options.instance_count is not None,
    }
    given = "/".join(flag for flag, on in flags.items() if on)
    spec = specs.Spec(
        data=copy.deepcopy(deployment.spec), source=f"invoke {given}", base_dir=Path.cwd()
    )
    for assignment in options.sets:
        key = assignment.partition("=")[0].split(".")[0]
        if key not in deployment_specs.SETTINGS:
            settable = [*deployment_specs.SETTINGS, "compute"]
            close = difflib.get_close_matches(key, settable, n=1)
            raise UsageError(
                f"--set {assignment}: {key} cannot be set per job"
                + (f"; did you mean {close[0]}?" if close else ""),
                hint=f"settable: {', '.join(settable)}",
            )
    specs.apply_sets(
        spec, options.sets, {key: f"settings.{key}" for key in deployment_specs.SETTINGS}
    )
    settings = spec.data.setdefault("settings", {})
    if options.mini_batch_size is not None:
        settings["mini_batch_size"] = options.mini_batch_size
    if options.instance_count is not None:
        settings["instance_count"] = options.instance_count
    return deployment_specs.run_settings(specs.validate(spec, deployment_specs.SCHEMAS["model"]))


def _compute(
    workspace: Workspace, deployment: Deployment, options: InvokeOptions
) -> tuple[InvokeOptions, Compute]:
    """The job's compute: the deployment's, or `--set compute=azureml:NAME`; the options are
    returned without that assignment."""
    name, sets = deployment.compute, []
    for assignment in options.sets:
        key, _, value = assignment.partition("=")
        if key.strip() == "compute":
            name = refs.parse_resource(value.strip())
        else:
            sets.append(assignment)
    return dataclasses.replace(options, sets=tuple(sets)), computes.require(workspace, name)


def _input(workspace: Workspace, options: InvokeOptions) -> DataInput:
    """Resolve the input to a local file or folder, or to data in storage, and check that it is
    there (one look, however many files it holds: the job's runner lists them)."""
    if not options.input:
        path, kind = invocation.model_input(options.invocation)
        options = dataclasses.replace(options, input=path, input_type=options.input_type or kind)
    if not options.input:
        raise UsageError(
            "--input is required: a local folder or file, azureml:data@latest, a datastore "
            "path azureml://datastores/<ds>/paths/<p>, or a storage URL"
        )
    value = options.input
    found, asset = data_paths.locate(
        workspace, value, Path.cwd(), "input", asset_what="data asset path"
    )
    kind = options.input_type or (asset.type if asset else None)
    if isinstance(found, RemoteData):
        if kind == "mltable":
            from batchml.runner import table_storage
            from batchml.store.remote import AZURE

            table = DataInput(type=kind, path=value, local="", remote=found)
            if found.protocol == AZURE:  # an http folder may have no index page
                storage_inputs.check(workspace, found, value, "uri_folder")
            table_storage.open_table(workspace, table)  # refused up front, as a local one
            return table
        kind = storage_inputs.check(workspace, found, value, kind)
        return DataInput(type=kind, path=value, local="", remote=found)
    kind = kind or ("uri_file" if found.is_file() else "uri_folder")
    data_paths.check_type(found, kind, f"--input {value}", folder_hint="pass --input-type uri_file")
    if kind == "mltable":
        from batchml.runner import tabular

        tabular.check_table(found)  # refused up front, not when the job runs
    if kind != "uri_file" and not input_list.holds_file(str(found)):
        # Here, not at the top: the runner's input planning is for the runner (forked from
        # this process, it imports it then, while its workers start).
        from batchml.runner.inputs import nothing_to_score

        raise nothing_to_score(found)
    return DataInput(type=kind, path=value, local=str(found))


def resolve_input(workspace: Workspace, value: str) -> DataInput:
    """The input a job would read for `--input value` (a file or folder, a data asset, a
    datastore path, a storage URL), checked to be there."""
    return _input(workspace, InvokeOptions(endpoint="", input=value))


def _output(
    workspace: Workspace, options: InvokeOptions, name: str, settings: RunSettings
) -> ScoreOutput:
    given = options.output_path or invocation.model_output_path(options.invocation)
    file_name = settings.output_file_name if settings.output_action == "append_row" else None
    shown, local, remote = data_paths.output_location(
        workspace, name, "score", given, Path.cwd(), "output path", file_name=file_name
    )
    if local.exists() and not local.is_dir():
        raise UsageError(f"--output-path {shown} is a file; give a folder")
    if file_name and (local / file_name).exists():
        raise ConflictError(
            f"the output file {local / file_name} already exists (Azure never overwrites it)",
            hint="use another --output-path, or --set output_file_name=OTHER.csv",
        )
    output = ScoreOutput(path=shown, local_dir=str(local), file_name=file_name, remote=remote)
    if file_name:
        _refuse_shared(workspace, output)
    return output


def _refuse_shared(workspace: Workspace, output: ScoreOutput) -> None:
    """Two jobs may not write one output file: a job that has not completed (running, or
    Failed or Canceled and so resumable) still owns its file."""
    file = output.file()
    for other in jobs(workspace, lambda line: line.output == file, lambda _unreadable: None):
        if (
            isinstance(other, BatchJob)
            and other.status != JobStatus.COMPLETED
            and other.output.file() == file
        ):
            raise ConflictError(
                f"job '{other.name}' ({other.status}) writes the output file {file}",
                hint="use another --output-path, or --set output_file_name=OTHER.csv",
            )
    # A pipeline job that uploads to the folder the file is in, too.
    found = job_index.writer(workspace, [file]) if output.remote and file else None
    if found is not None:
        raise ConflictError(
            f"job '{found[0].name}' ({found[0].status}) writes {found[1]}, where the output "
            f"file {file} would go",
            hint="use another --output-path",
        )


def scoring_code(deployment: Deployment) -> tuple[Path, str, bool]:
    """The code folder the workers of `deployment`'s jobs run and its scoring script, and
    whether a job copies it: a no-code MLflow deployment (the only kind without code) runs
    batchml's MLflow scorer, which is not copied."""
    if deployment.code is None or deployment.scoring_script is None:
        from batchml.mlflow import DRIVER_DIR, DRIVER_SCRIPT

        return Path(DRIVER_DIR), DRIVER_SCRIPT, False
    return Path(deployment.code), deployment.scoring_script, True


def _scoring(deployment: Deployment, txn: Transaction, folder: Path) -> Scoring:
    """What the workers run, from the job's own copy (in `folder`, hard links: cheap) of the
    deployment's code and model, so that the job runs one version of them for its whole life,
    resumes included, whatever happens to the deployment meanwhile."""
    code, script, copied = scoring_code(deployment)
    code_dir = str(txn.snapshot(code, folder / "code", link=True) if copied else code)
    model = txn.snapshot(Path(deployment.model.model_dir), folder / "model", link=True)
    return Scoring(
        code_dir=code_dir,
        scoring_script=script,
        model_dir=str(model),
        environment=deployment.environment,
        code_source=deployment.code_source if deployment.code is not None else None,
    )


def _invoke_pipeline(
    workspace: Workspace,
    deployment: PipelineDeployment,
    options: InvokeOptions,
    ahead: Ahead | None = None,
) -> PipelineJob:
    """Run the deployment's pipeline component as a pipeline job with the invocation's inputs."""
    # Here, not at the top: the invocations of model deployments need none of these modules.
    from batchml.runner.launch import start
    from batchml.services import pipeline_plan

    refused = {
        "--mini-batch-size": options.mini_batch_size,
        "--instance-count": options.instance_count,
        "--output-path": options.output_path,
        "--set " + " ".join(options.sets): options.sets or None,
    }
    for flag, value in refused.items():
        if value is not None:
            raise UsageError(
                f"{flag} is for model deployments; {deployment.name} is a pipeline deployment",
                hint="give its inputs and outputs in -f inputs.yml or --set inputs.NAME.path=...",
            )
    inputs = dict(options.invocation.inputs)
    if options.input:
        data = [
            n
            for n, p in (deployment.component.get("inputs") or {}).items()
            if p.get("type") not in ("string", "integer", "number", "boolean")
        ]
        if len(data) != 1:
            raise UsageError(
                f"--input needs a pipeline with exactly one data input; this one has "
                f"{', '.join(data) or 'none'}",
                hint="name them in -f inputs.yml or --set inputs.NAME.path=...",
            )
        inputs[data[0]] = {"path": options.input, "type": options.input_type}
    request = pipeline_plan.Request(
        inputs=inputs,
        outputs=options.invocation.outputs,
        name=options.job_name or pipeline_plan.new_name(),
        experiment_name=options.experiment_name or deployment.endpoint_name,
        settings=deployment.settings,
        compute=deployment.settings.get("default_compute"),
        endpoint=deployment.endpoint_name,
        deployment=deployment.name,
    )
    with workspace.transaction() as txn:
        parent, children = pipeline_plan.plan(workspace, deployment.component, request)
        pipeline_plan.record(workspace, txn, parent, children)
    return start(workspace, parent, ahead=ahead)


@dataclass(frozen=True)
class Prepared:
    """A model deployment's job as planned before anything is recorded: what `invoke` records
    and what `invoke --dry-run` shows."""

    deployment: Deployment
    options: InvokeOptions
    compute: Compute
    settings: RunSettings
    input: DataInput
    output: ScoreOutput
    backend: Workers
    environment: JobEnvironment


def route(
    workspace: Workspace, options: InvokeOptions
) -> tuple[InvokeOptions, Deployment | PipelineDeployment]:
    """The deployment the invocation runs on, and the options with the invocation's --set
    assignments taken into its inputs and outputs."""
    inputs, sets = invocation.with_sets(options.invocation, options.sets)
    options = dataclasses.replace(options, invocation=inputs, sets=sets)
    return options, _route(workspace, options)


def prepare(
    workspace: Workspace, options: InvokeOptions, deployment: Deployment, name: str
) -> Prepared:
    """Resolve and check everything a job `name` of a model deployment needs (options as
    `route` gave them). Writes nothing."""
    if options.job_name:  # a name batchml makes up is new
        _refuse_taken(workspace, options.job_name)
    options, compute = _compute(workspace, deployment, options)
    settings = _settings(deployment, options)
    job_input = _input(workspace, options)
    if job_input.remote is not None or settings.partition_keys:
        # Here, not at the top: a job of local files (most) needs none of the tabular planner.
        from batchml.runner import tabular

        tabular.check(job_input, settings, workspace)
    output = _output(workspace, options, name, settings)
    backend = computes.backend_record(
        compute, deployment.resource_properties, f"deployment {deployment.name}"
    )
    computes.check_backend(backend)
    environment = job_environments.for_deployment(workspace, deployment, settings.env_manager)
    return Prepared(deployment, options, compute, settings, job_input, output, backend, environment)


def _refuse_taken(workspace: Workspace, name: str) -> None:
    if job_dir(workspace, name).exists():
        raise ConflictError(f"job '{name}' already exists", hint="choose another --job-name")


def invoke(
    workspace: Workspace, options: InvokeOptions, ahead: Ahead | None = None
) -> BatchJob | PipelineJob:
    """Plan a job, record it, and start its detached runner (`ahead`'s, forked already, if
    given: see batchml.runner.detach.fork_ahead). Returns the job as recorded."""
    from batchml.runner.launch import start

    options, deployment = route(workspace, options)
    if isinstance(deployment, PipelineDeployment):
        return _invoke_pipeline(workspace, deployment, options, ahead)
    name = options.job_name or f"batchjob-{uuid.uuid4()}"
    prepared = prepare(workspace, options, deployment, name)
    folder = job_dir(workspace, name)
    with workspace.transaction() as txn:
        _refuse_taken(workspace, name)  # again: another invoke may have taken it meanwhile
        job = BatchJob(
            name=name,
            display_name=display_name(),
            experiment_name=prepared.options.experiment_name or deployment.endpoint_name,
            endpoint=deployment.endpoint_name,
            deployment=deployment.name,
            compute=prepared.compute.name,
            status=JobStatus.PREPARING,
            created_at=now_iso(),
            created_by=current_user(),
            input=prepared.input,
            output=prepared.output,
            settings=prepared.settings,
            scoring=_scoring(deployment, txn, folder / SNAPSHOT_DIR),
            backend=prepared.backend,
            runs_in=prepared.environment,
        )
        txn.write_json(folder / JOB_FILE, document(workspace, job))
        job_index.add(workspace, job)
    return start(workspace, job, ahead=ahead)
