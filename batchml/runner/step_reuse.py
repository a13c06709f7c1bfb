"""Pipeline steps reuse an earlier run's outputs, as Azure's pipelines do (`is_deterministic`).

A step's key names what decides its outputs: its component's code (the contents of the step's
snapshot), its command as written (before paths are filled in: they name the job), its
environment as built and its environment variables, the names of its outputs, and each input:
a literal's value, or the contents of a file or folder (each file's SHA-256, hashed once and
kept by path, size and mtime in the result cache's records). An input bound to an earlier
step's output is that output's contents, so a step downstream of one whose output changed
runs again, and one downstream of a reused step can be reused in turn.

A step is reused unless its component says `is_deterministic: false` or the pipeline job's
settings say `force_rerun: true` (a step that runs still keeps its outputs for later jobs).
Entries live in the per-user result cache (batchml.store.result_cache: its bound, its
`cache prune`): the step job that ran and, per output, its folder with the size and SHA-256 of
each file. An entry that does not check out, or whose files are gone or changed since, is
ignored (and removed). A reused step's outputs are made from those files (hard links where
the filesystem allows, else copies): byte for byte what the earlier step wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchml.runner.reuse import environment_parts, folder_digest
from batchml.store.result_cache import ResultCache

if TYPE_CHECKING:
    from batchml.core.pipeline_job import PipelineJob, StepJob


def _forced(job: PipelineJob) -> bool:
    return bool(job.settings.get("force_rerun"))


def _deterministic(child: StepJob) -> bool:
    return child.component.get("is_deterministic", True) is not False


def opted_out(job: PipelineJob, child: StepJob) -> str | None:
    """Why `child` is run whatever ran before, or None if it may be reused."""
    if _forced(job):
        return "the pipeline job's settings say force_rerun"
    if not _deterministic(child):
        return "its component says is_deterministic: false"
    return None


class StepReuse:
    """Finds the outputs of steps run before with the same key, and keeps those of steps
    that complete."""

    def __init__(self, cache: ResultCache | None = None) -> None:
        self.cache = cache or ResultCache()
        self._keys: dict[str, str] = {}  # step -> its key, while it runs

    def key(self, child: StepJob) -> str | None:
        """The key of `child`, its inputs as they are now; None if one cannot be read (the
        step runs, and its command meets what is wrong)."""
        cache = self.cache
        try:
            inputs = {name: _input_part(record, cache) for name, record in child.inputs.items()}
            code = child.component.get("code")
            parts = {
                "kind": "pipeline step",
                "code": folder_digest(Path(code), cache) if code else None,
                "command": child.component.get("command"),
                "environment": [
                    child.component.get("environment"),
                    *environment_parts(child.runs_in),
                ],
                "environment_variables": child.environment_variables,
                "inputs": inputs,
                "outputs": sorted(child.outputs),
            }
        except OSError:
            return None
        finally:
            with contextlib.suppress(OSError):
                cache.save_hashes()
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def take(self, job: PipelineJob, step: str, child: StepJob) -> str | None:
        """Fill `child`'s outputs from the step job that ran with its key, and name it; None
        if the step is to run (its key, if it may be kept, is remembered for `keep`)."""
        if not _deterministic(child):
            return None  # its outputs are never taken, nor kept
        key = self.key(child)
        if key is None:
            return None
        self._keys[step] = key
        if _forced(job):
            return None
        entry = _entry(self.cache.lookup(key))
        if entry is None or set(entry["outputs"]) != set(child.outputs):
            return None
        targets = {name: Path(child.outputs[name]["local"]) for name in entry["outputs"]}
        if any(
            Path(o["local"]).resolve() == targets[n].resolve() for n, o in entry["outputs"].items()
        ):
            return None  # its own outputs (a job of the same name before)
        if not all(_intact(output, self.cache) for output in entry["outputs"].values()):
            self.cache.path(key).unlink(missing_ok=True)
            return None
        try:
            for name, output in entry["outputs"].items():
                _restore(output, targets[name])
        except OSError:
            return None  # the step runs, and makes its output folders anew
        return str(entry["job"])

    def keep(self, step: str, child: StepJob) -> None:
        """Record the outputs of `child`, which completed, under the key it ran with."""
        key = self._keys.pop(step, None)
        if key is None:
            return
        # Unreadable outputs, a full or read-only cache: later jobs run the step, that is all.
        with contextlib.suppress(OSError):
            outputs = {
                name: _manifest(Path(record["local"]), self.cache)
                for name, record in child.outputs.items()
            }
            self.cache.store(key, 0, json.dumps({"job": child.name, "outputs": outputs}).encode())
        with contextlib.suppress(OSError):
            self.cache.save_hashes()


def _input_part(record: dict[str, Any], cache: ResultCache) -> Any:
    """What of an input decides a step's outputs: a literal's value, a file's or a folder's
    contents (not its path)."""
    if "value" in record:
        return {"value": record["value"]}
    local = Path(record["local"])
    if local.is_dir():
        return {"type": record["type"], "folder": folder_digest(local, cache, by_inode=False)}
    return {"type": record["type"], "file": cache.file_hash(local)}


def _manifest(folder: Path, cache: ResultCache) -> dict[str, Any]:
    """An output folder as an entry records it: its folders, and each file's size and hash."""
    files, folders = {}, []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_dir():
            folders.append(relative)
        else:
            files[relative] = [path.stat().st_size, cache.file_hash(path)]
    return {"local": str(folder), "files": files, "folders": folders}


def _entry(found: tuple[int, bytes] | None) -> dict[str, Any] | None:
    """The entry a cache lookup gave, if it has the shape `keep` writes."""
    if found is None:
        return None
    try:
        entry = json.loads(found[1])
        outputs = entry["outputs"]
        shaped = isinstance(entry["job"], str) and all(
            isinstance(o["local"], str) and isinstance(o["files"], dict) for o in outputs.values()
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return entry if shaped else None


def _intact(output: dict[str, Any], cache: ResultCache) -> bool:
    """Whether an output folder still holds the files an entry recorded, unchanged."""
    folder = Path(output["local"])
    try:
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
        if present != set(output["files"]):
            return False
        for relative, (size, digest) in output["files"].items():
            path = folder / relative
            if path.stat().st_size != size or cache.file_hash(path) != digest:
                return False
    except (OSError, ValueError, TypeError):
        return False
    return True


def _restore(output: dict[str, Any], target: Path) -> None:
    """Make `target` hold the files of an output an entry recorded (checked `_intact`)."""
    source = Path(output["local"])
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for relative in output.get("folders") or []:
        (target / relative).mkdir(parents=True, exist_ok=True)
    for relative in output["files"]:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / relative, destination)
        except OSError:  # another filesystem, or one without hard links
            shutil.copy2(source / relative, destination)
