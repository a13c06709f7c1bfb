"""Make the sample's data and model from scikit-learn's bundled digits (no download).

Writes, under --out (default: this folder):
  data/digit_0000.png ...  the held-out test images, 8x8 grayscale PNGs (0-255)
  labels.csv               file,label for those images (kept out of data/, which is scored)
  model/digits.pkl         an SVC trained on the other images (pickle)
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--count", type=int, default=None, help="test images to write (max 360)")
    args = parser.parse_args()

    digits = load_digits()
    # Pixels are 0-16 in the dataset; the model sees 0-1, as the scoring script will.
    features = digits.data / 16.0
    x_train, x_test, y_train, y_test, _, images = train_test_split(
        features,
        digits.target,
        digits.images,
        test_size=0.2,
        random_state=SEED,
        stratify=digits.target,
    )
    # An SVC, calibrated so that predict_proba works (SVC(probability=True) is deprecated).
    model = CalibratedClassifierCV(SVC(), ensemble=False)
    model.fit(x_train, y_train)
    accuracy = model.score(x_test, y_test)

    data_dir = args.out / "data"
    model_dir = args.out / "model"
    data_dir.mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("digit_*.png"):
        stale.unlink()

    count = len(images) if args.count is None else min(args.count, len(images))
    rows = []
    for index in range(count):
        name = f"digit_{index:04d}.png"
        pixels = np.round(images[index] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(data_dir / name)
        rows.append((name, int(y_test[index])))
    with open(args.out / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("file", "label"), *rows])
    with open(model_dir / "digits.pkl", "wb") as handle:
        pickle.dump(model, handle)

    print(
        f"prepare: {count} images in {data_dir}, model in {model_dir / 'digits.pkl'} "
        f"(test accuracy {accuracy:.3f})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
