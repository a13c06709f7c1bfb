"""Typer's help formatter (typer.rich_utils), imported without the two parts of rich that
batchml's help never uses: rich.markdown (help in markdown markup; batchml's is rich markup)
and rich.traceback (pretty exceptions, turned off in batchml.cli.root). Together they are about
a third of the CPU time of `batchml --help` (markdown-it, pygments, attrs, compiled from source
when there are no .pyc files).

typer.rich_utils names them at its top (`from rich.markdown import Markdown`), so, while it is
imported, stand-ins take their place in sys.modules: each holds a class that imports the real
module when it is used (called, or an attribute of it read). The stand-ins are removed again at
once, so any later import of rich.markdown or rich.traceback gets the real module.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# The modules typer.rich_utils imports and help never uses, and the name it takes from each.
_UNUSED = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


def load_formatter() -> None:
    """Import typer.rich_utils, if it is not yet, without the modules in _UNUSED. Call it
    before anything renders help (typer imports it when it first formats help)."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {
        module: _stand_in(module, name) for module, name in _UNUSED if module not in sys.modules
    }
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]


class _Deferred(type):
    """The class of a stand-in: using it imports the real module and uses the real class."""

    _module: str

    def _real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        return getattr(cls._real(), attribute)


def _stand_in(module: str, name: str) -> types.ModuleType:
    stand_in = types.ModuleType(module)
    setattr(stand_in, name, _Deferred(name, (), {"_module": module}))
    return stand_in
