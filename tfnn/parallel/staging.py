"""Pinned host staging: GPU gradients through host memory for an MPI that is not CUDA-aware.

``HostStaging(backend, bucket_sizes)`` keeps one host buffer per gradient bucket
(``bucket_sizes[b]`` elements), made at the bucket's first reduction and reused at every
step after it:

- ``to_host(b, flat)`` copies the bucket's packed device gradients into buffer ``b`` and
  returns it, a numpy array that MPI reduces in place;
- ``to_device(b)`` copies buffer ``b`` into a *fresh* device array: the optimizer may keep
  the gradient it is given (a momentum buffer starts as the first gradient), so the
  result must not be memory that the next step overwrites.

How the bytes move depends on the backend (``host_copies``): for cupy and torch on a GPU
the buffers are page-locked (``cupyx.empty_pinned``, ``torch.empty(pin_memory=True)``,
viewed as numpy), so a copy is one DMA with no bounce through a driver buffer, and it is
enqueued asynchronously on a stream of the parameters' GPU that first waits for the
calling thread's current stream (where the packed gradients, or the memory the fresh
array reuses, were last touched); the host then synchronises that stream, before MPI
reads the buffer and before the fresh array is handed on (its consumers wait on the
communicator stream's host event, not on this stream). Other backends (the simulated
device's stand-ins, host arrays) use plain numpy buffers and the backend's own
``to_numpy``/``asarray``.

State: the backend's copier (``HostCopies``, with its stream) and per bucket the buffer
(``Staged``: the library's object and its numpy view) or None before its first use.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Staged:
    """One bucket's host buffer: ``native`` as the library made it, ``host`` its numpy view."""

    native: Any
    host: np.ndarray


class HostCopies(Protocol):
    """A backend's copies between its device arrays and host buffers."""

    pinned: bool

    def allocate(self, n: int, like: Any) -> Staged: ...
    def to_host(self, flat: Any, buffer: Staged) -> None: ...
    def to_device(self, buffer: Staged) -> Any: ...


class HostStaging:
    """Reused host buffers for a reducer's buckets (see the module docstring).

    Example::

        staging = HostStaging(backend, [n0, n1])
        host = staging.to_host(0, flat); comm.allreduce(host); flat = staging.to_device(0)
    """

    def __init__(self, backend: Any, bucket_sizes: Sequence[int]) -> None:
        self.backend = backend
        self.sizes = [int(n) for n in bucket_sizes]
        self.copies = host_copies(backend)
        self._buffers: list[Staged | None] = [None] * len(self.sizes)

    @property
    def pinned(self) -> bool:
        """Whether the buffers are page-locked (False: plain numpy memory)."""
        return self.copies.pinned

    def to_host(self, bucket: int, flat: Any) -> np.ndarray:
        """Copy ``flat`` (bucket ``bucket``'s packed gradients) into its host buffer."""
        buffer = self._buffers[bucket]
        if buffer is None:
            buffer = self.copies.allocate(self.sizes[bucket], flat)
            self._buffers[bucket] = buffer
        if buffer.host.size != _size(flat):
            raise ValueError(
                f"bucket {bucket} holds {buffer.host.size} elements, got {_size(flat)}"
            )
        self.copies.to_host(flat, buffer)
        return buffer.host

    def to_device(self, bucket: int) -> Any:
        """A fresh device array with bucket ``bucket``'s host buffer (after the allreduce)."""
        buffer = self._buffers[bucket]
        if buffer is None:
            raise ValueError(f"to_device({bucket}) before to_host({bucket})")
        return self.copies.to_device(buffer)


def host_copies(backend: Any) -> HostCopies:
    """The copier for ``backend``: pinned for cupy and torch on a GPU, else plain."""
    device = str(getattr(backend, "device", "cpu"))
    name = getattr(backend, "name", "")
    if device.startswith("cuda"):
        if name == "cupy":
            return CupyCopies(int(device.partition(":")[2] or 0))
        if name == "torch":
            return TorchCopies(device)
    return PlainCopies(backend)


class PlainCopies:
    """Ordinary numpy buffers, through the backend's ``to_numpy`` and ``asarray``."""

    pinned = False

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def allocate(self, n: int, like: Any) -> Staged:
        dtype = self.backend.to_numpy(like).dtype
        host = np.empty(n, dtype=dtype)
        return Staged(host, host)

    def to_host(self, flat: Any, buffer: Staged) -> None:
        np.copyto(buffer.host, np.reshape(self.backend.to_numpy(flat), -1))

    def to_device(self, buffer: Staged) -> Any:
        # A copy first: a host backend's asarray would return the reused buffer itself.
        return self.backend.asarray(buffer.host.copy())


class CupyCopies:
    """Pinned buffers and asynchronous copies on a cupy stream of GPU ``index``."""

    pinned = True

    def __init__(self, index: int) -> None:
        import cupy
        import cupyx

        self._cupy = cupy
        self._cupyx = cupyx
        self._index = index
        with cupy.cuda.Device(index):
            self.stream = cupy.cuda.Stream(non_blocking=True)

    def allocate(self, n: int, like: Any) -> Staged:
        host = self._cupyx.empty_pinned((n,), dtype=like.dtype)
        return Staged(host, host)

    def to_host(self, flat: Any, buffer: Staged) -> None:
        cupy = self._cupy
        with cupy.cuda.Device(self._index):
            self._follow_current()
            address = ctypes.c_void_p(buffer.host.ctypes.data)
            flat.data.copy_to_host_async(address, flat.nbytes, self.stream)
            self.stream.synchronize()

    def to_device(self, buffer: Staged) -> Any:
        cupy = self._cupy
        with cupy.cuda.Device(self._index):
            out = cupy.empty(buffer.host.shape, dtype=buffer.host.dtype)
            # The pool hands `out` a block freed on the current stream, whose last reader
            # may still be queued there: write it only after that stream's work.
            self._follow_current()
            address = ctypes.c_void_p(buffer.host.ctypes.data)
            out.data.copy_from_host_async(address, out.nbytes, self.stream)
            self.stream.synchronize()
        return out

    def _follow_current(self) -> None:
        cupy = self._cupy
        event = cupy.cuda.Event(disable_timing=True)
        event.record(cupy.cuda.get_current_stream())
        self.stream.wait_event(event)


class TorchCopies:
    """Pinned buffers and asynchronous copies on a torch stream of ``device``."""

    pinned = True

    def __init__(self, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        self.stream = torch.cuda.Stream(device=self._device)

    def allocate(self, n: int, like: Any) -> Staged:
        native = self._torch.empty(n, dtype=like.dtype, pin_memory=True)
        return Staged(native, native.numpy())

    def to_host(self, flat: Any, buffer: Staged) -> None:
        torch = self._torch
        # The packed gradients were made on the current stream: copy after them.
        self.stream.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(self.stream):
            buffer.native.copy_(flat.reshape(-1), non_blocking=True)
        self.stream.synchronize()

    def to_device(self, buffer: Staged) -> Any:
        torch = self._torch
        out = torch.empty(buffer.native.shape, dtype=buffer.native.dtype, device=self._device)
        # torch's caching allocator may give `out` a block the current stream still reads.
        self.stream.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(self.stream):
            out.copy_(buffer.native, non_blocking=True)
        self.stream.synchronize()
        return out


def _size(a: Any) -> int:
    n = 1
    for d in a.shape:
        n *= int(d)
    return n
