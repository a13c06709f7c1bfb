"""`python -m batchml.runner [--detach] JOB_FOLDER [--resume] [--retry-failed]`: a job's runner.

With --detach, the process forks at once, before it imports the runner (a tenth of a second
or more), so that the command that started it and waits for the fork is not kept waiting; the
rest is batchml.runner.process (after the workers' fork server is started, with
--fork-server: see batchml.runner.launch.fork_server_first). Being a package's __main__, it is not imported again by the
workers that multiprocessing spawns. batchml.runner.launch starts a runner this way only from
a process with other threads running; otherwise it forks the runner from itself.
"""

from __future__ import annotations

import os
import sys


def _detach() -> None:
    """Fork: the parent exits (its caller waits for it), the child leads a new session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def _main(argv: list[str]) -> int:
    if argv[1:2] == ["--detach"]:
        _detach()
        argv = [argv[0], *argv[2:]]
    from batchml.runner.launch import fork_server_first

    server = fork_server_first(argv)
    from batchml.runner.process import main

    return main(argv, server)


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
