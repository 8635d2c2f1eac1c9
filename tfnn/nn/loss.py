"""Loss objects: ``forward(prediction, target) -> (value, ctx)`` and ``backward(ctx) -> dpred``.

The value is a 0-d array on the device (reading it as a float synchronises); see
``tfnn.nn.functional.loss`` for the formulas. ``Loss`` is the protocol the Trainer asks
for: any object with these two methods (a user's own loss) will do.
"""

from __future__ import annotations

from typing import Any, Protocol

import tfnn.nn.functional as F


class Loss(Protocol):
    """What ``Trainer`` needs of a loss.

    Example::

        value, ctx = loss.forward(logits, labels)   # value: a 0-d array
        dlogits = loss.backward(ctx)
    """

    def forward(self, prediction: Any, target: Any, /) -> tuple[Any, Any]: ...

    def backward(self, ctx: Any, /) -> Any: ...


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels (torch's
    ``CrossEntropyLoss()``).

    Example::

        value, ctx = SoftmaxCrossEntropy().forward(logits, labels)
        dlogits = SoftmaxCrossEntropy().backward(ctx)
    """

    def forward(self, logits: Any, labels: Any) -> tuple[Any, Any]:
        return F.softmax_cross_entropy_forward(logits, labels)

    def backward(self, ctx: Any) -> Any:
        return F.softmax_cross_entropy_backward(ctx)


class MSE:
    """Mean squared error over all elements (torch's ``MSELoss()``).

    Example::

        value, ctx = MSE().forward(y, target)
        dy = MSE().backward(ctx)
    """

    def forward(self, y: Any, target: Any) -> tuple[Any, Any]:
        return F.mse_forward(y, target)

    def backward(self, ctx: Any) -> Any:
        return F.mse_backward(ctx)
