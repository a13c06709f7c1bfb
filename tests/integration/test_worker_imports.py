"""A worker imports nothing beyond the standard library and batchml before the user's script
does: so that the script's own pins of pandas, numpy, pyyaml ... can always win (issue: running
deployments in the environment they declare)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.conftest import JobsWorkspace

pytestmark = pytest.mark.slow

PROBE = """
import os, sys


def init():
    # Top-level packages loaded so far, apart from the standard library and this script;
    # names with a leading underscore are site's own hooks (.pth files).
    loaded = {name.split(".")[0] for name in sys.modules}
    foreign = loaded - set(sys.stdlib_module_names) - {"__main__", "__mp_main__", "logged"}
    # And of batchml, its packages.
    ours = {name.split(".")[1] for name in sys.modules if name.startswith("batchml.")}
    with open(os.environ["SCORED_LOG"], "a") as log:
        log.write(" ".join(sorted(n for n in foreign if not n.startswith("_"))) + "\\n")
        log.write(" ".join(sorted(ours)) + "\\n")


def run(mini_batch):
    return [os.path.basename(path) for path in mini_batch]
"""


def test_a_worker_has_imported_only_the_standard_library_and_batchml(jobs: JobsWorkspace):
    (jobs.root / "code" / "logged.py").write_text(PROBE)
    jobs.cli.ok("batch-deployment", "update", "-f", jobs.root / "deployment.yml", "-o", "none")
    name = jobs.invoke("--input", jobs.inputs(["ok"] * 4))
    assert jobs.wait(name, "Completed", "Failed")["status"] == "Completed"
    seen = (jobs.root / "scored.log").read_text().splitlines()
    assert seen and set(seen[::2]) == {"batchml"}
    # Not the runner (the job's __main__, which a spawned worker does not import again), nor
    # the backends: only what runs inside a worker, and the errors its messages raise.
    assert set(seen[1::2]) == {"core worker"}
