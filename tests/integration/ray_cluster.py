"""A real Ray head for the tests of the Ray backend: started on 127.0.0.1, stopped for sure.

Not a test module: tests/integration/conftest.py's `ray_head` fixture uses it, once a session.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from processes import session_members, start_detached, stop_session
from waiting import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

# For the head and every driver of the session: 127.0.0.1 is this node's address (as Ray has
# it on macOS), and token authentication with a token of the session's own, whatever
# ~/.ray/auth_token holds. Ray's uv environments (test_ray_envs.py), each a copy of this
# virtualenv, are tried once (a build here fails the same every time) and deleted as soon as no
# actor uses them.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
    "RUNTIME_ENV_RETRY_TIMES": "1",
    "RAY_RUNTIME_ENV_UV_CACHE_SIZE_GB": "0",
}
START_SECONDS = 60
STOP_SECONDS = 30


@dataclass(frozen=True)
class RayHead:
    address: str  # HOST:PORT of the GCS
    client: str  # ray://HOST:PORT of the Ray Client server
    pid: int  # of `ray start --block`, the leader of the head's session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def actors() -> list[int]:
    """The processes of this machine that run a batchml ScoringActor."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if cmdline.read_bytes().startswith(b"ray::ScoringActor"):
                found.append(int(cmdline.parent.name))
    return found


@contextlib.contextmanager
def running_head(folder: Path) -> Iterator[RayHead]:
    """A Ray head with 2 CPUs, every port on 127.0.0.1, its files in `folder`; RAY_ENV must be
    set. On the way out, its session is stopped (SIGTERM, then SIGKILL) and must be empty."""
    gcs, client, agent = free_port(), free_port(), free_port()
    command = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
        "--node-ip-address=127.0.0.1", f"--port={gcs}", f"--ray-client-server-port={client}",
        f"--dashboard-agent-listen-port={agent}", "--num-cpus=2", "--include-dashboard=false",
        "--disable-usage-stats", f"--temp-dir={folder}",
    ]  # fmt: skip
    log = folder / "head.log"
    pid = start_detached(command, log)
    try:
        wait_for(
            lambda: (listening(gcs) and listening(client)) or not session_members(pid),
            lambda: f"the Ray head to listen:\n{log.read_text()}",
            timeout=START_SECONDS,
        )
        if not (listening(gcs) and listening(client)):
            raise RuntimeError(f"ray start failed:\n{log.read_text()}")
        yield RayHead(f"127.0.0.1:{gcs}", f"ray://127.0.0.1:{client}", pid)
    finally:
        stop_session(pid, "the Ray head and its processes", STOP_SECONDS)
        # The folders of actors killed by the last jobs (the next actor would remove them).
        from batchml.backends.ray_actor import sweep

        sweep(Path(tempfile.gettempdir()))
