"""Inverted dropout: zero each element with probability ``p``, scale survivors by 1/(1-p).

The mask is drawn apart from the op (``dropout_mask``) from a backend generator, so the
forward/backward pair is deterministic given the mask and can be gradient-checked with a
fixed one. The mask already holds the scale: ``y = x * mask`` and ``dx = dy * mask``;
the context is the mask.
"""

from __future__ import annotations

from typing import Any

from tfnn.backends import Generator, namespace_of


def dropout_mask(rng: Generator, shape: tuple[int, ...], p: float, like: Any) -> Any:
    """A mask of 0 and 1/(1-p) with the dtype of ``like``, drawn from ``rng``.

    Example::

        mask = dropout_mask(backend.rng(0), x.shape, 0.5, like=x)
    """
    xp = namespace_of(like)
    keep = rng.uniform(tuple(shape)) >= float(p)
    return xp.astype(keep, like.dtype) * (1.0 / (1.0 - float(p)))


def dropout_forward(x: Any, mask: Any) -> tuple[Any, Any]:
    """Example: ``y, ctx = dropout_forward(x, mask)``."""
    return x * mask, mask


def dropout_backward(ctx: Any, dy: Any) -> Any:
    """Example: ``dx = dropout_backward(ctx, dy)``."""
    return dy * ctx
