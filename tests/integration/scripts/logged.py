"""Scores each file as one row "<file name> <content>", and first appends the file's name to
the file $SCORED_LOG, so that a test can count how often each file was scored across runs.

sleep <s> : sleeps that long first          big  : the row is 300,000 characters long
wait      : waits until the file $GATE exists (a test opens the gate when it is ready)
fail once : the first attempt fails (it leaves <$SCORED_LOG>.<file name>.failed behind)
"""

import os
import time


def init():
    pass


def run(mini_batch):
    rows = []
    for path in mini_batch:
        name = os.path.basename(path)
        with open(os.environ["SCORED_LOG"], "a") as log:
            log.write(name + "\n")
        with open(path) as f:
            content = f.read().strip()
        if content.startswith("sleep "):
            time.sleep(float(content.split()[1]))
        failed = f"{os.environ['SCORED_LOG']}.{name}.failed"
        if content == "fail once" and not os.path.exists(failed):
            open(failed, "w").close()
            raise RuntimeError(f"{name} fails once")
        if content == "wait":
            while not os.path.exists(os.environ["GATE"]):
                time.sleep(0.01)
        rows.append(f"{name} {'x' * 300_000 if content == 'big' else content}")
    return rows
