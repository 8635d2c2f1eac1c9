"""numpy on the CPU: the default backend, with nothing asynchronous about it.

``cpu:N`` names virtual CPU devices (for CPU-only multi-device runs); they all share the
host's memory, so numpy arrays carry no device and ``cpu:0`` and ``cpu:1`` mix freely.
Its stream pool is the immediate one: ``launch`` computes at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo, MemoryInfo
from tfnn.backends.devices import parse_device
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


class NumpyBackend:
    """numpy arrays on ``cpu``; ``xp`` is array-api-compat's numpy namespace."""

    name = "numpy"

    def __init__(self, device: str = "cpu") -> None:
        if parse_device(device).kind != "cpu":
            raise BackendError(
                f"the numpy backend runs on the CPU only, not on {device!r}; "
                "use device='cpu' or a GPU backend such as cupy"
            )
        self.device = device
        self.xp = xp_numpy

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a)

    def rng(self, seed: int) -> NumpyGenerator:
        return NumpyGenerator(seed)

    def stream_pool(self, size: int = 4) -> ImmediateStreamPool:
        return ImmediateStreamPool(size)

    def memory_info(self) -> MemoryInfo | None:
        """None: host memory is not the backend's to report."""
        return None

    def synchronize(self) -> None:
        """Nothing to wait for: numpy computes eagerly."""

    def limit_threads(self, threads: int) -> int:
        """Nothing to cap per thread (see ``Backend.limit_threads``)."""
        return threads

    def __repr__(self) -> str:
        return f"NumpyBackend(device={self.device!r})"


def describe() -> BackendInfo:
    """numpy's row in ``tfnn info``."""
    host = DeviceInfo("cpu", f"host CPU, {os.cpu_count()} cores; cpu:N are virtual devices")
    return BackendInfo("numpy", None, np.__version__, (host,))
