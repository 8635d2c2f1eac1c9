"""numpy on the CPU: the default backend, with nothing asynchronous about it.

``cpu:N`` names virtual CPU devices (for CPU-only multi-device runs); they all share the
host's memory, so numpy arrays carry no device and ``cpu:0`` and ``cpu:1`` mix freely.
The host-backend half (immediate streams, no memory report) is ``HostBackend``.
"""

from __future__ import annotations

import os
from typing import Any

import array_api_compat.numpy as xp_numpy
import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo
from tfnn.backends.devices import parse_device
from tfnn.backends.host import HostBackend


class NumpyBackend(HostBackend):
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


def describe() -> BackendInfo:
    """numpy's row in ``tfnn info``."""
    host = DeviceInfo("cpu", f"host CPU, {os.cpu_count()} cores; cpu:N are virtual devices")
    return BackendInfo("numpy", None, np.__version__, (host,))
