"""`batch-endpoint compare`: two deployments run on the same input as two jobs, their rows
paired by file name; agreement within a tolerance passes, a differing row fails with exit 1
and lands in the diff file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from projects import Project, model_deployment, project_at

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Each row: the file's name, then its number plus one, scaled; SCALE and SHIFT_FILE vary by deployment.
SCRIPT = """\
import os

def init():
    pass

def run(mini_batch):
    rows = []
    for path in mini_batch:
        name = os.path.basename(path)
        value = (int(open(path).read()) + 1) * {scale}
        if name == {shift!r}:
            value += 1
        if name == {fail!r}:
            raise ValueError("no value for " + name)
        rows.append(f"{{name}} {{value}}")
    return rows
"""


@pytest.fixture
def candidates(
    cli: Cli, ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """Deployments blue (x1.0), close (x1.0000001), off (in2.txt's value one more) and broken
    (in3.txt fails, and with it its mini-batch, in2.txt and in3.txt)."""
    with project_at(cli, ws, tmp_path, monkeypatch, "cmp-ep") as project:
        project.deploy(model_deployment("blue"), SCRIPT.format(scale=1.0, shift=None, fail=None))
        project.deploy(
            model_deployment("close"), SCRIPT.format(scale=1.0000001, shift=None, fail=None)
        )
        project.deploy(
            model_deployment("off"), SCRIPT.format(scale=1.0, shift="in2.txt", fail=None)
        )
        project.deploy(
            model_deployment("broken"), SCRIPT.format(scale=1.0, shift=None, fail="in3.txt")
        )
        yield project


def compare(project: Project, b: str, *flags: str) -> tuple[int, dict[str, object], str]:
    result = project.cli(
        "batch-endpoint", "compare", "-n", project.endpoint, "--deployment", "blue",
        "--deployment", b, "--input", project.root / "data", *flags,
    )  # fmt: skip
    report = result.json()
    for side in ("a", "b"):
        project.show(report[side]["job"])  # type: ignore[index]
    return result.code, report, result.err


def test_two_deployments_that_agree_within_the_tolerance_pass(candidates: Project) -> None:
    code, report, err = compare(candidates, "close", "--tolerance", "1e-3")
    assert code == 0, err
    assert report["rows"] == {
        "compared": 4,
        "identical": 0,
        "within_tolerance": 4,
        "different": 0,
        "only_in_a": 0,
        "only_in_b": 0,
    }
    assert (report["agreement"], report["passed"], report["first_differences"]) == (1.0, True, [])
    assert "waiting for both" in err

    strict, report, _ = compare(candidates, "close")  # no tolerance: every row differs
    assert (strict, report["agreement"], report["passed"]) == (1, 0.0, False)


def test_a_row_that_differs_fails_and_is_in_the_diff_file(candidates: Project) -> None:
    code, report, _ = compare(candidates, "off", "--min-agreement", "0.8")
    assert code == 1
    assert report["rows"]["different"] == 1 and report["agreement"] == 0.75  # type: ignore[index]
    assert report["first_differences"] == [
        {"key": "in2.txt", "a": "in2.txt 3.0", "b": "in2.txt 4.0"}
    ]
    diff = Path(str(report["diff_file"])).read_text().splitlines()
    assert diff[2:] == ["@ in2.txt", "- in2.txt 3.0", "+ in2.txt 4.0"]
    assert diff[0].startswith("--- A: blue (job ") and diff[1].startswith("+++ B: off (job ")

    passing, _, _ = compare(candidates, "off", "--min-agreement", "0.75")
    assert passing == 0


def test_compare_refuses_one_deployment_twice_and_creates_no_job(candidates: Project) -> None:
    result = candidates.cli(
        "batch-endpoint", "compare", "-n", candidates.endpoint, "--deployment", "blue",
        "--deployment", "blue", "--input", candidates.root / "data",
    )  # fmt: skip
    assert (result.code, result.out) == (2, "")
    assert "--deployment blue is given twice" in result.err
    assert not (candidates.ws / "jobs").exists() or not any((candidates.ws / "jobs").iterdir())


def test_files_that_fail_in_one_deployment_only_are_named(candidates: Project) -> None:
    code, report, _ = compare(candidates, "broken", "--min-agreement", "0.5")
    assert code == 0
    assert (report["rows"]["only_in_a"], report["agreement"]) == (2, 0.5)  # type: ignore[index]
    data = candidates.root / "data"
    assert report["failed_in_one"] == {
        "a": 0,
        "b": 2,
        "first": {"a": [], "b": [str(data / "in2.txt"), str(data / "in3.txt")]},
    }
