"""What an environment asks for, as uv can install it: an interpreter and PyPI requirements.

Azure builds a deployment's image from its conda file; batchml builds a virtualenv instead, so a
conda file is translated to PyPI terms (the rules below), and an MLflow model's own
`python_env.yaml` or `requirements.txt` is read into the same `Requirements`.

Conda translation:
- the `pip:` section is taken as it is;
- `python=3.x` (or `python>=3.x`...) picks the interpreter instead of being installed;
- `pip`, `setuptools` and `wheel` are the installer's own infrastructure and are dropped;
- conda's `=` versions become PyPI's: `numpy=1.26` -> `numpy==1.26.*`, `numpy=1.26.4` ->
  `numpy==1.26.4`; `>=`, `==`, `<`, `,` stay; a build string (`numpy=1.26.4=py311h_0`) is
  dropped; `conda-forge::numpy` loses its channel;
- a few packages are named differently on PyPI (PYPI_NAMES); the rest keep their conda name;
- a conda-only package (CONDA_ONLY) has no PyPI equivalent: refused, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchml.core import spec as specs
from batchml.core.errors import InvalidSpecError, Problem

# Conda packages that are the installer itself: a uv virtualenv needs none of them.
INFRASTRUCTURE = frozenset({"pip", "setuptools", "wheel"})

# Conda names whose PyPI project is named otherwise. Only renames known to hold; a conda name not
# listed is assumed to be its PyPI name too (true of most: numpy, pandas, scikit-learn...).
PYPI_NAMES = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-opencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "python-graphviz": "graphviz",
}

# Native libraries conda installs beside Python; PyPI wheels bundle their own, so there is
# nothing to install in their place and a build that silently skipped them could differ.
CONDA_ONLY = frozenset(
    {
        "cudatoolkit",
        "cudnn",
        "nccl",
        "mkl",
        "blas",
        "libblas",
        "liblapack",
        "libgcc",
        "libgcc-ng",
        "libstdcxx-ng",
        "libgfortran-ng",
        "_libgcc_mutex",
        "_openmp_mutex",
    }
)

# `[channel::]name[ version[ build]]`, or `name=version[=build]`, `name>=1,<2`...
_CONDA_SPEC = re.compile(r"^(?:[^:\s]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Requirements:
    """The interpreter (a uv request: `3.10`, `>=3.8`; None for batchml's own) and the PyPI
    requirement strings an environment needs, in the order declared."""

    python: str | None
    packages: tuple[str, ...]


def from_environment(environment: Mapping[str, Any]) -> Requirements | None:
    """The requirements of an inline environment record (`image`, `conda_file` as a path or a
    mapping); None when it declares no conda file (an image alone says nothing installable)."""
    conda = environment.get("conda_file")
    if isinstance(conda, str):
        return from_conda(specs.load_file(conda))
    if isinstance(conda, Mapping):
        return from_conda(specs.Spec(dict(conda), "environment.conda_file", Path.cwd()))
    return None


def from_conda(spec: specs.Spec) -> Requirements:
    """Translate a conda file (module docstring); every dependency that cannot be translated is
    a Problem of one InvalidSpecError, at its line when the spec has its YAML text."""
    dependencies = spec.data.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise InvalidSpecError([specs.problem(spec, ["dependencies"], "must be a list")])
    python: str | None = None
    packages: list[str] = []
    problems: list[Problem] = []
    for index, item in enumerate(dependencies):
        if _is_pip_section(item):
            packages.extend(item["pip"])
            continue
        try:
            if not isinstance(item, str):
                raise ValueError("must be a package spec or {pip: [requirement, ...]}")
            name, specifier = _translate(item)
        except ValueError as exc:
            problems.append(specs.problem(spec, ["dependencies", index], str(exc)))
            continue
        if name == "python":
            python = _python_request(specifier) if specifier else None
        elif name not in INFRASTRUCTURE:
            packages.append(name + specifier)
    if problems:
        raise InvalidSpecError(problems)
    return Requirements(python, tuple(packages))


def from_requirements_txt(path: Path) -> Requirements:
    """A pip requirements file (`-r` followed, comments and continuations as pip reads them)."""
    return Requirements(None, tuple(_requirement_lines(path)))


def from_python_env(path: Path) -> Requirements:
    """MLflow's `python_env.yaml`: `python`, then `build_dependencies` and `dependencies`
    installed together (a `-r requirements.txt` entry read from beside the file)."""
    spec = specs.load_file(path)
    version = spec.data.get("python")
    if version is not None and not isinstance(version, str):
        # `python: 3.10` is the float 3.1 to YAML.
        message = "must be a quoted version string, e.g. '3.10.12'"
        raise InvalidSpecError([specs.problem(spec, ["python"], message)])
    packages: list[str] = []
    for field in ("build_dependencies", "dependencies"):
        entries = spec.data.get(field) or []
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            message = "must be a list of requirement strings"
            raise InvalidSpecError([specs.problem(spec, [field], message)])
        for entry in entries:
            included = _included_file(entry)
            if included is None:
                packages.append(entry.strip())
            else:
                packages.extend(_requirement_lines(path.parent / included))
    return Requirements(_python_request(f"=={version}") if version else None, tuple(packages))


# An MLflow model's environment files, in the order MLflow's virtualenv manager prefers them.
MLFLOW_FILES = ("python_env.yaml", "requirements.txt", "conda.yaml")


def mlflow_environment_file(folder: Path) -> Path | None:
    """The file an MLflow model folder's environment is read from; None when it has none."""
    return next((folder / n for n in MLFLOW_FILES if (folder / n).is_file()), None)


def from_mlflow_model(folder: Path) -> Requirements | None:
    """An MLflow model folder's environment (see mlflow_environment_file); None if it has none."""
    path = mlflow_environment_file(folder)
    if path is None:
        return None
    if path.name == "python_env.yaml":
        return from_python_env(path)
    if path.name == "requirements.txt":
        return from_requirements_txt(path)
    return from_conda(specs.load_file(path))


# -- conda ------------------------------------------------------------------------------------


def _is_pip_section(item: Any) -> bool:
    return (
        isinstance(item, Mapping)
        and set(item) == {"pip"}
        and isinstance(item["pip"], list)
        and all(isinstance(line, str) for line in item["pip"])
    )


def _translate(spec: str) -> tuple[str, str]:
    """(PyPI name, PEP 440 specifier) of a conda match spec; ValueError says why not."""
    if "[" in spec:
        raise ValueError(f"{spec}: the [key=value] form of a conda spec has no PyPI equivalent")
    match = _CONDA_SPEC.match(spec.strip())
    if match is None:
        raise ValueError(f"{spec!r} is not a conda package spec")
    name = match["name"].lower()
    if name in CONDA_ONLY:
        raise ValueError(
            f"{spec}: {name} is a conda-only package with no PyPI equivalent (PyPI wheels bundle "
            "their native libraries); remove it from the conda file"
        )
    return PYPI_NAMES.get(name, name), _specifier(spec, match["rest"].strip())


def _specifier(spec: str, rest: str) -> str:
    """The PEP 440 form of a conda version constraint (`=1.26`, `1.26.4 py_0`, `>=1,<2`)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not rest:
        return ""
    token = re.sub(r"\s*,\s*", ",", rest).split()[0]  # a build string may follow a space
    fuzzy = token.startswith("=") and not token.startswith("==")
    # ...or an `=` right after the version: `=1.26.4=py311h_0`, `==1.26.4=py311h_0`.
    version = re.split(r"(?<=[0-9A-Za-z*])=", token[1:] if fuzzy else token, maxsplit=1)[0]
    if "|" in version:
        raise ValueError(f"{spec}: a conda 'or' (|) has no PyPI equivalent; pick one version")
    parts = [_part(part.strip(), fuzzy) for part in version.split(",")]
    result = ",".join(parts)
    try:
        SpecifierSet(result)
    except InvalidSpecifier:
        raise ValueError(f"{spec}: the version {version!r} has no PyPI equivalent") from None
    return result


def _part(constraint: str, fuzzy: bool) -> str:
    if constraint[:1] in ("<", ">", "=", "!", "~"):
        return constraint
    if constraint.endswith("*"):
        return f"=={constraint.rstrip('.*')}.*"
    if fuzzy and re.fullmatch(r"\d+(?:\.\d+)?", constraint):  # `=1.26`: any 1.26.x
        return f"=={constraint}.*"
    return f"=={constraint}"


def _python_request(specifier: str) -> str:
    """The uv interpreter request of a PEP 440 specifier for python: `==3.10.12` and `==3.10.*`
    ask for `3.10` (the interpreter is picked from those installed, by minor version); others
    (`>=3.8`, `>=3.8,<3.12`) are passed on as they are."""
    exact = re.fullmatch(r"==\s*(\d+)\.(\d+)(?:\.[0-9a-z.*]+)?", specifier)
    return f"{exact[1]}.{exact[2]}" if exact else specifier


# -- requirements files -----------------------------------------------------------------------


def _requirement_lines(path: Path, seen: frozenset[Path] = frozenset()) -> list[str]:
    """The requirements of a pip requirements file, `-r` files read in place (a file that
    includes itself, directly or not, is read once)."""
    resolved = path.resolve()
    if resolved in seen:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
        raise InvalidSpecError([Problem(str(path), None, None, message)]) from None
    found: list[str] = []
    for number, line in _logical_lines(text):
        included = _included_file(line)
        if included is not None:
            found.extend(_requirement_lines(path.parent / included, seen | {resolved}))
        elif line.startswith("-"):
            message = f"the pip option {line.split()[0]} is not supported; only -r is"
            raise InvalidSpecError([Problem(str(path), number, None, message)])
        else:
            found.append(line)
    return found


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each non-empty line once `\\` continuations are joined and
    comments (a `#` at the start or after a space, as pip reads them) removed."""
    lines: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        start = start or number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        if line:
            lines.append((start, line))
        pending, start = "", 0
    return lines


def _included_file(line: str) -> str | None:
    match = re.fullmatch(r"(?:-r|--requirement)(?:\s*|=)(\S+)", line.strip())
    return match[1] if match else None
