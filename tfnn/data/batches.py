"""Mini-batches of MNIST: normalised once, shuffled per epoch from a seed, resumable.

At construction the images are normalised once to float32 ``(x / 255 - 0.1307) / 0.3081``
(MNIST's training mean and std; ``normalize=False`` keeps the values, for features that
are not pixels) and flattened to ``(N, 784)`` unless ``flatten=False``;
labels become int64 class indices. Epoch ``e`` visits the samples in the order
``np.random.default_rng([seed, e]).permutation(N)`` (PCG64), so any epoch can be
reproduced alone — resuming at ``(epoch, step)`` needs nothing but those two numbers.
Step ``s`` takes positions ``[s * batch_size, (s + 1) * batch_size)`` of that order; the
last, shorter batch is kept unless ``drop_last``. Each batch goes through ``asarray``
(e.g. ``backend.asarray``) on its way out.

State: the normalised arrays and, as one (epoch, order) tuple, the last epoch's order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tfnn.errors import whole_number

MEAN = 0.1307
STD = 0.3081


class Batches:
    """``(x, y)`` mini-batches of ``images``/``labels`` for any ``(epoch, step)``.

    Example::

        images, labels = load_mnist_sample("train")
        batches = Batches(images, labels, batch_size=64, seed=0, asarray=backend.asarray)
        for x, y in batches.epoch(epoch=0):
            ...   # x: float32 (64, 784), y: int64 (64,); the last batch may be shorter
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        flatten: bool = True,
        normalize: bool = True,
        asarray: Callable[[np.ndarray], Any] = np.asarray,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels; pass one per image")
        batch_size = whole_number(batch_size, "batch_size")
        if drop_last and batch_size > len(images):
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(images)} samples and drop_last "
                f"would leave no batch; use a smaller batch_size or drop_last=False"
            )
        x = np.array(images, dtype=np.float32)
        if normalize:
            x /= np.float32(255)
            x -= np.float32(MEAN)
            x /= np.float32(STD)
        self.x = x.reshape(len(x), -1) if flatten else x
        self.y = np.asarray(labels, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.asarray = asarray
        self._order: tuple[int | None, np.ndarray] = (None, np.arange(0))

    def __len__(self) -> int:
        """Steps per epoch."""
        n, b = len(self.y), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def size(self, step: int) -> int:
        """How many samples the batch at ``step`` of any epoch holds.

        Example::

            Batches(images[:300], labels[:300], 128).size(2)   # 44, the partial last batch
        """
        return min(self.batch_size, len(self.y) - step * self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch`` (the same for the same seed, on every machine).

        Example::

            Batches(images, labels, 32, seed=1).order(0)[:3]   # first three sample indices
        """
        # One tuple, swapped whole: a prefetch task on another thread asking for the next
        # epoch can never pair one epoch's number with another epoch's order.
        cached_epoch, order = self._order
        if cached_epoch != epoch:
            n = len(self.y)
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            self._order = (epoch, order)
        return order

    def batch(self, epoch: int, step: int) -> tuple[Any, Any]:
        """The ``(x, y)`` batch at ``step`` of ``epoch``.

        Example::

            x, y = batches.batch(epoch=3, step=10)
        """
        if not 0 <= step < len(self):
            raise IndexError(f"step {step} is outside an epoch of {len(self)} steps")
        index = self.order(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        return self.asarray(self.x[index]), self.asarray(self.y[index])

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[Any, Any]]:
        """The batches of ``epoch`` from ``start_step`` on (resume where a checkpoint stopped).

        Example::

            for x, y in batches.epoch(2, start_step=15):
                ...
        """
        if not 0 <= start_step <= len(self):
            raise IndexError(f"start_step {start_step} is outside an epoch of {len(self)} steps")
        for step in range(start_step, len(self)):
            yield self.batch(epoch, step)
