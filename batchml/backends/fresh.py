"""A forked process made as a fresh interpreter would be: a fork server forked from a job's
runner (batchml.backends.fork_server), whose workers must see nothing of the process that
forked the runner (the invoking command, or a test runner) that a fresh server's would not.
"""

from __future__ import annotations

import atexit
import faulthandler
import logging
import os
import sys
import threading
import types
import weakref
from multiprocessing import resource_tracker, util

# What as_fresh() took from this process, kept from being freed.
_PARENTS: list[object] = []


def as_fresh() -> None:
    """Make this process, a fork, what a fresh interpreter would be before it imports the
    worker's modules.

    What its parent had (the invoking command's, or a test runner's) goes: modules but the
    standard library's, batchml.core's and batchml.worker's (a user's script imports its own
    pyyaml, say), the main module, import hooks, the exit handlers and pending finalizers
    (which would remove the parent's temporary folders when a worker exits), the logging
    handlers, excepthooks, the fault handler (its file is closed here) and the resource
    tracker's descriptor. A fresh server's own exit handlers are registered again. What goes
    is kept referenced (_PARENTS), never freed: a file object freed would close a descriptor
    number that this process reuses.
    """
    for name in list(sys.modules):
        if not _fresh_has(name):
            _PARENTS.append(sys.modules.pop(name))
    _PARENTS.append(sys.modules["__main__"])
    sys.modules["__main__"] = types.ModuleType("__main__")
    # A test runner's import hooks (pytest's assertion rewriting) among them.
    _PARENTS.append([*sys.meta_path, *sys.path_hooks])
    sys.meta_path[:] = [hook for hook in sys.meta_path if _fresh_has(hook.__module__)]
    sys.path_hooks[:] = [hook for hook in sys.path_hooks if _fresh_has(hook.__module__)]
    sys.path_importer_cache.clear()
    atexit._clear()
    _PARENTS.append(dict(weakref.finalize._registry))  # type: ignore[attr-defined]
    weakref.finalize._registry.clear()  # type: ignore[attr-defined]
    weakref.finalize._registered_with_atexit = False  # type: ignore[attr-defined]
    atexit.register(util._exit_function)  # type: ignore[attr-defined]
    atexit.register(logging.shutdown)
    loggers = [logging.root, *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            _PARENTS.append(logger.handlers)
            logger.handlers = []
            logger.setLevel(logging.WARNING if logger is logging.root else logging.NOTSET)
            logger.propagate, logger.disabled = True, False
    logging.disable(logging.NOTSET)
    _PARENTS.append(list(logging._handlerList))  # type: ignore[attr-defined]
    logging._handlerList.clear()  # type: ignore[attr-defined]
    sys.excepthook = sys.__excepthook__
    threading.excepthook = threading.__excepthook__
    # Its resource tracker is the parent's, given to each worker as to a fresh server's.
    resource_tracker._resource_tracker._fd = None  # type: ignore[attr-defined]
    resource_tracker._resource_tracker._pid = None  # type: ignore[attr-defined]
    faulthandler.disable()
    from_environment = not sys.flags.ignore_environment and os.environ.get("PYTHONFAULTHANDLER")
    if "faulthandler" in sys._xoptions or from_environment:
        faulthandler.enable()


def _fresh_has(module: str) -> bool:
    """Whether a fresh server may have imported `module`: of the standard library, site's
    hooks (a leading underscore), batchml, batchml.core and batchml.worker (a runner forked
    ahead imports those before its server: see batchml.runner.detach.Ahead)."""
    parts = module.split(".")
    if parts[0] == "batchml":
        return len(parts) == 1 or parts[1] in ("core", "worker")
    return parts[0] in sys.stdlib_module_names or module.startswith("_")
