"""`batchml batch-endpoint`: manage batch endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click
import typer

from batchml.cli import complete, tables
from batchml.cli.context import (
    ALL_RESULTS,
    COUNT,
    MAX_RESULTS,
    YES,
    AzCommand,
    app_of,
    command_group,
    confirm_or_fail,
    shown,
)
from batchml.cli.follow import STREAM_HELP, follow_started
from batchml.core.errors import ExitStatus, UsageError
from batchml.services import endpoints

if TYPE_CHECKING:
    from batchml.core.batch_job import BatchJob
    from batchml.core.pipeline_job import PipelineJob

app = command_group()

FILE = typer.Option(None, "-f", "--file", help="Local path to the YAML file (endpoint.yml).")
NAME = typer.Option(
    ..., "-n", "--name", help="Name of the batch endpoint.", autocompletion=complete.endpoints
)
SETS = typer.Option(
    [], "--set", help="Update a field of the YAML, e.g. --set description=demo tags.team=ml."
)
INPUT_HELP = "A local folder or file, azureml:data@latest, a datastore URI or a storage URL."
INPUT_TYPE = typer.Option(
    None,
    "--input-type",
    click_type=click.Choice(["uri_folder", "uri_file", "mltable"]),
    help="Type of --input (mltable: a folder with an MLTable file, scored in mini-batches of rows).",
)


@app.command("create", cls=AzCommand)
@shown("batchml batch-endpoint create --file endpoint.yml --name digits-ep", table=tables.endpoint)
def create(
    ctx: typer.Context,
    file: Path = typer.Option(
        ..., "-f", "--file", help="Local path to the YAML file (endpoint.yml)."
    ),
    name: str | None = typer.Option(
        None, "-n", "--name", help="Name of the endpoint; overrides the file's."
    ),
    sets: list[str] = SETS,
) -> dict[str, Any]:
    """Create a batch endpoint (an existing one of that name is overwritten)."""
    from batchml.core import spec as specs  # here, not at the top: show and list need none of it

    spec = specs.load_file(file)
    if name:
        spec.data["name"] = name
    specs.apply_sets(spec, sets)
    return endpoints.create(app_of(ctx).workspace, spec)


@app.command("update", cls=AzCommand)
@shown(
    "batchml batch-endpoint update -n digits-ep --set defaults.deployment_name=digits-svc",
    table=tables.endpoint,
)
def update(
    ctx: typer.Context, name: str = NAME, file: Path | None = FILE, sets: list[str] = SETS
) -> dict[str, Any]:
    """Update description, tags or the default deployment (--set defaults.deployment_name=DEP)."""
    from batchml.core import spec as specs

    return endpoints.update(app_of(ctx).workspace, name, specs.from_file_and_flags(file, {}), sets)


@app.command("show", cls=AzCommand)
@shown("batchml batch-endpoint show -n digits-ep -o table", table=tables.endpoint)
def show(ctx: typer.Context, name: str = NAME) -> dict[str, Any]:
    """Show a batch endpoint."""
    return endpoints.show(app_of(ctx).workspace, name)


@app.command("list", cls=AzCommand)
@shown("batchml batch-endpoint list -o table", table=tables.endpoint)
def list_(ctx: typer.Context) -> list[dict[str, Any]]:
    """List the batch endpoints of the workspace."""
    return endpoints.list_all(app_of(ctx).workspace)


@app.command("delete", cls=AzCommand)
@shown("batchml batch-endpoint delete -n digits-ep --yes")
def delete(
    ctx: typer.Context,
    name: str = NAME,
    yes: bool = YES,
) -> None:
    """Delete a batch endpoint and its deployments. Its jobs are kept."""
    confirm_or_fail(yes, f"delete batch endpoint '{name}' and its deployments")
    for warning in endpoints.delete(app_of(ctx).workspace, name):
        app_of(ctx).warn(warning)


@app.command("invoke", cls=AzCommand)
@shown(
    "batchml batch-endpoint invoke --name digits-ep --input data --query name -o tsv",
    "batchml batch-endpoint invoke -n digits-ep -d digits-svc --input azureml:digits-images@latest --stream",
    "batchml batch-endpoint invoke -n digits-ep --input data --set output_file_name=out.csv "
    "error_threshold=5 retry_settings.timeout=60",
    "batchml batch-endpoint invoke -n heart-ep --set inputs.input_data.type=uri_folder "
    "inputs.input_data.path=data",
    table=tables.endpoint_job,
)
def invoke(
    ctx: typer.Context,
    name: str = NAME,
    deployment: str | None = typer.Option(
        None,
        "-d",
        "--deployment-name",
        help="Deployment to run; default: the endpoint's default.",
        autocompletion=complete.invoked_deployments,
    ),
    input_: str | None = typer.Option(None, "--input", help=INPUT_HELP),
    input_type: str | None = INPUT_TYPE,
    file: Path | None = typer.Option(
        None, "-f", "--file", help="Invocation YAML with inputs: and outputs:."
    ),
    inputs: str | None = typer.Option(
        None,
        "--inputs",
        help='Inputs as JSON, e.g. \'{"data": {"type": "uri_folder", "path": "URL"}}\'.',
    ),
    mini_batch_size: str | None = typer.Option(
        None,
        "-m",
        "--mini-batch-size",
        help="Files per mini-batch, or a size bound for them such as 10MB, 512kb or 1gb.",
    ),
    instance_count: int | None = typer.Option(
        None, "-c", "--instance-count", click_type=COUNT, help="Instances to use."
    ),
    output_path: str | None = typer.Option(
        None, "--output-path", help="Folder or datastore URI for the score output."
    ),
    outputs: str | None = typer.Option(
        None,
        "--outputs",
        help='Outputs as JSON, as az takes them: {"score": {"type": "uri_folder", "path": URI}}, '
        "URI a local folder or a datastore URI.",
    ),
    job_name: str | None = typer.Option(
        None, "--job-name", help="Name of the job (default: generated)."
    ),
    experiment_name: str | None = typer.Option(
        None, "--experiment-name", help="Experiment (default: endpoint)."
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="KEY=VALUE pairs: a pipeline's inputs and outputs, e.g. inputs.NAME.path=P; a "
        "model deployment's job settings, e.g. error_threshold=5 (see Examples).",
    ),
    stream: bool = typer.Option(False, "--stream", help=STREAM_HELP),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Create no job: show its plan (files, bytes, mini-batches and their skew, workers).",
    ),
    sample: int | None = typer.Option(
        None,
        "--sample",
        click_type=COUNT,
        help="With --dry-run: run N mini-batches (spread over the plan) in the foreground to "
        "estimate the job's duration and rows.",
    ),
) -> dict[str, Any]:
    """Run a job on a deployment. Returns the job at once; it runs in the background.

    A model deployment scores one data input; a pipeline deployment runs its pipeline with the
    inputs its pipeline declares (-f inputs.yml, --set inputs.NAME..., or --input for its one
    data input).
    """
    # The job's runner first: it imports itself while the job is planned (see App.runner_ahead).
    ahead = None if dry_run else app_of(ctx).runner_ahead()
    if ahead is not None:
        ctx.call_on_close(ahead.close)
    from batchml.core import invocation
    from batchml.services import invocations
    from batchml.store.job_files import job_dir

    from_file = invocation.load(file) if file else invocation.Invocation()
    from_file = invocation.with_json(from_file, inputs=inputs, outputs=outputs)
    options = invocations.InvokeOptions(
        endpoint=name,
        deployment=deployment or from_file.deployment,
        input=input_,
        input_type=input_type,
        mini_batch_size=mini_batch_size,
        instance_count=instance_count,
        output_path=output_path,
        job_name=job_name,
        experiment_name=experiment_name,
        sets=tuple(sets),
        invocation=from_file,
    )
    workspace = app_of(ctx).workspace
    if sample is not None and not dry_run:
        raise UsageError("--sample goes with --dry-run", hint="add --dry-run")
    if dry_run:
        if stream:
            raise UsageError("--stream and --dry-run do not go together: a dry run starts no job")
        from batchml.services import debugging, job_plans

        how = debugging.Foreground(say=app_of(ctx).inform)
        return job_plans.dry_run(workspace, options, sample, how)
    job = invocations.invoke(workspace, options, ahead)
    folder = str(job_dir(workspace, job.name))
    if not stream:
        return job.batch_view(workspace.name, folder)
    # The job ends as the kind it started as.
    return follow_started(
        ctx,
        job.name,
        lambda ended: cast("BatchJob | PipelineJob", ended).batch_view(workspace.name, folder),
    )


@app.command("list-jobs", cls=AzCommand)
@shown("batchml batch-endpoint list-jobs -n digits-ep -o table", table=tables.endpoint_job)
def list_jobs(
    ctx: typer.Context,
    name: str = NAME,
    max_results: int = MAX_RESULTS,
    all_results: bool = ALL_RESULTS,
) -> Iterable[dict[str, Any]]:
    """List the jobs submitted to a batch endpoint, newest first."""
    from batchml.services import job_control

    workspace = app_of(ctx).workspace
    endpoints.get(workspace, name)
    limit = None if all_results else max_results
    return job_control.list_for(workspace, name, None, app_of(ctx).warn, limit)


@app.command("compare", cls=AzCommand)
@shown(
    "batchml batch-endpoint compare -n digits-ep --deployment digits-svc --deployment "
    "digits-legacy --input data --tolerance 0.01"
)
def compare(
    ctx: typer.Context,
    name: str = NAME,
    deployment: list[str] = typer.Option(
        ..., "--deployment", help="A deployment to run; give exactly two (A, then B)."
    ),
    input_: str = typer.Option(..., "--input", help=INPUT_HELP),
    input_type: str | None = INPUT_TYPE,
    key_field: int = typer.Option(
        1,
        "--key-field",
        help="Pair rows by this field (1-based, e.g. the file name a script writes first); "
        "0 pairs them by position.",
    ),
    tolerance: float = typer.Option(
        0.0,
        "--tolerance",
        help="How far numbers may differ and still agree (relative and absolute).",
    ),
    min_agreement: float = typer.Option(
        1.0,
        "--min-agreement",
        help="The share of rows that must agree (0 to 1); below it the command exits 1.",
    ),
    sets: list[str] = typer.Option(
        [], "--set", help="Per-job settings for both jobs, e.g. --set mini_batch_size=20."
    ),
) -> dict[str, Any]:
    """Run two deployments on the same input and report how far their outputs agree.

    Both jobs are ordinary jobs of the endpoint. Rows are paired by --key-field; the report
    counts identical rows, rows within --tolerance, rows that differ and rows only one side
    has, and names a diff file with the first differences. Exits 1 when the agreement is
    under --min-agreement, so that a Makefile can gate making B the default on it.
    """
    from batchml.services import comparison  # not on the start-up path of every command

    if len(deployment) != 2:
        raise UsageError("give --deployment exactly twice: A, then B")
    app = app_of(ctx)
    options = comparison.CompareOptions(
        endpoint=name,
        deployments=(deployment[0], deployment[1]),
        input=input_,
        input_type=input_type,
        key_field=key_field,
        tolerance=tolerance,
        min_agreement=min_agreement,
        sets=tuple(sets),
    )
    report = comparison.run(
        app.workspace,
        options,
        lambda names: app.inform(f"running jobs {' and '.join(names)}; waiting for both"),
    )
    if not report["passed"]:
        app.exit_status = ExitStatus.FAILED
    return report
