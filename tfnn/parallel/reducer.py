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

Each rank's gradients are already weighted by its share of the global batch (the loss
is, see ``tfnn.parallel.sharding``), so the sum is the global batch's gradient.

Device arrays: when the communicator is not CUDA-aware, the packed buffer goes through
host memory (``tfnn.parallel.staging.HostStaging``: one page-locked buffer per bucket,
reused every step, filled and emptied by asynchronous copies on a stream of the
parameters' GPU), reduced there, and copied into a fresh device array (the optimizer
may keep the gradient it is given: a momentum buffer starts as the first gradient). The
copies run on the communicator's stream thread, with the parameters' GPU current, after
the event of the weight gradient it waits on.

State: the buckets (tuples of layer indices), per layer the parameter indices, the
started exchanges (bucket -> pending allreduce and its buffer), and ``seconds``/``calls``
spent in the allreduce, starting and waiting (for the benchmark's exposed time per step).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
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
        self.buckets = make_buckets(sizes, bucket_bytes)
        self.bucket_of = {i: b for b, layers in enumerate(self.buckets) for i in layers}
        host = isinstance(params[0].value, np.ndarray) if params else True
        self.staged = not host and not communicator.cuda_aware
        self.seconds = 0.0
        self.calls = 0
        self._pending: dict[int, tuple[Pending, Any]] = {}
        self._staging: HostStaging | None = None  # made at the first staged reduction

    def reduce(self, bucket: int) -> None:
        """Sum bucket ``bucket``'s gradients over all ranks, in place of each ``grad``."""
        self.start(bucket)
        self.finish(bucket)

    def start(self, bucket: int) -> None:
        """Pack bucket ``bucket``'s gradients and start their allreduce (``finish`` ends it)."""
        # The stream's thread has no GPU of its own: work on the parameters' GPU.
        with _device_scope(self.backend):
            grads = [self.params[j].grad for i in self.buckets[bucket] for j in self.indices[i]]
            xp = self.backend.xp
            flat = xp.concat([xp.reshape(g, (-1,)) for g in grads])
            buffer = self._host_staging().to_host(bucket, flat) if self.staged else flat
            begin = time.perf_counter()
            self._pending[bucket] = (start_allreduce(self.communicator, _raw(buffer)), buffer)
            self.seconds += time.perf_counter() - begin
            self.calls += 1

    def finish(self, bucket: int) -> None:
        """Wait for bucket ``bucket``'s allreduce; point each ``grad`` at its part of the sum."""
        pending, buffer = self._pending.pop(bucket)
        with _device_scope(self.backend):
            begin = time.perf_counter()
            pending.wait()
            self.seconds += time.perf_counter() - begin
            flat = self._host_staging().to_device(bucket) if self.staged else buffer
            xp = self.backend.xp
            offset = 0
            for i in self.buckets[bucket]:
                for j in self.indices[i]:
                    g = self.params[j].grad
                    n = _size(g)
                    self.params[j].grad = xp.reshape(flat[offset : offset + n], g.shape)
                    offset += n

    def _host_staging(self) -> HostStaging:
        if self._staging is None:
            sizes = [
                sum(_size(self.params[j].value) for i in layers for j in self.indices[i])
                for layers in self.buckets
            ]
            self._staging = HostStaging(self.backend, sizes)
        return self._staging

    def reduce_all(self) -> None:
        """Every bucket in the fixed order (the sequential strategy, and tests)."""
        for b in range(len(self.buckets)):
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
