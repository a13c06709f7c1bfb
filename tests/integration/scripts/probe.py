"""behave.py's scoring, which also notes in $PROBE_LOG, one JSON line per init() and run() call,
which Python the worker is and what it can import: so a test sees the worker's interpreter.

Each line: where (init|run), pid, executable, prefix, version, tinypkg (its __version__, or
None when it cannot be imported), importable (whether each of batchml's own dependencies
pandas, yaml, jmespath imports), loaded (the top-level packages other than the standard
library's, this script's and behave's that the worker had imported before the call).
"""

import importlib
import json
import os
import sys

import behave


def _note(where):
    loaded = {name.split(".")[0] for name in sys.modules}
    own = {"__main__", "__mp_main__", "probe", "behave"}
    loaded = sorted(n for n in loaded - set(sys.stdlib_module_names) - own if n[0] != "_")
    importable = {}
    for name in ("pandas", "yaml", "jmespath"):
        try:
            importlib.import_module(name)
        except ImportError:
            importable[name] = False
        else:
            importable[name] = True
    try:
        import tinypkg
    except ImportError:
        tinypkg = None
    note = {
        "where": where,
        "pid": os.getpid(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "version": list(sys.version_info[:2]),
        "tinypkg": getattr(tinypkg, "__version__", None),
        "importable": importable,
        "loaded": loaded,
    }
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(json.dumps(note) + "\n")


def init():
    _note("init")
    behave.init()


def run(mini_batch):
    _note("run")
    return behave.run(mini_batch)
