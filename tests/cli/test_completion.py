"""Shell completion: `--show-completion` for bash, zsh and fish, and the names it completes
from the workspace, as the shell asks for them (the CLI run with _BATCHML_COMPLETE set)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Cli, Project

BATCHML = [sys.executable, "-c", "from batchml.cli.app import main; main()"]


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*BATCHML, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_of_each_shell(shell: str) -> None:
    script = _run({"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}, "--show-completion", shell)
    assert f"_BATCHML_COMPLETE=complete_{shell}" in script.replace("'", "")


def test_names_are_completed_from_the_workspace(cli: Cli, deployed: Project) -> None:
    cli.ok("batch-deployment", "create", "-f", deployed.deployment_yml, "-n", "mnist-svc")
    cli.ok("batch-endpoint", "create", "-f", deployed.endpoint_yml, "-n", "heart-ep")

    def bash(line: str) -> list[str]:
        words = line.split(" ")
        env = {"_BATCHML_COMPLETE": "complete_bash", "COMP_WORDS": line,
               "COMP_CWORD": str(len(words) - 1)}  # fmt: skip
        return _run(env).splitlines()

    assert bash("batchml batch-endpoint show -n ") == ["heart-ep", "mnist-batch"]
    assert bash("batchml batch-endpoint show -n mn") == ["mnist-batch"]
    assert bash("batchml batch-deployment show -e mnist-batch -n ") == ["mnist-svc", "mnist-torch"]
    assert bash("batchml batch-endpoint invoke -n heart-ep -d ") == [""]  # none
    assert bash("batchml batch-endpoint invoke -n mnist-batch -d mnist-s") == ["mnist-svc"]
    fish = _run({"_BATCHML_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                 "_TYPER_COMPLETE_ARGS": "batchml batch-deployment list -e h"})  # fmt: skip
    assert fish.split() == ["heart-ep"]
