"""What a batchml process prints is never what fails it: a local file name that is not valid
UTF-8 (held as Python holds it, os.fsdecode's lone surrogates) is printed as a `\\udcXX` escape
(which a JSON reader of it takes back to the same name), as the workers' logs have it."""

from __future__ import annotations

import io
import sys


def escape_unencodable() -> None:
    """Make sys.stdout and sys.stderr escape what their encoding cannot write."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
