"""Regenerate the embedded MNIST sample from the official files.

For each split, a generator ``np.random.default_rng(SEED)`` picks ``PER_CLASS[split]``
indices of each digit without replacement (digits 0 to 9 in turn); the indices are sorted,
so the sample keeps the official order. Images, labels and indices are written as gzipped
IDX files without name or time stamp (byte-identical on every run with the same zlib), and
``README.md`` records the seed and the md5 of every uncompressed file.

Usage::

    python -m tfnn.data.make_sample ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from tfnn.data.errors import DataError
from tfnn.data.idx import encode_idx, write_idx
from tfnn.data.mnist import FILES, load_mnist
from tfnn.data.sample import SAMPLE_DIR

SEED = 1307
PER_CLASS = {"train": 600, "test": 100}


def select(labels: np.ndarray, per_class: int, seed: int = SEED) -> np.ndarray:
    """Sorted int32 indices: ``per_class`` of each digit 0-9, drawn without replacement.

    Example::

        select(np.array([0, 1, 0, 1, 1], dtype=np.uint8), 1, seed=0)   # e.g. array([2, 3])
    """
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(10)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int32)


def make_sample(source: Path, out: Path = SAMPLE_DIR) -> None:
    """Write the sample files and README for the official MNIST files in ``source`` to ``out``.

    Example::

        make_sample(Path("../shared/data/mnist"), Path("/tmp/sample"))
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, (images_name, labels_name) in FILES.items():
        images, labels = load_mnist(split, data_dir=source)
        indices = select(labels, PER_CLASS[split])
        files = {
            images_name: images[indices],
            labels_name: labels[indices],
            f"{split}-indices-idx1-int": indices,
        }
        for name, array in files.items():
            write_idx(out / f"{name}.gz", array)
            md5 = hashlib.md5(encode_idx(array), usedforsecurity=False).hexdigest()
            rows.append(f"| {name}.gz | {array.dtype} {array.shape} | {md5} |")
    (out / "README.md").write_text(_readme(rows))


def _readme(rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""# Embedded MNIST sample

A stratified, deterministic subset of MNIST (Y. LeCun, C. Cortes, C. J. C. Burges; made
available under CC BY-SA 3.0) that ships with tfnn so `tfnn train` works offline:
{PER_CLASS["train"]} training and {PER_CLASS["test"]} test images of each digit.

Chosen by `tfnn/data/make_sample.py`: for each split, `np.random.default_rng({SEED})` draws,
for digit 0, then 1, ... then 9, that many indices of the digit without replacement;
the indices are sorted. `*-indices-idx1-int.gz` hold them (int32, positions in the
official files). Regenerate with

    python -m tfnn.data.make_sample ../shared/data/mnist

| file | content | md5 of the uncompressed file |
|---|---|---|
{table}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with the official MNIST IDX files")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="where to write")
    args = parser.parse_args(argv)
    try:
        make_sample(args.source, args.out)
    except DataError as e:
        raise SystemExit(f"make_sample: {e}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
