"""Which environment a job runs in, decided when it is invoked: the requirements of the
deployment's environment (or a step's component environment, or a no-code MLflow model's own
files), or batchml's own interpreter when `env_manager` is `local` or there is nothing batchml
can build. The runner builds what this asks for (batchml.runner.environment).

`env_manager` comes from, first to last: `invoke --set env_manager=...`, the deployment's
settings, the workspace's default (`batchml workspace update --set env_manager=...`), the
BATCHML_ENV_MANAGER environment variable; else `uv`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from batchml.core.errors import UsageError
from batchml.core.job_environment import ENV_MANAGERS, LOCAL, UV, JobEnvironment
from batchml.core.resources import Deployment
from batchml.envs import requirements as reqs
from batchml.services import environments
from batchml.store.workspace import Workspace

VARIABLE = "BATCHML_ENV_MANAGER"
WORKSPACE_KEY = "env_manager"
_RUNS_HERE = "so it runs in batchml's own interpreter"


def manager(workspace: Workspace, asked: str | None) -> tuple[str, str]:
    """(the env_manager a job uses, where that came from) when its settings ask for `asked`."""
    if asked is not None:
        return asked, "the job's settings"
    configured = workspace.defaults().get(WORKSPACE_KEY)
    if configured:
        return str(configured), "the workspace's default"
    variable = os.environ.get(VARIABLE, "").strip()
    if variable:
        if variable not in ENV_MANAGERS:
            raise UsageError(
                f"{VARIABLE}={variable} is not an env_manager",
                hint=f"set it to one of {', '.join(ENV_MANAGERS)}, or unset it",
            )
        return variable, VARIABLE
    return UV, "the default"


def for_deployment(
    workspace: Workspace, deployment: Deployment, asked: str | None
) -> JobEnvironment:
    """The environment of a job of `deployment` whose settings ask for env_manager `asked`: a
    no-code MLflow deployment's is its model's own environment files (as on Azure); any
    other's, its declared environment."""
    local = _local(workspace, asked)
    if local is not None:
        return local
    if deployment.code is None or deployment.scoring_script is None:
        from batchml.mlflow.mlmodel import model_folder

        return _mlflow_model(model_folder(deployment.model.model_dir))
    return for_environment(workspace, deployment.environment)


def for_component(workspace: Workspace, environment: Any, asked: str | None) -> JobEnvironment:
    """The environment of a pipeline step whose component names `environment`."""
    return _local(workspace, asked) or for_environment(workspace, environment)


def _local(workspace: Workspace, asked: str | None) -> JobEnvironment | None:
    """batchml's own interpreter, saying why, when env_manager is local; else None."""
    chosen, origin = manager(workspace, asked)
    if chosen != LOCAL:
        return None
    return JobEnvironment(reason=f"env_manager is local ({origin}), {_RUNS_HERE}")


def for_environment(workspace: Workspace, environment: Any) -> JobEnvironment:
    """What a deployment's or a component's `environment` asks uv to build."""
    if environment is None:
        return JobEnvironment(reason=f"no environment is declared, {_RUNS_HERE}")
    if isinstance(environment, str):
        return _reference(workspace, environment)
    found = reqs.from_environment(environment) if isinstance(environment, dict) else None
    if found is None:
        return _image_only("the environment")
    conda = environment["conda_file"]
    return _built(found, conda if isinstance(conda, str) else "the inline conda_file")


def _reference(workspace: Workspace, value: str) -> JobEnvironment:
    """A string `environment:`: a registered one is built from its conda file; Azure's curated
    and registry environments are out of reach (no package set is known for them)."""
    registered = environments.registered(workspace, value)
    if registered is None:
        return JobEnvironment(
            reason=f"{value} is one of Azure's curated or registry environments, whose packages "
            f"batchml does not know, {_RUNS_HERE}"
        )
    found = environments.requirements_of(registered)
    if found is None:
        return _image_only(f"environment {value}")
    return _built(found, f"environment {value} ({registered.conda_path or 'inline conda_file'})")


def _mlflow_model(folder: Path) -> JobEnvironment:
    path = reqs.mlflow_environment_file(folder)
    found = reqs.from_mlflow_model(folder)
    if path is None or found is None:
        files = ", ".join(reqs.MLFLOW_FILES)
        return JobEnvironment(reason=f"the MLflow model {folder} has none of {files}, {_RUNS_HERE}")
    return _built(found, f"the MLflow model's {path}")


def _built(found: reqs.Requirements, source: str) -> JobEnvironment:
    return JobEnvironment(
        manager=UV, source=source, python=found.python, packages=list(found.packages)
    )


def _image_only(what: str) -> JobEnvironment:
    return JobEnvironment(
        reason=f"{what} names an image and no conda file, and batchml builds no images, "
        f"{_RUNS_HERE}"
    )
