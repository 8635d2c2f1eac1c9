"""A named, trainable array and its gradient: the unit an optimizer updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, eq=False)
class Parameter:
    """``value`` is the array (None until the layer is initialised); ``grad`` is set by
    the training loop and read by an optimizer. ``name`` is stable, e.g. ``"0.weight"``.

    Example::

        for p, g in zip(model.parameters(), grads):
            p.grad = g
    """

    name: str
    value: Any = None
    grad: Any = None
