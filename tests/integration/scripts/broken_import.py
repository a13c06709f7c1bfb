"""A scoring script that cannot be imported."""

import no_such_module_for_batchml  # noqa: F401


def init():
    pass


def run(mini_batch):
    return mini_batch
