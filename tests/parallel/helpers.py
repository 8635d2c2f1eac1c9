"""Stand-in parameters for reducer tests: plain namespaces with a value and a grad."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def fake_parameters(shapes: dict[int, list[tuple[int, ...]]], layers: int = 4):
    """Zero float32 parameters of the given shapes per layer, and each layer's indices."""
    params, indices, j = [], [], 0
    for i in range(layers):
        group = []
        for shape in shapes.get(i, []):
            params.append(SimpleNamespace(value=np.zeros(shape, np.float32), grad=None))
            group.append(j)
            j += 1
        indices.append(range(group[0], group[-1] + 1) if group else range(0))
    return params, indices
