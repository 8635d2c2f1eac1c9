"""Activation layers (ReLU, Tanh, Sigmoid, GELU) around ``tfnn.nn.functional.activation``.

Each is parameterless: its context is what the op's backward needs, returned, not stored.
"""

from __future__ import annotations

from typing import Any

import tfnn.nn.functional as F
from tfnn.backends import Generator
from tfnn.nn.base import Layer


class _Activation(Layer):
    _forward: Any
    _backward: Any

    def forward(
        self, x: Any, *, training: bool = False, rng: Generator | None = None
    ) -> tuple[Any, Any]:
        return self._forward(x)

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        return self._backward(ctx, dy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    """``max(x, 0)``. Example: ``y, ctx = ReLU().forward(x)``."""

    _forward = staticmethod(F.relu_forward)
    _backward = staticmethod(F.relu_backward)


class Tanh(_Activation):
    """``tanh(x)``. Example: ``y, ctx = Tanh().forward(x)``."""

    _forward = staticmethod(F.tanh_forward)
    _backward = staticmethod(F.tanh_backward)


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))``. Example: ``y, ctx = Sigmoid().forward(x)``."""

    _forward = staticmethod(F.sigmoid_forward)
    _backward = staticmethod(F.sigmoid_backward)


class GELU(_Activation):
    """GELU, tanh approximation (torch's ``GELU(approximate="tanh")``).

    Example: ``y, ctx = GELU().forward(x)``.
    """

    _forward = staticmethod(F.gelu_forward)
    _backward = staticmethod(F.gelu_backward)
