"""Gradient buckets and their allreduce: what an ``AR(b)`` task does.

Layers with parameters are grouped into *buckets*, from the top layer down (the order
in which backward produces their gradients): a bucket closes once it holds at least
``bucket_bytes`` of gradients (``0``: one bucket per layer; ``None``: one bucket for
the whole model, i.e. one allreduce per step). ``reduce(b)`` packs bucket ``b``'s
gradients into one contiguous buffer, sums it over all ranks in place, and points each
``Parameter.grad`` at its part of the result; ``start(b)`` and ``finish(b)`` are its two
halves (the exchange runs in between: a non-blocking allreduce, see
``tfnn.parallel.communicator.start_allreduce``). The buckets, their layout and the order
of their reductions are the same on every rank and every run, so a run is
deterministic for a given rank count.

A large layer may be *split* (``split``: layer -> number of blocks) into blocks of rows
(output units), a bucket each: ``compute_and_start`` computes its weight gradient block
by block (``backward_weight_rows``) and starts each block's exchange at once, and
``finish_and_update`` updates each block (``Optimizer.step_param_rows``) as soon as its
exchange is through, while the next block's is in flight. So the first layer, whose
gradient is computed last and holds most of the bytes, no longer waits whole.

Each rank's gradients are already weighted by its share of the global batch (the loss
is, see ``tfnn.parallel.sharding``), so the sum is the global batch's gradient.

Device arrays: when the communicator is not CUDA-aware, the packed buffer goes through
host memory (``tfnn.parallel.staging.HostStaging``: one page-locked buffer per bucket,
reused every step, filled and emptied by asynchronous copies on a stream of the
parameters' GPU), reduced there, and copied into a fresh device array (the optimizer
may keep the gradient it is given: a momentum buffer starts as the first gradient). The
copies run on the communicator's stream thread, with the parameters' GPU current, after
the event of the weight gradient it waits on.

State: the buckets (tuples of layer indices), the rows of each block bucket, the block
buckets of each split layer, per layer the parameter indices, the started exchanges
(bucket -> pending allreduce, its buffer and the gradients' shapes), and ``seconds``/``calls``
spent in the allreduce, starting and waiting (for the benchmark's exposed time per step).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from tfnn.parallel.communicator import Pending, start_allreduce
from tfnn.parallel.staging import HostStaging


def make_buckets(layer_bytes: dict[int, int], bucket_bytes: int | None) -> list[tuple[int, ...]]:
    """Group layers (index -> gradient bytes) into buckets, top layer first.

    Example::

        make_buckets({0: 800, 2: 130, 4: 40}, bucket_bytes=100)   # [(4, 2), (0,)]
    """
    layers = sorted(layer_bytes, reverse=True)
    if bucket_bytes is None:
        return [tuple(layers)] if layers else []
    buckets: list[tuple[int, ...]] = []
    current: list[int] = []
    held = 0
    for i in layers:
        current.append(i)
        held += layer_bytes[i]
        if held >= bucket_bytes:
            buckets.append(tuple(current))
            current, held = [], 0
    if current:
        buckets.append(tuple(current))
    return buckets


def plan_buckets(
    layer_bytes: dict[int, int],
    bucket_bytes: int | None,
    pieces: dict[int, list[tuple[int, int]]],
) -> tuple[list[tuple[int, ...]], dict[int, tuple[int, int]]]:
    """``make_buckets``, except that a layer in ``pieces`` (layer -> its row blocks) gets
    a bucket per block, in its place top-down; returns the buckets and, for the blocks'
    buckets, their rows.

    Example::

        plan_buckets({0: 800, 2: 130, 4: 40}, 100, {0: [(0, 8), (8, 16)]})
        # ([(4, 2), (0,), (0,)], {1: (0, 8), 2: (8, 16)})
    """
    buckets: list[tuple[int, ...]] = []
    rows_of: dict[int, tuple[int, int]] = {}
    run: dict[int, int] = {}
    for i in sorted(layer_bytes, reverse=True):
        if i not in pieces:
            run[i] = layer_bytes[i]
            continue
        buckets += make_buckets(run, bucket_bytes)
        run = {}
        for rows in pieces[i]:
            rows_of[len(buckets)] = rows
            buckets.append((i,))
    buckets += make_buckets(run, bucket_bytes)
    return buckets, rows_of


class GradientReducer:
    """Allreduce of gradient buckets over ``communicator`` (see the module docstring).

    Example::

        reducer = GradientReducer(optimizer.params, work.indices, comm, backend, 0)
        for b in range(len(reducer.buckets)): reducer.reduce(b)   # after backward
    """

    def __init__(
        self,
        params: Sequence[Any],
        indices: Sequence[Sequence[int]],
        communicator: Any,
        backend: Any,
        bucket_bytes: int | None = 0,
        split: Mapping[int, int] | None = None,
    ) -> None:
        self.params = params
        self.indices = indices
        self.communicator = communicator
        self.backend = backend
        sizes = {
            i: sum(_nbytes(params[j].value) for j in group)
            for i, group in enumerate(indices)
            if len(group)
        }
        pieces = {i: _row_blocks(params[indices[i][0]].value, k) for i, k in (split or {}).items()}
        self.buckets, self.rows_of = plan_buckets(sizes, bucket_bytes, pieces)
        self.pieces_of = {i: [b for b in self.rows_of if self.buckets[b] == (i,)] for i in pieces}
        self.bucket_of = {i: b for b, layers in enumerate(self.buckets) for i in layers}
        host = isinstance(params[0].value, np.ndarray) if params else True
        self.staged = not host and not communicator.cuda_aware
        self.seconds = 0.0
        self.calls = 0
        self._pending: dict[int, tuple[Pending, Any, list[Any]]] = {}
        self._staging: HostStaging | None = None  # made at the first staged reduction

    def reduce(self, bucket: int) -> None:
        """Sum bucket ``bucket``'s gradients over all ranks, in place of each ``grad``."""
        self.start(bucket)
        self.finish(bucket)

    def start(self, bucket: int, grads: Sequence[Any] | None = None) -> None:
        """Pack bucket ``bucket``'s gradients (``grads``, else the parameters' ``grad``)
        and start their allreduce (``finish`` ends it)."""
        # The stream's thread has no GPU of its own: work on the parameters' GPU.
        with _device_scope(self.backend):
            if grads is None:
                grads = [self.params[j].grad for i in self.buckets[bucket] for j in self.indices[i]]
            xp = self.backend.xp
            flat = xp.concat([xp.reshape(g, (-1,)) for g in grads])
            buffer = self._host_staging().to_host(bucket, flat) if self.staged else flat
            begin = time.perf_counter()
            pending = start_allreduce(self.communicator, _raw(buffer))
            self._pending[bucket] = (pending, buffer, [g.shape for g in grads])
            self.seconds += time.perf_counter() - begin
            self.calls += 1

    def finish(self, bucket: int) -> list[Any]:
        """Wait for bucket ``bucket``'s allreduce; return the summed gradients, which also
        become the parameters' ``grad`` unless the bucket is a block of rows."""
        pending, buffer, shapes = self._pending.pop(bucket)
        with _device_scope(self.backend):
            begin = time.perf_counter()
            pending.wait()
            self.seconds += time.perf_counter() - begin
            flat = self._host_staging().to_device(bucket) if self.staged else buffer
            xp = self.backend.xp
            sums, offset = [], 0
            for shape in shapes:
                n = math.prod(int(d) for d in shape)
                sums.append(xp.reshape(flat[offset : offset + n], shape))
                offset += n
        if bucket not in self.rows_of:
            js = [j for i in self.buckets[bucket] for j in self.indices[i]]
            for j, g in zip(js, sums, strict=True):
                self.params[j].grad = g
        return sums

    def compute_and_start(self, i: int, layer: Any, ctx: Any, dy: Any) -> None:
        """Layer ``i``'s weight gradient block by block (``layer.backward_weight_rows``),
        each block's exchange started as soon as it is computed."""
        for b in self.pieces_of[i]:
            lo, hi = self.rows_of[b]
            self.start(b, layer.backward_weight_rows(ctx, dy, lo, hi))

    def finish_and_update(self, i: int, optimizer: Any) -> None:
        """Layer ``i``'s update block by block (``optimizer.step_param_rows``), each block
        as soon as its exchange is through, while the next one is still in flight."""
        for b in self.pieces_of[i]:
            lo, hi = self.rows_of[b]
            for j, g in zip(self.indices[i], self.finish(b), strict=True):
                optimizer.step_param_rows(j, lo, hi, g)

    def _host_staging(self) -> HostStaging:
        if self._staging is None:
            sizes = [
                sum(self._elements(b, j) for i in layers for j in self.indices[i])
                for b, layers in enumerate(self.buckets)
            ]
            self._staging = HostStaging(self.backend, sizes)
        return self._staging

    def _elements(self, bucket: int, j: int) -> int:
        shape = self.params[j].value.shape
        lo, hi = self.rows_of.get(bucket, (0, shape[0]))
        return (hi - lo) * math.prod(int(d) for d in shape[1:])

    def reduce_all(self) -> None:
        """Every bucket in the fixed order (the sequential strategy, and tests), but for
        the blocks of rows: ``compute_and_start`` and ``finish_and_update`` do those."""
        for b in range(len(self.buckets)):
            if b not in self.rows_of:
                self.reduce(b)

    def reduce_values(self, values: Sequence[float]) -> list[float]:
        """The sums over all ranks of a few host numbers (float64: counts stay exact)."""
        buffer = np.array(values, dtype=np.float64)
        self.communicator.allreduce(buffer)
        return [float(v) for v in buffer]


def _device_scope(backend: Any) -> Any:
    device = str(getattr(backend, "device", "cpu"))
    if getattr(backend, "name", "") == "cupy" and device.startswith("cuda:"):
        import cupy

        return cupy.cuda.Device(int(device.split(":")[1]))
    return contextlib.nullcontext()


def _row_blocks(value: Any, blocks: int) -> list[tuple[int, int]]:
    rows = int(value.shape[0])
    bounds = [rows * k // blocks for k in range(blocks + 1)]
    return [(lo, hi) for lo, hi in pairwise(bounds) if hi > lo]


def _nbytes(a: Any) -> int:
    return int(getattr(a, "nbytes", _size(a) * 4))


def _size(a: Any) -> int:
    n = 1
    for d in a.shape:
        n *= int(d)
    return n


def _raw(a: Any) -> Any:
    # array-api-compat wraps nothing for numpy/cupy; strict arrays hide theirs in _array.
    return getattr(a, "_array", a)
