"""Stochastic gradient descent with momentum, Nesterov and weight decay, as torch.optim.SGD.

With ``g = grad + weight_decay * w``, momentum buffer ``b`` (``b = g`` at the first step),
and ``lr`` the scheduled rate of this step (``Optimizer.lr_at``):

    b = momentum * b + g
    w = w - lr * (g + momentum * b)     Nesterov
    w = w - lr * b                      otherwise (plain SGD when momentum is 0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tfnn.nn.parameter import Parameter
from tfnn.optim.optimizer import Optimizer


class SGD(Optimizer):
    """SGD with torch's semantics (dampening 0).

    Example::

        opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    """

    hyperparameters = ("lr", "momentum", "weight_decay", "nesterov")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if lr < 0.0 or momentum < 0.0 or weight_decay < 0.0:
            raise ValueError("lr, momentum and weight_decay must be non-negative")
        if nesterov and momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        super().__init__(params)
        # Python floats, not numpy scalars: those would promote float32 weights to float64.
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def update(self, value: Any, grad: Any, state: dict[str, Any], step: int) -> Any:
        if self.weight_decay != 0.0:
            grad = grad + self.weight_decay * value
        if self.momentum != 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad
            else:
                buf = self.momentum * buf
                buf += grad  # in place into the fresh product: same values, one pass less
            state["momentum_buffer"] = buf
            grad = grad + self.momentum * buf if self.nesterov else buf
        # value - lr * grad, written as (-lr) * grad + value into the fresh product: the
        # same float32 result bit for bit, without a third array (value stays untouched).
        new = grad * -self.lr_at(step)
        new += value
        return new
