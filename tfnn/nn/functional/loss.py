"""Losses as forward/backward pairs; each value is a 0-d array averaged over the batch.

Softmax cross-entropy from logits ``z`` (batch, classes) and integer labels ``t``:
the log-softmax uses the log-sum-exp trick ``log p = (z - m) - log Σ exp(z - m)`` with
``m = max z`` per row, so no ``exp`` overflows. ``value = -mean_i log p[i, t_i]`` and
``dz = (softmax(z) - onehot(t)) / batch``. Context: ``(softmax, onehot)``.

Mean squared error over all elements, as torch's ``MSELoss()``:
``value = mean((y - target)²)`` and ``dy = 2 (y - target) / size``. Context: the residual.

``*_backward(ctx)`` returns the gradient of the value with respect to the prediction; the
labels and targets get none.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import device

from tfnn.backends import namespace_of


def softmax_cross_entropy_forward(logits: Any, labels: Any) -> tuple[Any, Any]:
    """Example: ``value, ctx = softmax_cross_entropy_forward(logits, labels)``."""
    xp = namespace_of(logits)
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    classes = xp.arange(logits.shape[1], device=device(logits))
    onehot = xp.astype(labels[:, None] == classes[None, :], logits.dtype)
    value = -xp.sum(onehot * log_p) / float(logits.shape[0])
    return value, (xp.exp(log_p), onehot)


def softmax_cross_entropy_backward(ctx: tuple[Any, Any]) -> Any:
    """Example: ``dlogits = softmax_cross_entropy_backward(ctx)``."""
    probs, onehot = ctx
    return (probs - onehot) / float(probs.shape[0])


def mse_forward(y: Any, target: Any) -> tuple[Any, Any]:
    """Example: ``value, ctx = mse_forward(y, target)``."""
    xp = namespace_of(y)
    residual = y - target
    return xp.mean(residual * residual), residual


def mse_backward(ctx: Any) -> Any:
    """Example: ``dy = mse_backward(ctx)``."""
    return ctx * (2.0 / float(math.prod(ctx.shape)))
