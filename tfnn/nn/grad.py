"""The sequential reference step: forward, loss, backward, in one plain call.

Every training-graph strategy must produce the same numbers as this function.
"""

from __future__ import annotations

from typing import Any

from tfnn.backends import Generator
from tfnn.nn.base import Layer
from tfnn.nn.loss import Loss


def value_and_grad(
    model: Layer, loss: Loss, x: Any, y: Any, *, training: bool = True, rng: Generator | None = None
) -> tuple[float, list[Any]]:
    """The loss as a float and the gradients in ``model.parameters()`` order.

    ``training`` switches Dropout on; it then needs ``rng`` (a backend generator).

    Example::

        value, grads = value_and_grad(model, SoftmaxCrossEntropy(), x, y)
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        opt.step()
    """
    out, ctx = model.forward(x, training=training, rng=rng)
    value, loss_ctx = loss.forward(out, y)
    _, grads = model.backward(ctx, loss.backward(loss_ctx), input_grad=False)
    return float(value), list(grads)
