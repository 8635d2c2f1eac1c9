"""Sharding the global batch: every rank draws the same order and reads only its slice.

The batch size a user gives is the *global* batch ``B``: step ``s`` of epoch ``e`` covers
positions ``[s B, s B + n_s)`` of ``Batches.order(e)`` (the same permutation on every
rank: it depends only on the seed and the epoch). Rank ``r`` of ``N`` takes the
contiguous part ``shard_bounds(n_s, r, N)`` of it: ``n_s // N`` samples, one more for
the first ``n_s % N`` ranks (an uneven split, e.g. the last, shorter batch). Ranks never
exchange samples.

Each rank's loss is the mean over its ``n_r`` samples; weighted by ``share = n_r / n_s``
and summed over ranks (the allreduce) it is the mean over the global batch, so
gradients, and hence weights, equal a single process's up to float32 summation order.

State: the wrapped ``Batches`` and ``rank``/``ranks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tfnn.data import Batches
from tfnn.parallel.communicator import DistributedError


def shard_bounds(n: int, rank: int, ranks: int) -> tuple[int, int]:
    """The ``[lo, hi)`` part of ``n`` items that ``rank`` of ``ranks`` takes.

    Example::

        [shard_bounds(5, r, 2) for r in range(2)]   # [(0, 3), (3, 5)]
    """
    base, extra = divmod(n, ranks)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class ShardedBatches:
    """This rank's slices of ``batches``' global batches (see the module docstring).

    Example::

        shards = ShardedBatches(Batches(x, y, 128, seed=0), rank=1, ranks=2)
        x1, y1 = shards.batch(0, 0)      # 64 samples: positions 64..127 of epoch 0's order
        shards.size(0), shards.share(0)  # 128 (global), 0.5
    """

    def __init__(self, batches: Batches, rank: int, ranks: int) -> None:
        smallest = min(batches.size(len(batches) - 1), batches.batch_size)
        if smallest < ranks:
            raise DistributedError(
                f"the last batch holds {smallest} samples, fewer than the {ranks} ranks, "
                "so a rank would get none; choose a batch size that leaves at least one "
                "sample per rank in the last batch"
            )
        self.batches = batches
        self.rank = rank
        self.ranks = ranks
        self.batch_size = batches.batch_size

    def __len__(self) -> int:
        return len(self.batches)

    def size(self, step: int) -> int:
        """Samples in the *global* batch at ``step`` (what throughput counts)."""
        return self.batches.size(step)

    def local_size(self, step: int) -> int:
        lo, hi = shard_bounds(self.size(step), self.rank, self.ranks)
        return hi - lo

    def share(self, step: int) -> float:
        """This rank's fraction of the global batch at ``step``."""
        return self.local_size(step) / self.size(step)

    def order(self, epoch: int) -> np.ndarray:
        return self.batches.order(epoch)

    def batch(self, epoch: int, step: int) -> tuple[Any, Any]:
        if not 0 <= step < len(self):
            raise IndexError(f"step {step} is outside an epoch of {len(self)} steps")
        lo, hi = shard_bounds(self.size(step), self.rank, self.ranks)
        begin = step * self.batch_size
        index = self.order(epoch)[begin + lo : begin + hi]
        b = self.batches
        return b.asarray(b.x[index]), b.asarray(b.y[index])

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[Any, Any]]:
        for step in range(start_step, len(self)):
            yield self.batch(epoch, step)
