"""array-api-strict: the standard and nothing more, for tests.

Its arrays refuse anything outside the array API standard (numpy-only methods, silent
float64 promotion from Python scalars in mixed-kind operations) and its fake devices
refuse cross-device operations, so layer math proven here is portable. The host-backend half
(immediate streams, seeded PCG64 draws as numpy's) is ``HostBackend``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfnn.backends.base import BackendError, BackendInfo, DeviceInfo
from tfnn.backends.devices import parse_device
from tfnn.backends.host import HostBackend

_NOT_INSTALLED = "backend 'array_api_strict' is not installed; pip install 'tfnn[test]'"
_DEVICES = {"cpu": "CPU_DEVICE", "cpu:0": "CPU_DEVICE", "cpu:1": "device1", "cpu:2": "device2"}


class StrictBackend(HostBackend):
    """array_api_strict arrays; ``cpu:1`` and ``cpu:2`` are its fake second devices."""

    name = "array_api_strict"

    def __init__(self, device: str = "cpu") -> None:
        try:
            import array_api_strict
        except ImportError as e:
            raise BackendError(_NOT_INSTALLED) from e
        parse_device(device)
        if device not in _DEVICES:
            raise BackendError(
                "array_api_strict has the devices cpu (also cpu:0), cpu:1 and cpu:2; "
                f"use one of them instead of {device!r}"
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


def describe() -> BackendInfo:
    """array_api_strict's row in ``tfnn info``."""
    try:
        import array_api_strict
    except ImportError:
        return BackendInfo("array_api_strict", _NOT_INSTALLED)
    devices = tuple(
        DeviceInfo(name, f"fake device {fake!r}")
        for name, fake in _DEVICES.items()
        if name != "cpu:0"
    )
    return BackendInfo("array_api_strict", None, array_api_strict.__version__, devices)
