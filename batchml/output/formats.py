"""The formats of `-o/--output`, as az has them (json is the default).

A module of its own, so that the global options of every command name them without importing
the renderer.
"""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("json", "jsonc", "yaml", "yamlc", "table", "tsv", "none")
