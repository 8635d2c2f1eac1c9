"""MNIST for tfnn: IDX reader, embedded sample, download with checksums and cache, batching.

Example::

    from tfnn.data import Batches, load_mnist, load_mnist_sample

    images, labels = load_mnist_sample("train")          # offline, 6,000 images
    images, labels = load_mnist("train", data_dir=None)  # full set: data_dir, cache, download
    batches = Batches(images, labels, batch_size=128, seed=0)
"""

from tfnn.data.batches import Batches
from tfnn.data.errors import DataError
from tfnn.data.fetch import DownloadError, default_cache_dir, download, mirrors
from tfnn.data.idx import read_idx, write_idx
from tfnn.data.mnist import load_mnist
from tfnn.data.sample import load_mnist_sample

__all__ = [
    "Batches",
    "DataError",
    "DownloadError",
    "default_cache_dir",
    "download",
    "load_mnist",
    "load_mnist_sample",
    "mirrors",
    "read_idx",
    "write_idx",
]
