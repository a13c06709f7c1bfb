"""A scoring script whose behaviour each input file chooses by its content.

ok | sleep <s> : one row "<file name> <content>"       skip : no row for this file
big            : one row of 300,000 characters, too big to send back in memory
raise          : run() raises                          none : run() returns None
hang           : run() sleeps far past any timeout     hang-once : hangs on the first try only
spawn-hang-once: on the first try, starts `sleep 300` (its pid in <file>.child), then hangs
stubborn       : ignores SIGTERM, then hangs
exit           : the worker calls os._exit(1)          exit-once : exits on the first try only
kill           : the worker SIGKILLs itself
wait-rest      : waits until every other input file of its folder was tried (60 s at most)
INIT_LOG (env) : init() appends the worker's pid to this file
INIT_FAIL (env): init() raises ValueError naming this model path
INIT_KILL_ONCE (env): the first init() to run writes its pid to this file and SIGKILLs its own
                      worker; any other init() returns once that worker is dead (so the runner
                      sees the death before this worker is ready)
"""

import logging
import os
import signal
import subprocess
import sys
import time

logger = logging.getLogger("behave")


def init():
    log = os.environ.get("INIT_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
    once = os.environ.get("INIT_KILL_ONCE")
    if once:
        try:
            with open(once, "x") as f:
                f.write(f"{os.getpid()}\n")
        except FileExistsError:
            _wait_until_dead(once)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    model = os.environ.get("INIT_FAIL")
    if model:
        raise ValueError(f"model file not found: {model}")


def _until(done, what, limit=60.0):
    """Return once done() is true; fail naming `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} within {limit:g} s")
        time.sleep(0.005)


def _wait_until_dead(pid_file):
    """Until the process whose pid `pid_file` holds (once written) has closed its files: it is
    gone, or a zombie whose other threads have all exited (a zombie leader's threads may still
    be exiting, and hold the files the threads share)."""

    def dead():
        with open(pid_file) as f:
            pid = f.read()
        if not pid.endswith("\n"):
            return False
        pid = pid.strip()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(") ", 1)[1][0]
        except FileNotFoundError:
            return True
        return threads == [pid] and state == "Z"

    _until(dead, f"the worker in {pid_file} was not dead")


def _wait_for_the_rest(path):
    folder, name = os.path.split(path)
    rest = [
        os.path.join(folder, other)
        for other in os.listdir(folder)
        if other != name and not other.endswith((".tried", ".child"))
    ]
    _until(
        lambda: all(os.path.exists(other + ".tried") for other in rest),
        "the other files were not all tried",
    )


def run(mini_batch):
    rows = []
    for path in mini_batch:
        name = os.path.basename(path)
        with open(path) as f:
            command = f.read().strip()
        marker = path + ".tried"
        first_try = not os.path.exists(marker)
        open(marker, "a").close()
        print(f"scoring {name}")
        logger.info("info about %s", name)
        logger.debug("debug about %s", name)
        print(f"stderr note {name}", file=sys.stderr)
        if command == "raise":
            raise ValueError(f"cannot score {name}")
        if command == "none":
            return None
        if command == "spawn-hang-once" and first_try:
            child = subprocess.Popen(["sleep", "300"])
            with open(path + ".child", "w") as f:
                f.write(str(child.pid))
            time.sleep(60)
        if command == "stubborn":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if command in ("hang", "stubborn") or (command == "hang-once" and first_try):
            time.sleep(60)
        if command == "exit" or (command == "exit-once" and first_try):
            os._exit(1)
        if command == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if command == "wait-rest":
            _wait_for_the_rest(path)
        if command.startswith("sleep "):
            time.sleep(float(command.split()[1]))
        if command == "big":
            rows.append(f"{name} {'x' * 300_000}")
        elif command != "skip":
            rows.append(f"{name} {command}")
    return rows
