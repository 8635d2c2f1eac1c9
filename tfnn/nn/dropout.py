"""The ``Dropout`` layer around ``tfnn.nn.functional.dropout`` (inverted dropout).

The mask is drawn from the generator the caller passes (``rng``), so a training run's
masks follow from its seed and a resumed run draws the same ones.
"""

from __future__ import annotations

from typing import Any

import tfnn.nn.functional as F
from tfnn.backends import Generator
from tfnn.nn.base import Layer


class Dropout(Layer):
    """Inverted dropout with probability ``p``; identity unless ``training`` is True.

    Example::

        y, ctx = Dropout(0.5).forward(x, training=True, rng=backend.rng(step))
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = float(p)

    def forward(
        self, x: Any, *, training: bool = False, rng: Generator | None = None
    ) -> tuple[Any, Any]:
        if not training or self.p == 0.0:
            return x, None
        if rng is None:
            raise ValueError("Dropout in training mode needs a generator: rng=backend.rng(seed)")
        return F.dropout_forward(x, F.dropout_mask(rng, x.shape, self.p, like=x))

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        return dy if ctx is None else F.dropout_backward(ctx, dy)

    def __repr__(self) -> str:
        return f"Dropout({self.p})"
