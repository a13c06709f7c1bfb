"""The environment a job's workers (or a pipeline step's command) run in, as the job records it.

`invoke` decides it from the deployment's environment and the `env_manager` setting
(batchml.services.job_environments); the runner builds it, or finds it built, while the job is
Preparing (batchml.envs.cache) and records where it is. `job show` shows it.

manager is `uv` (a virtualenv built from `python` and `packages`) or `local` (batchml's own
interpreter, as before environments were built). `reason` says why a job runs in batchml's
interpreter when it does; `note`, which interpreter was used when the one asked for was not
found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UV = "uv"
LOCAL = "local"
ENV_MANAGERS = (UV, LOCAL)


@dataclass(frozen=True)
class JobEnvironment:
    """What a job asked for (manager, source, python, packages, reason) and, once the runner
    has it, what it got (key, path, python_executable, python_version, note, reused)."""

    manager: str = LOCAL
    source: str | None = None  # what it is built from: a conda file, an MLflow model's files
    python: str | None = None  # the interpreter asked for (`3.11`, `>=3.10`); None: batchml's
    packages: list[str] = field(default_factory=list)
    reason: str | None = None
    key: str | None = None
    path: str | None = None
    python_executable: str | None = None
    python_version: str | None = None
    note: str | None = None
    reused: bool | None = None

    def view(self) -> dict[str, Any]:
        """The `environment` block of `job show`: what is known, nothing empty."""
        shape: dict[str, Any] = {"manager": self.manager}
        for name in ("source", "python", "reason", "key", "path", "python_version", "note"):
            value = getattr(self, name)
            if value is not None:
                shape[name] = value
        if self.manager == UV:
            shape["packages"] = self.packages
        return shape
