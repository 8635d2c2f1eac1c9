"""array-api-strict: the standard and nothing more, for tests.

Its arrays refuse anything outside the array API standard (numpy-only methods, silent
float64 promotion from Python scalars in mixed-kind operations) and its fake devices
refuse cross-device operations, so layer math proven here is portable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfnn.backends.base import BackendError
from tfnn.backends.numpy_backend import NumpyGenerator

_DEVICES = {"cpu": "CPU_DEVICE", "cpu:0": "CPU_DEVICE", "cpu:1": "device1", "cpu:2": "device2"}


class StrictBackend:
    """array_api_strict arrays; ``cpu:1`` and ``cpu:2`` are its fake second devices."""

    name = "array_api_strict"

    def __init__(self, device: str = "cpu") -> None:
        try:
            import array_api_strict
        except ImportError as e:
            raise BackendError(
                "backend 'array_api_strict' is not installed; pip install 'tfnn[test]'"
            ) from e
        if device not in _DEVICES:
            raise BackendError(
                f"array_api_strict has devices {sorted(_DEVICES)}, not {device!r}"
            )
        self.device = device
        self.xp = array_api_strict
        self._device = array_api_strict.Device(_DEVICES[device])

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        if hasattr(x, "to_device") and not isinstance(x, np.ndarray):
            x = x.to_device(self._device)
            return x if dtype is None else self.xp.astype(x, dtype)
        return self.xp.asarray(np.asarray(x), dtype=dtype, device=self._device)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(a.to_device(self.xp.Device("CPU_DEVICE")))

    def rng(self, seed: int) -> NumpyGenerator:
        return NumpyGenerator(seed, asarray=self.asarray)

    def synchronize(self) -> None:
        """Nothing to wait for: array_api_strict computes eagerly."""

    def __repr__(self) -> str:
        return f"StrictBackend(device={self.device!r})"
