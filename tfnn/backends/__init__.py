"""Backends: which array library and device the math runs on.

Selection precedence: explicit argument > CLI flag (passed as the argument) >
``TFNN_BACKEND`` / ``TFNN_DEVICE`` environment variables > numpy on ``cpu`` (cupy's
default device is ``cuda:0``). Name and device are chosen separately: ``TFNN_DEVICE``
applies whenever no device is given, even with a backend name given. With neither, a
GPU backend (cupy, torch) in a process that a launcher started as one of several ranks
(``mpiexec -n 4 python train.py``) takes its rank's GPU, ``cuda:(local rank mod device
count)`` (``tfnn.placement``), so each rank of a data-parallel job has a GPU of its own.

The registry maps each backend name to the module and class that implement it. A
backend's module is imported only when that backend is asked for, and cupy and torch
only inside it, so ``import tfnn.backends`` never imports cupy or torch.

Example::

    from tfnn.backends import get_backend
    be = get_backend()                 # numpy on cpu unless TFNN_BACKEND says otherwise
    x = be.asarray([1.0, 2.0], dtype=be.xp.float32)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType

from tfnn.backends.base import (
    Backend,
    BackendError,
    BackendInfo,
    DeviceInfo,
    Event,
    Generator,
    MemoryInfo,
    Stream,
    StreamPool,
)
from tfnn.backends.devices import check_same_device, parse_device
from tfnn.backends.namespace import namespace_of
from tfnn.placement import rank_gpu

__all__ = [
    "Backend",
    "BackendError",
    "BackendInfo",
    "DeviceInfo",
    "Event",
    "Generator",
    "MemoryInfo",
    "Stream",
    "StreamPool",
    "available_backends",
    "check_same_device",
    "describe_backends",
    "get_backend",
    "namespace_of",
    "parse_device",
]

# name -> (module, class, default device)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "numpy": ("tfnn.backends.numpy_backend", "NumpyBackend", "cpu"),
    "array_api_strict": ("tfnn.backends.strict_backend", "StrictBackend", "cpu"),
    "torch": ("tfnn.backends.torch_backend", "TorchBackend", "cpu"),
    "cupy": ("tfnn.backends.cupy_backend", "CupyBackend", "cuda:0"),
}


def get_backend(name: str | None = None, device: str | None = None) -> Backend:
    """Return the backend ``name`` on ``device``; see the module docstring for defaults.

    Example::

        get_backend("torch", "cpu").xp.float32   # torch.float32
    """
    name = name or os.environ.get("TFNN_BACKEND") or "numpy"
    device = device or os.environ.get("TFNN_DEVICE")
    if device is not None:
        # A malformed name is the user's mistake whatever is installed: say so first.
        parse_device(device)
    module = _module(name)
    device = device or _default_device(name, module)
    backend: Backend = getattr(module, _REGISTRY[name][1])(device)
    return backend


def _default_device(name: str, module: ModuleType) -> str:
    """The rank's GPU under a launcher (GPU backends only), else the backend's default."""
    device_count: Callable[[], int] | None = getattr(module, "device_count", None)
    gpu = rank_gpu(device_count) if device_count is not None else None
    return gpu or _REGISTRY[name][2]


def available_backends() -> dict[str, str | None]:
    """Map each known backend to None when usable here, else the reason it is not.

    Example::

        available_backends()["cupy"]   # "backend 'cupy' is not installed ...; pip install ..."
    """
    return {info.name: info.reason for info in describe_backends()}


def describe_backends() -> list[BackendInfo]:
    """One row per known backend: usable or why not, version, devices, GPU names and memory.

    Example::

        for info in describe_backends():
            print(info.name, info.usable, [d.device for d in info.devices])
    """
    return [_module(name).describe() for name in _REGISTRY]


def _module(name: str) -> ModuleType:
    if name not in _REGISTRY:
        raise BackendError(
            f"unknown backend {name!r}; known backends: {', '.join(sorted(_REGISTRY))} "
            "(tfnn info shows which are usable here)"
        )
    return importlib.import_module(_REGISTRY[name][0])
