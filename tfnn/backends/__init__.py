"""Backends: which array library and device the math runs on.

Selection precedence: explicit argument > CLI flag (passed as the argument) >
``TFNN_BACKEND`` / ``TFNN_DEVICE`` environment variables > numpy on ``cpu``.

Example::

    from tfnn.backends import get_backend
    be = get_backend()                 # numpy on cpu unless TFNN_BACKEND says otherwise
    x = be.asarray([1.0, 2.0], dtype=be.xp.float32)
"""

from __future__ import annotations

import os
from collections.abc import Callable

from tfnn.backends.base import Backend, BackendError, Generator

__all__ = ["Backend", "BackendError", "Generator", "available_backends", "get_backend"]


def _numpy(device: str) -> Backend:
    from tfnn.backends.numpy_backend import NumpyBackend

    return NumpyBackend(device)


def _strict(device: str) -> Backend:
    from tfnn.backends.strict_backend import StrictBackend

    return StrictBackend(device)


# Factories import their library lazily: `import tfnn` must never import cupy or torch.
_FACTORIES: dict[str, Callable[[str], Backend]] = {
    "numpy": _numpy,
    "array_api_strict": _strict,
}


def get_backend(name: str | None = None, device: str | None = None) -> Backend:
    """Return the backend ``name`` on ``device``; see the module docstring for defaults."""
    name = name or os.environ.get("TFNN_BACKEND") or "numpy"
    device = device or os.environ.get("TFNN_DEVICE") or "cpu"
    if name not in _FACTORIES:
        raise BackendError(
            f"unknown backend {name!r}; known backends: {', '.join(sorted(_FACTORIES))}"
        )
    return _FACTORIES[name](device)


def available_backends() -> dict[str, str | None]:
    """Map each known backend to None when usable here, else the reason it is not."""
    reasons: dict[str, str | None] = {}
    for name in _FACTORIES:
        try:
            get_backend(name, "cpu")
            reasons[name] = None
        except BackendError as e:
            reasons[name] = str(e)
    return reasons
