"""The MNIST sample that ships inside the package, so training works offline on a fresh machine.

``tfnn/data/sample/`` holds a stratified, deterministic subset of the official files (600
training and 100 test images per digit) in the standard gzipped IDX files, plus the
indices into the official files that were chosen. ``make_sample.py`` regenerates it;
``sample/README.md`` records the seed and checksums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfnn.data.mnist import read_pair, split_files

SAMPLE_DIR = Path(__file__).parent / "sample"


def load_mnist_sample(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load the embedded sample as ``(images uint8 (N, 28, 28), labels uint8 (N,))``.

    Example::

        images, labels = load_mnist_sample("train")
        images.shape, np.bincount(labels)   # ((6000, 28, 28), array([600, 600, ..., 600]))
    """
    images, labels = split_files(split)
    return read_pair(SAMPLE_DIR / f"{images}.gz", SAMPLE_DIR / f"{labels}.gz")
