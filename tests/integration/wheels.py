"""Tiny pure-Python wheels made on the spot, for installs that need no index (uv's --offline
--find-links FOLDER): environment builds here and by a Ray cluster's nodes.

Not a test module: test_env_builds.py, test_job_environments.py and test_ray_envs.py import it.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, module: str | None = None) -> Path:
    """A pure-Python wheel of project `name` holding one package, `module` (default: `name`),
    whose __version__ is `version`."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{module or name}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel
