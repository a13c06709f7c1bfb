"""The GPUs of this machine and how local workers share them, as Azure's parallel runner does.

Each worker process gets one device in CUDA_VISIBLE_DEVICES, in turn: worker slot i gets
devices[i % len(devices)], and a replacement worker gets its slot's device again. The devices
are those this process's own CUDA_VISIBLE_DEVICES lists (an empty value means none), else the
GPUs nvidia-smi lists; without nvidia-smi, or if it fails, there are none, and workers are
left as they are. A job whose environment_variables set CUDA_VISIBLE_DEVICES keeps that value
in every worker: nothing is assigned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
# nvidia-smi can take seconds per GPU when the driver is not kept loaded (no persistence mode).
NVIDIA_SMI_TIMEOUT_SECONDS = 60.0


def visible_devices(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The devices this process may use: CUDA_VISIBLE_DEVICES's entries if it is set (in
    `environ`, default os.environ), else the indexes of the GPUs nvidia-smi lists."""
    value = (os.environ if environ is None else environ).get(CUDA_VISIBLE_DEVICES)
    if value is not None:
        return tuple(entry.strip() for entry in value.split(",") if entry.strip())
    return _nvidia_smi_indexes()


def _nvidia_smi_indexes() -> tuple[str, ...]:
    command = shutil.which("nvidia-smi")
    if command is None:
        return ()
    try:
        done = subprocess.run(
            [command, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            errors="replace",
            check=True,
            timeout=NVIDIA_SMI_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    # Only the indexes: a driver's warning on stdout is no device.
    return tuple(line.strip() for line in done.stdout.splitlines() if line.strip().isdigit())


def devices_to_assign(environment_variables: Mapping[str, str]) -> tuple[str, ...]:
    """The devices a job's workers share: none if its environment_variables set
    CUDA_VISIBLE_DEVICES (the user's value wins), else visible_devices()."""
    if any(str(name) == CUDA_VISIBLE_DEVICES for name in environment_variables):
        return ()
    return visible_devices()


def device_for_slot(devices: Sequence[str], slot: int) -> str:
    """The device of worker `slot` (0 .. workers-1): the devices in turn."""
    return devices[slot % len(devices)]
