"""Scores each file as one row "<file name> <pid> <CUDA_VISIBLE_DEVICES, or unset>".

With $BARRIER set, run() first waits until $WORKERS worker processes have each written their
pid into that folder, so that every worker takes a mini-batch.
"""

import os
import time


def init():
    pass


def run(mini_batch):
    barrier = os.environ.get("BARRIER")
    if barrier:
        open(os.path.join(barrier, str(os.getpid())), "a").close()
        while len(os.listdir(barrier)) < int(os.environ["WORKERS"]):
            time.sleep(0.01)
    device = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    return [f"{os.path.basename(path)} {os.getpid()} {device}" for path in mini_batch]
