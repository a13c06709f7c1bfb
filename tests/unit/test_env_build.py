"""How a uv command is run during a build: its output in the build log, news of a long one."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchml.envs import build


def test_a_long_command_is_said_to_go_on_with_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build, "PROGRESS_INTERVAL", 0.01)
    gate = tmp_path / "gate"
    heard: list[str] = []

    def progress(message: str) -> None:
        heard.append(message)
        gate.touch()  # the command ends once it has been reported on

    commands = build._Commands(tmp_path / "build.log", tmp_path, progress)
    script = f"echo 'Resolved 3 packages' >&2; while [ ! -e {gate} ]; do sleep 0.01; done; echo out"
    code, stdout, written = commands._run(["sh", "-c", script], capture=True)

    assert (code, stdout, written) == (0, "out\n", "Resolved 3 packages\n")
    assert heard[0].startswith("uv -c is at ")
    assert heard[0].endswith(" s: Resolved 3 packages")
    log = (tmp_path / "build.log").read_text()
    assert log.startswith("$ sh -c ") and log.endswith("Resolved 3 packages\n")


def test_an_interrupted_command_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "PROGRESS_INTERVAL", 0.01)
    pid_file = tmp_path / "pid"

    def interrupt(_message: str) -> None:
        if pid_file.exists() and pid_file.read_text().strip():
            raise KeyboardInterrupt  # as a cancel's Canceled arrives, inside the wait

    commands = build._Commands(tmp_path / "build.log", tmp_path, interrupt)
    with pytest.raises(KeyboardInterrupt):
        commands._run(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 600"], capture=False)
    pid = int(pid_file.read_text())
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )
