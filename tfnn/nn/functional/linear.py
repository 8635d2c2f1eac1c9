"""Dense layer math: ``y = x @ W.T + b`` with ``W`` of shape (out, in), as in torch.

The backward pass is split in two independent computations so that a training graph can
run them as parallel tasks:

- input gradient  ``dx = dy @ W``             (needs ``W`` and ``dy``; feeds the layer below)
- weight gradient ``dW = dy.T @ x``, ``db = sum(dy, axis=0)``   (needs ``x`` and ``dy``)

The forward context is the input ``x``.
"""

from __future__ import annotations

from typing import Any

from tfnn.backends import namespace_of


def linear_forward(W: Any, b: Any | None, x: Any) -> tuple[Any, Any]:
    """Return ``(x @ W.T + b, ctx)``; ``b`` may be None.

    Example::

        y, ctx = linear_forward(W, b, x)      # W: (out, in), b: (out,), x: (batch, in)
    """
    y = x @ W.T
    if b is not None:
        y += b  # in place: y is the fresh product, nobody else holds it
    return y, x


def linear_backward_input(W: Any, dy: Any) -> Any:
    """Gradient with respect to the input: ``dy @ W``.

    Example::

        dx = linear_backward_input(W, dy)     # (batch, in)
    """
    return dy @ W


def linear_backward_weight(x: Any, dy: Any) -> tuple[Any, Any]:
    """Gradients with respect to ``W`` and ``b``: ``(dy.T @ x, sum(dy, axis=0))``.

    Example::

        dW, db = linear_backward_weight(x, dy)     # x is forward's ctx; (out, in), (out,)
    """
    xp = namespace_of(dy)
    return dy.T @ x, xp.sum(dy, axis=0)
