"""Which workspace a command works on, and the user's configured defaults.

Resolution order: `-w/--workspace-name`, then BATCHML_WORKSPACE, then the default set with
`batchml configure --defaults workspace=PATH`, then the nearest `.batchml/` folder above the
current directory, else `./.batchml` (created on the first write).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from batchml.core.errors import UsageError
from batchml.store.fs import write_atomic
from batchml.store.workspace import Workspace

WORKSPACE_DIRNAME = ".batchml"
CONFIGURABLE = ("workspace",)


def config_dir() -> Path:
    """Where user-level settings live: BATCHML_CONFIG_DIR, else ~/.batchml (as ~/.azure)."""
    return Path(os.environ.get("BATCHML_CONFIG_DIR") or Path.home() / ".batchml")


def config_file() -> Path:
    return config_dir() / "config.json"


def read_defaults() -> dict[str, str]:
    try:
        document = json.loads(config_file().read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise UsageError(f"{config_file()} is not valid JSON: {exc}") from None
    return dict(document.get("defaults", {}))


def set_defaults(pairs: list[str]) -> dict[str, str]:
    """Apply `key=value` pairs (an empty value unsets the key); returns the new defaults."""
    defaults = read_defaults()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in CONFIGURABLE:
            raise UsageError(
                f"--defaults takes key=value with key one of {', '.join(CONFIGURABLE)}; "
                f"got '{pair}'"
            )
        if value:
            defaults[key] = str(Path(value).expanduser().resolve()) if key == "workspace" else value
        else:
            defaults.pop(key, None)
    document = {"format_version": 1, "defaults": defaults}
    write_atomic(config_file(), (json.dumps(document, indent=2) + "\n").encode())
    return defaults


def resolve_workspace(flag: str | None, cwd: Path | None = None) -> tuple[Workspace, str]:
    """The workspace to use and how it was chosen (for `workspace show`)."""
    here = (cwd or Path.cwd()).resolve()
    if flag:
        return Workspace(Path(flag).expanduser().resolve()), "--workspace-name"
    from_env = os.environ.get("BATCHML_WORKSPACE")
    if from_env:
        return Workspace(Path(from_env).expanduser().resolve()), "BATCHML_WORKSPACE"
    configured = read_defaults().get("workspace")
    if configured:
        return Workspace(Path(configured)), "configured default"
    for folder in (here, *here.parents):
        candidate = folder / WORKSPACE_DIRNAME
        if candidate.is_dir():
            return Workspace(candidate), f"nearest {WORKSPACE_DIRNAME} folder"
    return Workspace(here / WORKSPACE_DIRNAME), "new folder in the current directory"
