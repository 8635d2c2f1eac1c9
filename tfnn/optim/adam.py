"""Adam and AdamW, as torch.optim.Adam / AdamW (no amsgrad).

Per parameter, at its own step count t, with gradient g and ``lr`` the scheduled rate of
step t (``Optimizer.lr_at``):

    w = w * (1 - lr * weight_decay)        decoupled (AdamW)
    g = g + weight_decay * w               otherwise (L2, Adam)
    m = m + (1 - β1) (g - m)               (torch's lerp form)
    v = β2 v + (1 - β2) g²
    w = w - lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tfnn.backends import namespace_of
from tfnn.nn.parameter import Parameter
from tfnn.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam; ``decoupled=True`` makes it AdamW.

    Example::

        opt = Adam(model.parameters(), lr=1e-3, weight_decay=1e-2, decoupled=True)
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay", "decoupled")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        if lr < 0.0 or eps < 0.0 or weight_decay < 0.0:
            raise ValueError("lr, eps and weight_decay must be non-negative")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), not {betas}")
        super().__init__(params)
        # Python floats, not numpy scalars: those would promote float32 weights to float64.
        self.lr = float(lr)
        self.betas = [float(betas[0]), float(betas[1])]
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.decoupled = bool(decoupled)

    def update(self, value: Any, grad: Any, state: dict[str, Any], step: int) -> Any:
        xp = namespace_of(value)
        beta1, beta2 = self.betas
        lr = self.lr_at(step)
        if self.weight_decay != 0.0:
            if self.decoupled:
                value = value * (1.0 - lr * self.weight_decay)
            else:
                grad = grad + self.weight_decay * value
        if not state:
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(value), xp.zeros_like(value)
        m = state["exp_avg"] + (1.0 - beta1) * (grad - state["exp_avg"])
        v = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * grad * grad
        state["exp_avg"], state["exp_avg_sq"] = m, v
        denom = xp.sqrt(v) / math.sqrt(1.0 - beta2**step) + self.eps
        return value - (lr / (1.0 - beta1**step)) * m / denom
