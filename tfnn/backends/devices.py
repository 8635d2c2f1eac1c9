"""Device names and the one-device rule.

A device is named ``cpu``, ``cpu:N`` (virtual CPU devices) or ``cuda:N``; ``cuda`` alone
means ``cuda:0``. An operation takes arrays of one backend on one device only:
``check_same_device`` says which two arrays break that rule, before the library raises
something less helpful (or, for numpy's virtual devices, nothing at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import array_api_compat

from tfnn.backends.base import BackendError

_DEVICE = re.compile(r"(cpu|cuda)(?::(\d+))?")


@dataclass(frozen=True)
class DeviceName:
    """A parsed device name: ``kind`` is ``cpu`` or ``cuda``; ``index`` counts from 0."""

    kind: str
    index: int


def parse_device(device: str) -> DeviceName:
    """Split a device name into kind and index, or raise BackendError.

    Example::

        parse_device("cuda:1")   # DeviceName(kind='cuda', index=1)
    """
    match = _DEVICE.fullmatch(device.strip().lower()) if isinstance(device, str) else None
    if match is None:
        raise BackendError(
            f"malformed device {device!r}: use 'cpu', 'cpu:N' or 'cuda:N' with N = 0, 1, ..."
        )
    return DeviceName(match[1], int(match[2] or 0))


def no_such_device(device: str, library: str, count: int) -> BackendError:
    """The error for ``cuda:N`` past the last GPU that ``library`` sees."""
    have = f"cuda:0 to cuda:{count - 1}" if count > 1 else "cuda:0"
    return BackendError(
        f"device {device!r} does not exist: {library} sees {count} CUDA "
        f"device{'s' if count > 1 else ''} ({have}); pick one of those, or set "
        "CUDA_VISIBLE_DEVICES to show more"
    )


def check_same_device(*arrays: Any) -> Any:
    """Return the array namespace of ``arrays``; raise BackendError if they mix
    backends or devices. Python scalars and None are ignored.

    Example::

        xp = check_same_device(W, x)
        y = xp.matmul(x, W)
    """
    arrays = tuple(a for a in arrays if array_api_compat.is_array_api_obj(a))
    if not arrays:
        raise BackendError("check_same_device needs at least one array")
    first = arrays[0]
    for other in arrays[1:]:
        if _library(other) != _library(first):
            raise BackendError(
                f"one operation mixes a {_library(first)} array with a {_library(other)} "
                "array; convert both with the same backend's asarray first"
            )
        if array_api_compat.device(other) != array_api_compat.device(first):
            raise BackendError(
                f"one operation mixes {_library(first)} arrays on devices "
                f"{array_api_compat.device(first)} and {array_api_compat.device(other)}; "
                "move them to one device with that backend's asarray first"
            )
    return array_api_compat.array_namespace(*arrays)


def _library(a: Any) -> str:
    return type(a).__module__.split(".")[0]
