"""A job's environment on Ray: its requirements, installed on each node by Ray itself.

Given a job's Requirements, its actors get a runtime_env `uv` field: on each node, Ray's uv
plugin makes a virtualenv of the node's own Python (with its site-packages, so Ray and batchml's
dependencies stay) and runs `uv pip install` of the packages into it, once per node for all the
actors that ask for the same packages. Ray merges an actor's runtime_env into the job's field
by field, so the actors keep the job's `py_modules` (batchml itself) too. A Ray whose `uv`
field takes no install options (Ray 2.40's did not) gets the `pip` field instead. A node that
cannot build the environment fails the actor's creation (RuntimeEnvSetupError, after Ray's
own retries): setup_failure says why, in a line.

A node's uv does not see this process's environment, so where packages come from (this
machine's UV_DEFAULT_INDEX, UV_FIND_LINKS...) is passed on as `uv pip install` options:
install_options_from_env.

Ray cannot change a node's interpreter: a `python` request the cluster's Python does not
satisfy is said (python_note), and the packages are installed for the cluster's Python.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from batchml.envs.build import has_uv_error, install_error

if TYPE_CHECKING:
    from collections.abc import Mapping

    from batchml.envs.requirements import Requirements

# Ray's own options for each installer, kept when ours are added (its uv cache stays off).
RAY_UV_OPTIONS = ("--no-cache",)
RAY_PIP_OPTIONS = ("--disable-pip-version-check", "--no-cache-dir")
# uv options that pip spells otherwise, for the `pip` field.
_PIP_SPELLING = {
    "--default-index": "--index-url",
    "--index": "--extra-index-url",
    "--offline": "--no-index",  # pip cannot read its cache without an index: find-links only
}
# What uv takes as true in a boolean variable.
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})


def install_options_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The `uv pip install` options that name the package sources uv would use here.

    From uv's variables: UV_OFFLINE (a true value: no network, only find-links and uv's
    cache), UV_DEFAULT_INDEX or else UV_INDEX_URL (the index),
    UV_INDEX and UV_EXTRA_INDEX_URL (more indexes, space-separated), UV_FIND_LINKS
    (comma-separated; a relative path is made absolute, since nodes do not run in this folder).
    """
    options: list[str] = []
    if environ.get("UV_OFFLINE", "").strip().lower() in _TRUE:
        options.append("--offline")
    if environ.get("UV_DEFAULT_INDEX"):
        options += ["--default-index", environ["UV_DEFAULT_INDEX"]]
    elif environ.get("UV_INDEX_URL"):
        options += ["--index-url", environ["UV_INDEX_URL"]]
    for name, option in (("UV_INDEX", "--index"), ("UV_EXTRA_INDEX_URL", "--extra-index-url")):
        for url in environ.get(name, "").split():
            options += [option, url]
    for link in environ.get("UV_FIND_LINKS", "").split(","):
        link = link.strip()
        if link:
            options += ["--find-links", link if "://" in link else os.path.abspath(link)]
    return tuple(options)


def runtime_env(
    requirements: Requirements | None, install_options: tuple[str, ...], *, uv: bool = True
) -> dict[str, Any] | None:
    """The actors' own runtime_env for `requirements`, None when there is no package to
    install. `install_options` are uv's (install_options_from_env); with `uv` False (a Ray
    whose uv field takes no options: uv_takes_options) the `pip` field, in pip's spelling."""
    if requirements is None or not requirements.packages:
        return None
    packages = list(requirements.packages)
    if uv:
        options = [*RAY_UV_OPTIONS, *install_options]
        return {"uv": {"packages": packages, "uv_pip_install_options": options}}
    options = [*RAY_PIP_OPTIONS, *(_PIP_SPELLING.get(o, o) for o in install_options)]
    return {"pip": {"packages": packages, "pip_install_options": options}}


def uv_takes_options(ray: Any) -> bool:
    """Whether this Ray's runtime_env `uv` field takes uv_pip_install_options."""
    try:
        ray.runtime_env.RuntimeEnv(uv={"packages": ["x"], "uv_pip_install_options": []})
    except (ValueError, TypeError):
        return False
    return True


def python_note(requested: str | None, cluster: str) -> str | None:
    """What to say when the Python `requested` (a uv request: `3.10`, `>=3.8`) is not the
    cluster's, `cluster` (X.Y.Z: the driver's, whose X.Y Ray requires the cluster to share);
    None when it is, or when nothing was asked."""
    if requested is None or _satisfies(requested.strip(), cluster):
        return None
    minor = ".".join(cluster.split(".")[:2])
    return (
        f"Python {requested} was asked for, but Ray runs actors in the cluster's Python "
        f"({minor}); the packages are installed for that one"
    )


def _satisfies(requested: str, version: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if re.fullmatch(r"\d+(?:\.\d+)*", requested):
        # By minor version, as builds here pick an interpreter (and the cluster's micro is
        # not known: only its X.Y is the driver's).
        parts = requested.split(".")[:2]
        return version.split(".")[: len(parts)] == parts
    try:
        return SpecifierSet(requested).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False  # `pypy`, a path...: not something a cluster's Python can be


def setup_failure(requirements: Requirements | None, error: str) -> str:
    """One line saying why Ray could not set up an actor's runtime_env, from the text of its
    RuntimeEnvSetupError: uv's error, naming the requirements it could not install, when that
    is the cause, else the error's last line."""
    node = re.search(r"\[Node ([^\]]+)\]", error)
    where = f" on node {node[1]}" if node else ""
    packages = requirements.packages if requirements is not None else ()
    if packages and has_uv_error(error):
        return f"Ray could not build the job's environment{where}: {install_error(error, packages)}"
    lines = [line.strip() for line in error.splitlines() if line.strip()] or ["no message"]
    asked = f" (requirements: {', '.join(packages)})" if packages else ""
    return f"Ray could not set up the actors' runtime environment{asked}{where}: {lines[-1]}"
