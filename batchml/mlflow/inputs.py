"""Input files as an MLflow model gets them in a no-code deployment, as Azure reads them.

Tabular files (.csv, .parquet, .pqt) become DataFrames whose columns are converted to the
types of the model's column signature while they are read; images become numpy arrays, shaped
and typed by the model's tensor signature (uint8 without one). Any other file type fails.
Errors are ValueErrors whose message names the problem (the column, the shape).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TABULAR = (".csv", ".parquet", ".pqt")
IMAGES = (".png", ".jpg", ".jpeg", ".tiff", ".bmp", ".gif")
_CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def kind_of(path: str) -> str:
    """ "tabular" or "image"; raises ValueError for any other file type."""
    suffix = Path(path).suffix.lower()
    if suffix in TABULAR:
        return "tabular"
    if suffix in IMAGES:
        return "image"
    kind = suffix[1:] or "(none)"
    raise ValueError(
        f"file type '{kind}' is not supported; a deployment without a scoring script reads "
        f"{', '.join(TABULAR + IMAGES)} files"
    )


def read_table(path: str, schema: Any) -> pd.DataFrame:
    """A CSV or parquet file as a DataFrame, its columns converted to the signature's types.

    Columns the signature does not name are passed as they are; a missing one is left to
    MLflow's own check, which names it.
    """
    import pandas as pd

    if Path(path).suffix.lower() == ".csv":
        frame = pd.read_csv(path)
    else:
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise ValueError(f"reading parquet files needs pyarrow: {exc}") from None
    return typed(frame, schema)


def typed(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """`frame` with its columns converted to the signature's types (in place)."""
    if schema is None or schema.is_tensor_spec():
        return frame
    for spec in schema.inputs:
        if spec.name in frame.columns:
            frame[spec.name] = _convert(frame[spec.name], spec.type, spec.name)
    return frame


def _convert(column: pd.Series, kind: Any, name: str) -> pd.Series:
    import pandas as pd

    # Only MLflow's scalar types have to_pandas(); arrays, objects and maps pass as read.
    target = kind.to_pandas() if hasattr(kind, "to_pandas") else None
    kind_name = getattr(kind, "name", str(kind))
    try:
        if kind_name == "datetime":
            return pd.to_datetime(column)
        if kind_name == "string":
            # Digits in a string column are read as numbers; missing values stay missing.
            is_text = pd.api.types.is_string_dtype(column.dtype)
            return column if is_text else column.astype(str).where(column.notna())
        if kind_name in ("binary", "boolean") or target is None:
            return column
        converted = column.astype(target)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"column '{name}' cannot be read as {kind_name}: {exc}") from None
    if kind_name in ("integer", "long") and column.dtype.kind == "f":
        # astype() truncates 1.5 to 1; a value that changes is not an integer.
        changed = column[converted != column]
        if len(changed):
            raise ValueError(
                f"column '{name}' cannot be read as {kind_name}: "
                f"{changed.iloc[0]} is not an integer"
            )
    return converted


def read_image(path: str, schema: Any) -> np.ndarray:
    """An image file as an array: as decoded, in uint8, without a tensor signature; with one,
    in its dtype and shape (a leading dimension added for a batch of one image)."""
    import numpy as np
    from PIL import Image

    spec = schema.inputs[0] if schema is not None and schema.is_tensor_spec() else None
    shape = tuple(spec.shape) if spec is not None and spec.shape else None
    channels = shape[-1] if shape is not None and len(shape) >= 3 else None
    with Image.open(path) as image:
        mode = _CHANNEL_MODES.get(channels) if channels is not None else None
        if mode is None and image.mode not in ("L", "RGB", "RGBA"):
            mode = "RGB"
        pixels = np.asarray(image.convert(mode) if mode and mode != image.mode else image)
    if spec is None:
        return pixels.astype(np.uint8, copy=False)
    array = pixels.astype(spec.type, copy=False)
    if channels == 1 and array.ndim == 2:
        array = array[..., np.newaxis]
    return array if shape is None else _fit(array, shape, pixels.shape)


def _fit(array: np.ndarray, shape: tuple[int, ...], read: tuple[int, ...]) -> np.ndarray:
    # One image is one element of a batch: its values must fill the fixed dimensions.
    fixed = math.prod(size for size in shape if size != -1)
    wildcards = sum(1 for size in shape if size == -1)
    problem = f"the image's shape {read} does not fit the signature's tensor shape {shape}"
    if wildcards <= 1:
        if array.size != fixed:
            raise ValueError(problem)
        return array.reshape(tuple(1 if size == -1 else size for size in shape))
    if len(shape) == array.ndim + 1:
        array = array.reshape((1, *array.shape))
    if array.ndim != len(shape) or any(
        size not in (-1, have) for size, have in zip(shape, array.shape, strict=True)
    ):
        raise ValueError(problem)
    return array
