"""A scoring script that reports what its worker sees, one row per file:
"<file name> <files this module scored before> <LATE_VARIABLE or ->".
A file whose content is `exit-once` makes its worker exit the first time (<file>.seen marks it).
"""

import os

_scored = 0


def init():
    pass


def run(mini_batch):
    global _scored
    rows = []
    for path in mini_batch:
        with open(path) as f:
            content = f.read().strip()
        if content == "exit-once" and not os.path.exists(f"{path}.seen"):
            open(f"{path}.seen", "w").close()
            os._exit(1)
        late = os.environ.get("LATE_VARIABLE", "-")
        rows.append(f"{os.path.basename(path)} {_scored} {late}")
        _scored += 1
    return rows
