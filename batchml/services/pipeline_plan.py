"""Pipeline jobs: planned from a resolved pipeline component and the job's inputs and outputs,
recorded as a parent job and one child job per step, and started.

Planning decides everything before any job exists: each parent input's value (given, default,
or absent if optional), every data path, every output folder and each step's command line. A
missing required input, a value that does not fit its type, or a path that does not exist is
refused with the input's name.
"""

from __future__ import annotations

import dataclasses
import difflib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchml.core import command_line, pipeline, refs
from batchml.core import spec as specs
from batchml.core.batch_job import RemoteData
from batchml.core.errors import ConflictError, InvalidSpecError, NotFoundError, UsageError
from batchml.core.job_environment import LOCAL
from batchml.core.job_record import JobStatus, display_name
from batchml.core.pipeline_job import PipelineJob, StepJob
from batchml.services import (
    components,
    computes,
    data_paths,
    environments,
    job_environments,
    storage_inputs,
)
from batchml.services.common import as_strings
from batchml.store import job_index
from batchml.store.job_files import FETCHED_DIR, JOB_FILE, SNAPSHOT_DIR, document, job_dir
from batchml.store.transaction import Transaction
from batchml.store.workspace import Workspace, current_user, now_iso


@dataclass(frozen=True)
class Request:
    """What a pipeline job is asked to run, besides its component."""

    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)  # anchors relative paths
    name: str | None = None
    display_name: str | None = None
    experiment_name: str | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    compute: str | None = None
    endpoint: str | None = None
    deployment: str | None = None


class _Planner:
    def __init__(self, workspace: Workspace, component: dict[str, Any], request: Request) -> None:
        self.workspace = workspace
        self.component = component
        self.request = request

    # -- values -----------------------------------------------------------------------------
    def data(self, job: str, name: str, port: dict[str, Any], value: Any) -> dict[str, Any]:
        """A data input's record: its type, the path as given, and the local path; for data in
        storage, checked to be there, also where it is (`remote`), to be fetched to the local
        path in job `job`'s folder before a step reads it."""
        raw = value if isinstance(value, dict) else {"path": value}
        path = raw.get("path")
        if path is None:
            raise UsageError(
                f"input {name} has no path",
                hint=f"give one with --set inputs.{name}.path=PATH (or in the inputs file)",
            )
        path = str(path)
        kind = raw.get("type") or port.get("type", "uri_folder")
        what = f"input {name}"
        asset_kind = "model" if kind in pipeline.MODEL_TYPES else "data"
        local, _ = data_paths.locate(
            self.workspace, path, self.request.base_dir, what, asset_kind=asset_kind
        )
        record: dict[str, Any]
        if isinstance(local, RemoteData):
            kind = storage_inputs.check(self.workspace, local, path, kind)
            fetched = job_dir(self.workspace, job) / FETCHED_DIR / name
            if kind == "uri_file":
                fetched = fetched / local.root.rstrip("/").rsplit("/", 1)[-1]
            record = {"type": kind, "path": path, "local": str(fetched)}
            record["remote"] = dataclasses.asdict(local)
        else:
            data_paths.check_type(local, kind, f"{what}: {path}")
            record = {"type": kind, "path": path, "local": str(local)}
        return {**record, "mode": raw["mode"]} if raw.get("mode") else record

    def parent_inputs(self, job: str) -> dict[str, Any]:
        declared = self.component.get("inputs") or {}
        _refuse_unknown("input", set(self.request.inputs), declared)
        records = {}
        for name, port in declared.items():
            value = self.request.inputs.get(name)
            if port.get("type") in pipeline.LITERAL_TYPES:
                given = _literal(name, port, value)
                given = port.get("default") if given is None else given
                if given is not None:
                    checked = pipeline.check_literal(name, port, given)
                    records[name] = {"type": port["type"], "value": checked}
            elif value is not None:
                records[name] = self.data(job, name, port, value)
            if name not in records and not port.get("optional"):
                raise UsageError(
                    f"input {name} is required and was not given",
                    hint=f"give it in inputs.yml, or with --set inputs.{name}.path=...",
                )
        return records

    def output(self, job: str, name: str, port: dict[str, Any], given: Any) -> dict[str, Any]:
        """An output's record: where it goes (given, or azureml/<job>/<output>/ in the default
        datastore), created empty by the step that writes it; for a registered datastore's
        path, also the datastore URI it is uploaded to once the pipeline completed (`remote`)."""
        raw = given if isinstance(given, dict) else {}
        kind = raw.get("type") or port.get("type", "uri_folder")
        mode = raw.get("mode") or port.get("mode", "rw_mount")
        path = str(raw["path"]) if raw.get("path") else None
        shown, local, remote = data_paths.output_location(
            self.workspace, job, name, path, self.request.base_dir, f"output {name}"
        )
        if path and local.exists() and (not local.is_dir() or any(local.iterdir())):
            raise ConflictError(
                f"output {name}: {local} already exists and is not an empty folder",
                hint="give another path",
            )
        record = {"type": kind, "mode": mode, "path": shown, "local": str(local)}
        return {**record, "remote": remote} if remote else record

    # -- the job -----------------------------------------------------------------------------
    def plan(self) -> tuple[PipelineJob, list[StepJob]]:
        request = self.request
        name = request.name or display_name()
        parent_inputs = self.parent_inputs(name)
        declared_outputs = self.component.get("outputs") or {}
        _refuse_unknown("output", set(request.outputs), declared_outputs)
        parent_outputs = {
            output: self.output(name, output, port or {}, request.outputs.get(output))
            for output, port in declared_outputs.items()
        }
        jobs = self.component["jobs"]
        experiment = request.experiment_name or request.endpoint or self.component.get("name")
        common: dict[str, Any] = {
            "experiment_name": experiment or "Default",
            "status": JobStatus.NOT_STARTED,
            "created_at": now_iso(),
            "created_by": current_user(),
            "compute": request.compute,
        }
        steps: dict[str, str] = {}
        children: dict[str, StepJob] = {}
        for step in pipeline.order(jobs):
            child = f"{name}-{step}"
            steps[step] = child
            children[step] = self.step(
                step, child, name, parent_inputs, parent_outputs, children, common
            )
        warnings = [
            f"step {step}: {warning}"
            for step, child in children.items()
            if child.runs_in.manager == LOCAL
            for warning in _environment_warnings(self.workspace, child.component)
        ]
        parent = PipelineJob(
            name=name,
            display_name=request.display_name or display_name(),
            component=self.component,
            inputs=parent_inputs,
            outputs=parent_outputs,
            steps=steps,
            settings=request.settings,
            endpoint=request.endpoint,
            deployment=request.deployment,
            description=request.description,
            tags=request.tags,
            warnings=warnings,
            **common,
        )
        return parent, list(children.values())

    def step(
        self,
        step: str,
        child: str,
        parent: str,
        parent_inputs: dict[str, Any],
        parent_outputs: dict[str, Any],
        done: dict[str, StepJob],
        common: dict[str, Any],
    ) -> StepJob:
        job = self.component["jobs"][step]
        component = job["component"]
        ports = component.get("inputs") or {}
        inputs: dict[str, Any] = {}
        for name, value in (job.get("inputs") or {}).items():
            binding = pipeline.input_binding(value)
            if isinstance(binding, pipeline.ParentInput):
                if binding.name in parent_inputs:
                    inputs[name] = parent_inputs[binding.name]
            elif isinstance(binding, pipeline.StepOutput):
                inputs[name] = _as_input(done[binding.step].outputs[binding.output])
            elif isinstance(binding, pipeline.Literal):
                inputs[name] = {"type": ports[name].get("type", "string"), "value": binding.value}
            else:
                inputs[name] = self.data(child, f"{step}.{name}", ports[name], value)
        for name, port in ports.items():
            if name in inputs and "value" in inputs[name]:
                checked = pipeline.check_literal(f"{step}.{name}", port, inputs[name]["value"])
                inputs[name] = {**inputs[name], "value": checked}
            elif name not in inputs and port.get("default") is not None:
                inputs[name] = {"type": port.get("type", "string"), "value": port["default"]}
            if name not in inputs and not port.get("optional"):
                raise UsageError(
                    f"step {step}: its input {name} is required, and the pipeline input it is "
                    "bound to was not given"
                )
        outputs: dict[str, Any] = {}
        for name, port in (component.get("outputs") or {}).items():
            bound = (job.get("outputs") or {}).get(name)
            target = pipeline.output_binding(bound)
            if isinstance(target, pipeline.ParentOutput):
                outputs[name] = parent_outputs[target.name]
            else:
                outputs[name] = self.output(child, name, port or {}, bound)
        command = command_line.render(
            component["command"],
            {n: r.get("value", r.get("local")) for n, r in inputs.items()},
            {n: r["local"] for n, r in outputs.items()},
        )
        return StepJob(
            name=child,
            display_name=step,
            parent_job_name=parent,
            component=component,
            inputs=inputs,
            outputs=outputs,
            command=command,
            depends_on=pipeline.dependencies(job),
            # The step's own environment variables over its component's.
            environment_variables={
                **(component.get("environment_variables") or {}),
                **as_strings(job.get("environment_variables")),
            },
            runs_in=job_environments.for_component(
                self.workspace,
                component.get("environment"),
                self.request.settings.get("env_manager"),
            ),
            **common,
        )


def _environment_warnings(workspace: Workspace, component: dict[str, Any]) -> list[str]:
    """The pip packages a step's environment declares that differ from what is installed here,
    for a step that runs in batchml's interpreter."""
    from batchml.envs import packages  # importlib.metadata: only when a job is planned

    environment = component.get("environment")
    if isinstance(environment, str):
        registered = environments.registered(workspace, environment)
        conda = registered.conda_path if registered else None
        environment = {"conda_file": conda} if conda else None
    return packages.mismatches(packages.pip_requirements(environment))


def _literal(name: str, port: dict[str, Any], value: Any) -> Any:
    """The value given for a literal input: as it is, or a mapping's `value` or `default` (as
    Azure's invocation files write them). A path for it is refused."""
    if not isinstance(value, dict):
        return value
    if "path" in value or value.get("type", port["type"]) not in pipeline.LITERAL_TYPES:
        raise UsageError(
            f"input {name} is a {port['type']} input; give it a value, not a path",
            hint=f"inputs.{name}: VALUE in inputs.yml, or --set inputs.{name}=VALUE",
        )
    return value.get("value", value.get("default"))


def _refuse_unknown(kind: str, given: set[str], declared: dict[str, Any]) -> None:
    """UsageError for names the pipeline does not declare, with the closest one it does."""
    unknown = sorted(given - set(declared))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], list(declared), n=1)
    raise UsageError(
        f"the pipeline has no {kind} {', '.join(unknown)}"
        + (f"; did you mean {close[0]}?" if close else ""),
        hint=f"its {kind}s: {', '.join(declared) or 'none'}",
    )


def _as_input(output: dict[str, Any]) -> dict[str, Any]:
    return {"type": output["type"], "path": output["path"], "local": output["local"]}


def plan(
    workspace: Workspace, component: dict[str, Any], request: Request
) -> tuple[PipelineJob, list[StepJob]]:
    """The parent job and its steps, or an error naming what is wrong; nothing is written."""
    return _Planner(workspace, component, request).plan()


def record(
    workspace: Workspace, txn: Transaction, parent: PipelineJob, children: list[StepJob]
) -> None:
    """Write the records of a planned pipeline job and its steps, in the caller's transaction
    (whose lock makes the check that no other job writes its outputs hold until then)."""
    jobs: list[PipelineJob | StepJob] = [parent, *children]
    _refuse_shared_uploads(workspace, jobs)
    for job in jobs:
        folder = job_dir(workspace, job.name)
        if (folder / JOB_FILE).exists():
            raise ConflictError(f"job '{job.name}' already exists", hint="choose another name")
        if isinstance(job, StepJob) and job.component.get("code"):
            # The step's own copy of its code (hard links), so that it runs the code the job
            # was created with, whatever happens to the deployment or component meanwhile.
            code = txn.snapshot(Path(job.component["code"]), folder / SNAPSHOT_DIR, link=True)
            job = dataclasses.replace(job, component={**job.component, "code": str(code)})
        txn.write_json(folder / JOB_FILE, document(workspace, job))
        job_index.add(workspace, job)


def _refuse_shared_uploads(workspace: Workspace, jobs: list[PipelineJob | StepJob]) -> None:
    """Two jobs may not write one datastore path, nor one inside the other: the later upload
    would replace (or mix with) the earlier one's files."""
    paths = [path for job in jobs for path in job_index.uploaded_outputs(job)]
    found = job_index.writer(workspace, paths) if paths else None
    if found is not None:
        other, path = found
        raise ConflictError(
            f"job '{other.name}' ({other.status}) writes {path}, where this job's outputs would go",
            hint="give the output another path in the datastore",
        )


def new_name() -> str:
    """A pipeline-deployment job's name, as Azure gives them: pipelinejob-<guid>."""
    return f"pipelinejob-{uuid.uuid4()}"


# -- `job create -f pipeline-job.yml` ----------------------------------------------------------
JOB_SCHEMA = "pipelineJob.schema.json"


def _compute(workspace: Workspace, spec: specs.Spec, value: str | None, top: bool) -> str | None:
    """The job's compute (`compute:`, else `settings.default_compute`), which must exist."""
    if value is None:
        return None
    try:
        return computes.require(workspace, refs.parse_resource(value)).name
    except NotFoundError as exc:
        field = ["compute"] if top else ["settings", "default_compute"]
        raise InvalidSpecError([specs.problem(spec, field, exc.message)], hint=exc.hint) from None


def _declared(value: Any) -> dict[str, Any]:
    """The input a pipeline job's inline `jobs` get for a value the job gives."""
    if isinstance(value, dict):
        kind = value.get("type", "uri_folder")
        if kind in pipeline.LITERAL_TYPES:
            return {"type": kind, "optional": True}
        return {"type": kind, "optional": "path" not in value}
    kinds = {bool: "boolean", int: "integer", float: "number"}
    return {"type": kinds.get(type(value), "string"), "optional": True}


def create(workspace: Workspace, spec: specs.Spec, name: str | None) -> PipelineJob:
    """Run a pipeline job from its YAML: `component:` (a file, an inline pipeline component or
    a registered one), or `jobs:` wired to the job's own inputs and outputs."""
    from batchml.runner.launch import start

    kind = spec.data.get("type", "pipeline")
    if kind != "pipeline":
        raise UsageError(
            f"{specs.location(spec, ['type'])}: type: batchml runs pipeline jobs; a {kind} job "
            "is not supported",
            hint="put the command in a pipeline: type: pipeline with jobs: {STEP: {type: "
            "command, component: {command: ..., environment: ...}}}",
        )
    data = specs.validate(spec, JOB_SCHEMA)
    name = name or data.get("name") or display_name()
    settings = dict(data.get("settings") or {})
    compute = data.get("compute") or settings.get("default_compute")
    request = Request(
        inputs=data.get("inputs") or {},
        outputs={k: v for k, v in (data.get("outputs") or {}).items() if v is not None},
        base_dir=spec.base_dir,
        name=name,
        display_name=data.get("display_name"),
        experiment_name=data.get("experiment_name") or spec.base_dir.name,
        description=data.get("description", ""),
        tags=as_strings(data.get("tags")),
        settings=settings,
        compute=_compute(workspace, spec, compute, "compute" in data),
    )
    if "component" in data:
        value, field = data["component"], ["component"]
    else:
        value = {
            "type": "pipeline",
            "inputs": {k: _declared(v) for k, v in request.inputs.items()},
            "outputs": {k: {"type": "uri_folder"} for k in data.get("outputs") or {}},
            "jobs": data["jobs"],
        }
        field = []
    with workspace.transaction() as txn:
        if (job_dir(workspace, name) / JOB_FILE).exists():
            raise ConflictError(f"job '{name}' already exists", hint="choose another -n/--name")
        dest = job_dir(workspace, name) / "component"
        component, _ = components.resolve(workspace, txn, value, spec, field, dest)
        parent, children = plan(workspace, component, request)
        record(workspace, txn, parent, children)
    return start(workspace, parent)
