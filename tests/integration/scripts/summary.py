"""summary_only: writes one file per input into AZUREML_BI_OUTPUT_PATH, returns only a count."""

import os
from pathlib import Path


def init():
    global output_dir
    output_dir = Path(os.environ["AZUREML_BI_OUTPUT_PATH"])


def run(mini_batch):
    for path in mini_batch:
        source = Path(path)
        (output_dir / f"{source.stem}.out").write_text(source.read_text().upper())
    return mini_batch
