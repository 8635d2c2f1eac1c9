"""The dense layer ``Linear``, a thin holder around ``tfnn.nn.functional.linear``.

Linear keeps ``W`` of shape (out, in) like torch, so ``y = x @ W.T + b`` and torch weights
map one to one. Its context is ``(x, W)``: the input for the weight gradient and the weight
that forward used for the input gradient (see ``tfnn.nn.base`` on overlapping updates).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import device

import tfnn.nn.functional as F
from tfnn.backends import Backend, Generator
from tfnn.nn.base import Layer
from tfnn.nn.init import INITIALIZERS
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

    def init_parameters(self, backend: Backend, rng: Generator, dtype: Any) -> None:
        xp = backend.xp
        shape = (self.out_features, self.in_features)
        self.weight.value = INITIALIZERS[self.init](rng, xp, shape, dtype)
        if self.bias is not None:
            self.bias.value = xp.zeros(
                (self.out_features,), dtype=dtype, device=device(self.weight.value)
            )

    def forward(
        self, x: Any, *, training: bool = False, rng: Generator | None = None
    ) -> tuple[Any, Any]:
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

    def backward_weight_rows(self, ctx: Any, dy: Any, lo: int, hi: int) -> tuple[Any, ...]:
        """The weight gradients of output units ``lo:hi`` alone (rows of ``W`` and ``b``):
        those rows of ``backward_weight``'s, computed on their own so that a block can be
        sent before the next one is computed."""
        return self.backward_weight(ctx, dy[:, lo:hi])

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, init={self.init!r})"
