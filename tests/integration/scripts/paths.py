"""Fails naming the path it was given, on files whose content says so: `raise` makes run()
raise; `bad` fails that file alone (FileResults). Any other file gives the row
"<file name> <content>"."""

import os

from batchml.worker.rows import FileResults


def init():
    pass


def run(mini_batch):
    rows, failed = [], {}
    for path in mini_batch:
        with open(path) as f:
            content = f.read().strip()
        if content == "raise":
            raise ValueError(f"cannot score {path}")
        if content == "bad":
            failed[path] = f"{path} is bad"
        else:
            rows.append(f"{os.path.basename(path)} {content}")
    return FileResults(rows, failed)
