"""Sizes in bytes as users write them, as Azure does: `500mb`, `2 GB`, `10MB`, `1.5gb`,
`1000000` (decimal units: 1 MB is 1,000,000 bytes). For the input cache's bound and for
mini-batches by size."""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}


def parse_size(text: str) -> int | None:
    """The bytes `text` names, or None if it names none."""
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    return int(float(match[1]) * _UNITS[match[2].lower()])
