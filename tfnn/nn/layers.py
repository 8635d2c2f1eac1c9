"""Layers: Linear, the activations and Dropout, each a thin holder around functional ops.

Linear keeps ``W`` of shape (out, in) like torch, so ``y = x @ W.T + b`` and torch weights
map one to one. Its context is ``(x, W)``: the input for the weight gradient and the weight
that forward used for the input gradient (see ``tfnn.nn.layer`` on overlapping updates).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device

from tfnn.backends import Backend
from tfnn.nn import functional as F
from tfnn.nn.init import INITIALIZERS
from tfnn.nn.layer import Layer
from tfnn.nn.parameter import Parameter


class Linear(Layer):
    """Dense layer ``y = x @ W.T + b``, ``W`` of shape (out, in), He or Xavier init.

    Example::

        layer = Linear(784, 256).initialize(seed=0)
        y, ctx = layer.forward(x)
        dW, db = layer.backward_weight(ctx, dy)
    """

    def __init__(
        self, in_features: int, out_features: int, init: str = "he", bias: bool = True
    ) -> None:
        if init not in INITIALIZERS:
            raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, not {init!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.init = init
        self.weight = Parameter("weight")
        self.bias = Parameter("bias") if bias else None

    def parameters(self) -> list[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def init_parameters(self, backend: Backend, rng: Any, dtype: Any) -> None:
        xp = backend.xp
        shape = (self.out_features, self.in_features)
        self.weight.value = INITIALIZERS[self.init](rng, xp, shape, dtype)
        if self.bias is not None:
            self.bias.value = xp.zeros(
                (self.out_features,), dtype=dtype, device=device(self.weight.value)
            )

    def forward(self, x: Any, *, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        W = self.weight.value
        if W is None:
            raise RuntimeError("Linear has no weights yet; call .initialize(backend, seed) first")
        y, x_ctx = F.linear_forward(W, None if self.bias is None else self.bias.value, x)
        return y, (x_ctx, W)

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        return F.linear_backward_input(ctx[1], dy)

    def backward_weight(self, ctx: Any, dy: Any) -> tuple[Any, ...]:
        dW, db = F.linear_backward_weight(ctx[0], dy)
        return (dW,) if self.bias is None else (dW, db)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, init={self.init!r})"


class _Activation(Layer):
    _forward: Any
    _backward: Any

    def forward(self, x: Any, *, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
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


class Dropout(Layer):
    """Inverted dropout with probability ``p``; identity unless ``training`` is True.

    Example::

        y, ctx = Dropout(0.5).forward(x, training=True, rng=backend.rng(step))
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = float(p)

    def forward(self, x: Any, *, training: bool = False, rng: Any = None) -> tuple[Any, Any]:
        if not training or self.p == 0.0:
            return x, None
        if rng is None:
            raise ValueError("Dropout in training mode needs a generator: rng=backend.rng(seed)")
        return F.dropout_forward(x, F.dropout_mask(rng, x.shape, self.p, like=x))

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        return dy if ctx is None else F.dropout_backward(ctx, dy)

    def __repr__(self) -> str:
        return f"Dropout({self.p})"
