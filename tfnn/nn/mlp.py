"""``mlp``: the multi-layer perceptron that ``tfnn train``, ``tfnn graph`` and the benchmark build.

``sizes`` lists the widths from input features to outputs; each pair of neighbours is a
``Linear`` layer, with the activation between two of them and none after the last (the
loss applies the softmax). Parameters are named like ``nn.Sequential``'s (``"0.weight"``,
``"0.bias"``, ``"2.weight"``, ...) and initialised from ``seed``, so the same arguments give
bitwise the same weights.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from tfnn.backends import Backend
from tfnn.nn.activation import GELU, ReLU, Sigmoid, Tanh
from tfnn.nn.base import Layer
from tfnn.nn.linear import Linear
from tfnn.nn.sequential import Sequential

ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "gelu": GELU,
}


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    *,
    seed: int = 0,
    backend: Backend | None = None,
    dtype: Any = None,
    initialize: bool = True,
) -> Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them, initialised from ``seed``
    (``initialize=False`` allocates no parameter, e.g. to draw a graph).

    Example::

        model = nn.mlp([784, 256, 10], "gelu", seed=1)
        len(model.layers)   # 3: Linear(784, 256), GELU(), Linear(256, 10)
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least two sizes (inputs, outputs), not {list(sizes)}")
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(Linear(n_in, n_out))
    return Sequential(*layers, backend=backend, seed=seed, dtype=dtype, initialize=initialize)
