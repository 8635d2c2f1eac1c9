"""``namespace_of(x)``: the array-API namespace of an array, cached by array type.

``array_api_compat.array_namespace`` inspects its argument on every call (about 3 µs),
and layer math asks once per op, which on a small MLP was 8% of a training step. The
namespace depends only on the array's type (numpy, cupy, torch, array_api_strict
arrays each have one), so one lookup per type suffices. Mixing arrays of two libraries
is caught by ``check_same_device``, not here.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

_BY_TYPE: dict[type, Any] = {}


def namespace_of(x: Any) -> Any:
    """The array-API namespace of ``x``.

    Example::

        xp = namespace_of(np.zeros(3))    # array_api_compat.numpy
    """
    try:
        return _BY_TYPE[type(x)]
    except KeyError:
        xp = _BY_TYPE[type(x)] = array_namespace(x)
        return xp
