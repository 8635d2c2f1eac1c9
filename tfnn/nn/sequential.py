"""Sequential: a chain of layers and the layer-by-layer contract the training graphs use.

Parameters are named ``"{index}.{name}"`` (``"0.weight"``, ``"0.bias"``, ``"2.weight"``),
flattened in layer order. The model is initialised when built (numpy, seed 0, float32 unless
told otherwise; ``initialize=False`` leaves the parameters empty); one generator is shared
by the layers in order, so a seed fixes the whole model. ``forward`` returns the list of
per-layer contexts; ``backward`` walks it in reverse.

A training graph calls the layers one at a time instead:

    y[i], ctx[i] = layers[i].forward(y[i-1], training=..., rng=...)
    dy[i-1]      = layers[i].backward_input(ctx[i], dy[i])      # skip for i == 0
    grads[i]     = layers[i].backward_weight(ctx[i], dy[i])     # parallel to the line above
    for j, g in zip(model.parameter_indices(i), grads[i]): params[j].grad = g; opt.step_param(j)
"""

from __future__ import annotations

from typing import Any

from tfnn.backends import Backend, Generator
from tfnn.nn.base import Layer
from tfnn.nn.parameter import Parameter


class Sequential(Layer):
    """Layers applied in order.

    Example::

        model = Sequential(Linear(784, 256), ReLU(), Linear(256, 10), seed=0)
        logits, ctx = model.forward(x)
        dx, grads = model.backward(ctx, dlogits)
    """

    def __init__(
        self,
        *layers: Layer,
        backend: Backend | None = None,
        seed: int = 0,
        dtype: Any = None,
        initialize: bool = True,
    ) -> None:
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            for p in layer.parameters():
                p.name = f"{i}.{p.name}"
        # initialize=False allocates nothing (e.g. to draw the training graph of any size);
        # call .initialize(backend, seed) before using the model.
        if initialize:
            self.initialize(backend, seed, dtype)

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def parameter_indices(self, i: int) -> range:
        """Positions of layer ``i``'s parameters in ``parameters()`` (and in an optimizer)."""
        start = sum(len(layer.parameters()) for layer in self.layers[:i])
        return range(start, start + len(self.layers[i].parameters()))

    def init_parameters(self, backend: Backend, rng: Generator, dtype: Any) -> None:
        for layer in self.layers:
            layer.init_parameters(backend, rng, dtype)
            layer.backend = backend

    def forward(
        self, x: Any, *, training: bool = False, rng: Generator | None = None
    ) -> tuple[Any, Any]:
        ctx = []
        for layer in self.layers:
            x, layer_ctx = layer.forward(x, training=training, rng=rng)
            ctx.append(layer_ctx)
        return x, ctx

    def backward_input(self, ctx: Any, dy: Any) -> Any:
        for layer, layer_ctx in zip(reversed(self.layers), reversed(ctx), strict=True):
            dy = layer.backward_input(layer_ctx, dy)
        return dy

    def backward_weight(self, ctx: Any, dy: Any) -> tuple[Any, ...]:
        return self.backward(ctx, dy, input_grad=False)[1]

    def backward(
        self, ctx: Any, dy: Any, *, input_grad: bool = True
    ) -> tuple[Any, tuple[Any, ...]]:
        grads: list[Any] = []
        for i in reversed(range(len(self.layers))):
            dy, layer_grads = self.layers[i].backward(ctx[i], dy, input_grad=input_grad or i > 0)
            grads[:0] = layer_grads
        return dy, tuple(grads)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"
