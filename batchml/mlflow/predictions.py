"""The append_row lines of a no-code MLflow deployment, in the format of Azure's MLflow scorer.

One line per input row of a tabular file, `row,prediction,file_name`, and one per image,
`prediction,file_name`: comma-separated, no header, the row counted from 0 in its file and the
file by its base name. The prediction is written as predict() returned it; a list or a mapping
is written as JSON, and a field holding a comma or a quote is quoted as CSV quotes it.
"""

from __future__ import annotations

import json
import os
from typing import Any


def table_lines(prediction: Any, rows: int, path: str) -> list[str]:
    """The lines of a tabular file of `rows` rows; predict() must give one value per row."""
    values = _values(prediction)
    if len(values) != rows:
        raise ValueError(f"predict() returned {len(values)} predictions for {rows} rows")
    name = _field(os.path.basename(path))
    return [f"{row},{_field(value)},{name}" for row, value in enumerate(values)]


def image_line(prediction: Any, path: str) -> str:
    """The line of an image: predict() got a batch of one, so a one-value result is unwrapped."""
    values = _values(prediction)
    value = values[0] if len(values) == 1 else values
    return f"{_field(value)},{_field(os.path.basename(path))}"


def _values(prediction: Any) -> list[Any]:
    # Duck-typed, as batchml.worker.rows is: a DataFrame, a Series or array, a mapping, a list.
    if hasattr(prediction, "columns") and hasattr(prediction, "iloc"):
        if len(prediction.columns) == 1:
            return list(prediction.iloc[:, 0].tolist())
        return list(prediction.to_dict(orient="records"))
    if isinstance(prediction, dict):
        return [{key: _plain(value) for key, value in prediction.items()}]
    if hasattr(prediction, "tolist"):
        plain = prediction.tolist()
        return plain if isinstance(plain, list) else [plain]
    if isinstance(prediction, (list, tuple)):
        return [_plain(value) for value in prediction]
    return [prediction]


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _field(value: Any) -> str:
    text = json.dumps(value, default=str) if isinstance(value, (list, tuple, dict)) else str(value)
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
