"""Find and load MNIST: the four standard IDX files, from wherever they are.

Resolution order for the directory that holds the files: the ``data_dir`` argument, then
``$TFNN_DATA_DIR``, then the cache directory if it already holds the split's files, then a
download from the mirrors into the cache. An explicit directory (argument or variable) is
used alone: a missing file there is an error, never a silent download. In a directory each
file may be raw (``train-images-idx3-ubyte``) or gzipped (``...-ubyte.gz``); raw wins
when both exist.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfnn.data.errors import DataError
from tfnn.data.fetch import default_cache_dir, download
from tfnn.data.idx import read_idx

DATA_DIR_ENV = "TFNN_DATA_DIR"

FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def load_mnist(
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download_missing: bool = True,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split as ``(images uint8 (N, 28, 28), labels uint8 (N,))``.

    ``cache_dir`` defaults to ``default_cache_dir()``; ``download_missing=False`` turns an
    empty cache into an error instead of a download; ``progress=None`` shows a download
    bar on a TTY only.

    Example::

        images, labels = load_mnist("test", data_dir="../shared/data/mnist")
        images.shape, labels.shape   # ((10000, 28, 28), (10000,))
    """
    names = split_files(split)
    explicit = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if explicit is not None:
        source = "data_dir" if data_dir is not None else f"${DATA_DIR_ENV}"
        paths = [_find(Path(explicit), name, source) for name in names]
    else:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        paths = [_cached(cache, name, download_missing, progress) for name in names]
    return read_pair(*paths)


def split_files(split: str) -> tuple[str, str]:
    """The (images, labels) file names of ``split``, without ``.gz``.

    Example::

        split_files("test")   # ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
    """
    if split not in FILES:
        raise ValueError(f"unknown MNIST split {split!r}; use one of {sorted(FILES)}")
    return FILES[split]


def _existing(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find(directory: Path, name: str, source: str) -> Path:
    found = _existing(directory, name)
    if found is None:
        raise DataError(
            f"{directory} (from {source}) holds neither {name} nor {name}.gz; "
            f"point {source} at a folder with the four MNIST IDX files"
        )
    return found


def _cached(cache: Path, name: str, download_missing: bool, progress: bool | None) -> Path:
    found = _existing(cache, name)
    if found is not None:
        return found
    if not download_missing:
        raise DataError(
            f"MNIST file {name} is not in the cache {cache} and downloading is off; "
            f"pass data_dir (or set ${DATA_DIR_ENV}) to a folder with the MNIST IDX files"
        )
    return download(f"{name}.gz", MD5[name], cache, progress=progress)


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file (uint8, 3-D) and its labels file (uint8, 1-D).

    Example::

        images, labels = read_pair(Path("t10k-images-idx3-ubyte"), Path("t10k-labels-idx1-ubyte"))
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path} holds {images.dtype} of shape {images.shape}, not uint8 images "
            f"(N, rows, cols); check that it is an MNIST images file"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(
            f"{labels_path} holds {labels.dtype} of shape {labels.shape}, not uint8 labels "
            f"(N,); check that it is an MNIST labels file"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels; the two files must come from the same split and release"
        )
    if labels.size and labels.max() > 9:
        at = int(labels.argmax())
        raise DataError(
            f"{labels_path} holds the label {labels[at]} at position {at}, but MNIST labels "
            "are digits 0..9: the file is corrupt; replace it with a good copy"
        )
    return images, labels
