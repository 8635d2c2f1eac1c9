"""Evaluation metrics computed on the device; only the final number crosses to the host."""

from __future__ import annotations

from typing import Any

from tfnn.backends import namespace_of


def accuracy(logits: Any, labels: Any) -> float:
    """Fraction of rows whose largest logit is at the label.

    Example::

        accuracy(model.predict(x_test), y_test)   # 0.981
    """
    xp = namespace_of(logits)
    hits = xp.argmax(logits, axis=1) == labels
    return float(xp.sum(xp.astype(hits, xp.int64))) / hits.shape[0]
