"""For a job that runs in batchml's own interpreter (env_manager local): the pip packages its
environment declares that are missing here or at another version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Packages of Azure's own runtime: needed on Azure, never by batchml.
AZURE_RUNTIME_PREFIXES = ("azureml-", "azureml_", "azure-ai-ml", "inference-schema")


def pip_requirements(environment: Any) -> list[str]:
    """The pip requirement strings of an inline environment's conda file, if it has one."""
    if not isinstance(environment, dict):
        return []
    conda = environment.get("conda_file")
    if isinstance(conda, str):
        import yaml

        try:
            conda = yaml.safe_load(Path(conda).read_text())
        except (OSError, yaml.YAMLError):
            return []
    if not isinstance(conda, dict):
        return []
    found: list[str] = []
    for dependency in conda.get("dependencies") or []:
        if isinstance(dependency, dict) and isinstance(dependency.get("pip"), list):
            found.extend(str(item) for item in dependency["pip"])
    return found


def mismatches(requirements: list[str]) -> list[str]:
    """One warning per declared pip package that is missing here or at another version."""
    if not requirements:
        return []  # without importing packaging and importlib.metadata: a job's runner waits
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    warnings = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower().startswith(AZURE_RUNTIME_PREFIXES):
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            warnings.append(f"the environment declares {line}, which is not installed here")
            continue
        if requirement.specifier and not requirement.specifier.contains(
            installed, prereleases=True
        ):
            warnings.append(
                f"the environment declares {line}, but {requirement.name} {installed} is installed here"
            )
    return warnings
