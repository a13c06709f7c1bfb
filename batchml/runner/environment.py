"""A job's environment made ready while the job is Preparing, as Azure builds a deployment's
image: built into the per-user cache with uv (batchml.envs.cache), or found there, its uv
output in the job's build log and its locked package list beside the job's logs.

What it gives back is the job's record of it (batchml.core.job_environment), with the
interpreter the workers run with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from batchml.core.job_environment import UV, JobEnvironment

if TYPE_CHECKING:
    from collections.abc import Callable

    from batchml.envs.cache import BuiltEnvironment

# In the job's azureml-logs/, named as Azure names the log of a run's image build.
BUILD_LOG = "20_image_build_log.txt"
# The environment's `uv pip freeze`, as the job ran with it.
PACKAGES_LOG = "20_image_build_packages.txt"


def prepare(
    environment: JobEnvironment, logs_dir: Path, say: Callable[[str], None]
) -> JobEnvironment:
    """`environment` built or found built (when its manager is uv), with where it is; as it is
    otherwise, its reason said. Raises BatchmlError naming what failed and the build log."""
    if environment.manager != UV:
        if environment.reason:
            say(f"environment: {environment.reason}")
        return environment
    # Here, not at the top: most jobs' runners never build one, and start their workers sooner.
    from batchml.envs import cache
    from batchml.envs.requirements import Requirements

    requirements = Requirements(environment.python, tuple(environment.packages))
    if environment.source:
        say(f"environment from {environment.source}")
    # Held while the runner lives, so that `environment prune` leaves it alone meanwhile.
    built = cache.ensure(requirements, log=say, build_log=logs_dir / BUILD_LOG, hold=True)
    (logs_dir / PACKAGES_LOG).write_text("".join(f"{line}\n" for line in built.packages()))
    return _recorded(environment, built)


def found(environment: JobEnvironment) -> JobEnvironment | None:
    """`environment` as `prepare` would give it, without building or touching anything (for
    a plan); None if it would have to be built."""
    if environment.manager != UV:
        return environment
    from batchml.envs import cache
    from batchml.envs.requirements import Requirements

    built = cache.find(Requirements(environment.python, tuple(environment.packages)))
    return _recorded(environment, built) if built is not None else None


def _recorded(environment: JobEnvironment, built: BuiltEnvironment) -> JobEnvironment:
    """The job's record of `environment`, built as `built`."""
    return dataclasses.replace(
        environment,
        key=built.key,
        path=str(built.path),
        python_executable=str(built.python),
        python_version=built.python_version,
        note=built.note,
        reused=built.reused,
    )
