"""Reports what a worker sees: environment variables and working directory, one row per file."""

import os

from helper import NAMES


def init():
    pass


def run(mini_batch):
    seen = " ".join(os.environ.get(name, "-") for name in NAMES)
    return [f"{os.path.basename(path)} {seen} {os.getcwd()}" for path in mini_batch]
