"""Which GPUs local workers share and which one each worker slot gets (batchml.backends.gpus).

nvidia-smi is a fake, put first on PATH: it prints the indexes it is given and notes each call.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchml.backends.gpus import device_for_slot, devices_to_assign, visible_devices

# Answers only the query batchml makes; anything else is an error, as an unknown flag would be.
FAKE_NVIDIA_SMI = """\
#!/bin/sh
echo "$@" >> "{calls}"
[ "$1" = "--query-gpu=index" ] && [ "$2" = "--format=csv,noheader" ] && [ $# -eq 2 ] || exit 2
printf '{output}'
exit {code}
"""


def fake_nvidia_smi(
    folder: Path, monkeypatch: pytest.MonkeyPatch, output: str = "", code: int = 0
) -> Path:
    """Put an nvidia-smi printing `output` and exiting with `code` first on PATH, with no
    CUDA_VISIBLE_DEVICES set; returns the file that gets a line per call."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    calls = folder / "calls.txt"
    script = bin_dir / "nvidia-smi"
    script.write_text(FAKE_NVIDIA_SMI.format(calls=calls, output=output, code=code))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return calls


def calls(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3,5", ("3", "5")),
        ("0", ("0",)),
        (" 1 , 2,", ("1", "2")),
        ("GPU-a1b2,GPU-c3d4", ("GPU-a1b2", "GPU-c3d4")),
        ("", ()),
    ],
)
def test_the_runners_own_variable_lists_the_devices_and_nvidia_smi_is_not_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    log = fake_nvidia_smi(tmp_path, monkeypatch, "0\\n1\\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)

    assert visible_devices() == expected
    assert calls(log) == []


def test_without_the_variable_the_devices_are_the_gpus_nvidia_smi_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_nvidia_smi(tmp_path, monkeypatch, "0\\n1\\n")

    assert visible_devices() == ("0", "1")
    assert calls(log) == ["--query-gpu=index --format=csv,noheader"]


def test_an_environment_given_explicitly_is_read_instead_of_this_processs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, "0\\n1\\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")

    assert visible_devices({"CUDA_VISIBLE_DEVICES": "2,4"}) == ("2", "4")
    assert visible_devices({}) == ("0", "1")


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ("0\\n1\\n", 9),  # failed, whatever it printed
        ("No devices were found\\n", 6),
        ("", 0),
        ("WARNING: infoROM is corrupted at gpu 0000:01:00.0\\n0\\n", 0),
    ],
)
def test_a_failing_or_silent_nvidia_smi_lists_no_device_but_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, code: int
) -> None:
    fake_nvidia_smi(tmp_path, monkeypatch, output, code)

    assert visible_devices() == (("0",) if "WARNING" in output else ())


def test_without_nvidia_smi_on_path_there_is_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    assert visible_devices() == ()


def test_a_job_that_sets_the_variable_itself_gets_no_device_and_nvidia_smi_is_not_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_nvidia_smi(tmp_path, monkeypatch, "0\\n1\\n")

    assert devices_to_assign({"CUDA_VISIBLE_DEVICES": "0,1", "OTHER": "x"}) == ()
    assert devices_to_assign({"CUDA_VISIBLE_DEVICES": ""}) == ()
    assert calls(log) == []
    assert devices_to_assign({"OTHER": "x"}) == ("0", "1")
    assert len(calls(log)) == 1


def test_worker_slots_get_the_devices_in_turn() -> None:
    assert [device_for_slot(("3", "5"), slot) for slot in range(5)] == ["3", "5", "3", "5", "3"]
    assert [device_for_slot(("0", "1", "2"), slot) for slot in range(2)] == ["0", "1"]
    assert [device_for_slot(("4",), slot) for slot in range(3)] == ["4", "4", "4"]
