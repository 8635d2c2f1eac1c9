"""Weight initialisers: He (Kaiming) normal for ReLU nets, Xavier (Glorot) uniform otherwise.

- He normal:      W ~ N(0, 2 / fan_in)
- Xavier uniform: W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))

Numbers are drawn in the generator's default precision (float32) and then cast, so one seed
gives the same initial weights, up to rounding, in every dtype.
"""

from __future__ import annotations

import math
from typing import Any

from tfnn.backends import Generator


def he_normal(rng: Generator, xp: Any, shape: tuple[int, int], dtype: Any) -> Any:
    """Example: ``W = he_normal(backend.rng(0), backend.xp, (out, in), xp.float32)``."""
    fan_in = shape[1]
    return xp.astype(rng.normal(shape), dtype) * math.sqrt(2.0 / fan_in)


def xavier_uniform(rng: Generator, xp: Any, shape: tuple[int, int], dtype: Any) -> Any:
    """Example: ``W = xavier_uniform(backend.rng(0), backend.xp, (out, in), xp.float32)``."""
    fan_out, fan_in = shape
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return xp.astype(rng.uniform(shape, -limit, limit), dtype)


INITIALIZERS = {"he": he_normal, "xavier": xavier_uniform}
