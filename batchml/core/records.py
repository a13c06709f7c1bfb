"""What every stored record shares: its state (the dict its JSON file holds) and its ARM-style
id under the local subscription. A module of its own, so that the job records need none of the
resource model (batchml.core.resources) to be read: `job stream` and `job show` import less."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

LOCAL_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
LOCAL_GROUP = "local"

T = TypeVar("T")


def arm_id(workspace: str, *segments: str) -> str:
    return (
        f"/subscriptions/{LOCAL_SUBSCRIPTION}/resourceGroups/{LOCAL_GROUP}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{workspace}/" + "/".join(segments)
    )


def to_state(resource: Any) -> dict[str, Any]:
    return dataclasses.asdict(resource)


def from_state(cls: type[T], state: dict[str, Any]) -> T:
    known = field_names(cls)  # type: ignore[arg-type]
    return cls(**{k: v for k, v in state.items() if k in known})


@functools.cache
def field_names(cls: Any) -> frozenset[str]:
    """The names of a dataclass's fields (dataclasses.fields is slow for every record read)."""
    return frozenset(f.name for f in dataclasses.fields(cls))
