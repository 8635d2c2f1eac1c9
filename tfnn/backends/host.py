"""What the host backends (numpy, array_api_strict) share: eager math in host memory.

``HostBackend`` holds the methods that are the same for every backend whose arrays live
in host memory and compute at once: the immediate stream pool (``launch`` computes on
the calling thread), no device memory to report, nothing to synchronise and no per-thread
cap (numpy's BLAS is capped process-wide with threadpoolctl). A subclass sets ``name``,
``xp`` and ``device`` and implements ``asarray``, ``to_numpy`` and ``rng``.

``NumpyGenerator`` is numpy's PCG64 generator behind a subclass's ``asarray``, so numpy
and array_api_strict draw the same numbers for one seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tfnn.backends.base import MemoryInfo
from tfnn.backends.streams import ImmediateStreamPool


class NumpyGenerator:
    """numpy's PCG64 generator; the same seed gives the same arrays on every machine.

    Draws are made in float64 and cast to ``dtype`` (default: ``float32``) by ``asarray``,
    so numpy and array_api_strict give the same numbers for one seed.
    """

    def __init__(self, seed: int, asarray: Any = np.asarray, float32: Any = np.float32) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._asarray = asarray
        self._float32 = float32

    def normal(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self._asarray(self._rng.standard_normal(shape), dtype=self._float(dtype))

    def uniform(
        self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0, dtype: Any = None
    ) -> Any:
        return self._asarray(self._rng.uniform(low, high, shape), dtype=self._float(dtype))

    def permutation(self, n: int) -> Any:
        return self._asarray(self._rng.permutation(n))

    def _float(self, dtype: Any) -> Any:
        return self._float32 if dtype is None else dtype

    @property
    def state(self) -> Mapping[str, Any]:
        """The bit generator's state, for checkpoints."""
        return self._rng.bit_generator.state

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self._rng.bit_generator.state = value


class HostBackend:
    """The shared half of a host backend (see the module docstring).

    Example::

        class MyHostBackend(HostBackend):
            name = "mine"
            ...   # __init__ sets device and xp; asarray, to_numpy and rng
    """

    name: str
    device: str
    xp: Any

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        raise NotImplementedError

    def rng(self, seed: int) -> NumpyGenerator:
        return NumpyGenerator(seed, asarray=self.asarray, float32=self.xp.float32)

    def stream_pool(self, size: int = 4) -> ImmediateStreamPool:
        """Immediate streams: nothing to create, so a fresh pool per call costs nothing."""
        return ImmediateStreamPool(size)

    def memory_info(self) -> MemoryInfo | None:
        """None: host memory is not the backend's to report."""
        return None

    def synchronize(self) -> None:
        """Nothing to wait for: host backends compute eagerly."""

    def limit_threads(self, threads: int) -> int:
        """Nothing to cap per thread (see ``Backend.limit_threads``)."""
        return threads

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"
