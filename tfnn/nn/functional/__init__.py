"""Stateless ops: each a ``*_forward`` returning ``(y, ctx)`` beside its ``*_backward``.

Only the array API standard is used; the namespace comes from the arrays themselves
(``array_api_compat.array_namespace``), so the same code runs on numpy, cupy, torch and
array-api-strict.

Example::

    from tfnn.nn import functional as F
    y, ctx = F.linear_forward(W, b, x)
    dW, db = F.linear_backward_weight(ctx, dy)
    dx = F.linear_backward_input(W, dy)
"""

from tfnn.nn.functional.activation import (
    gelu_backward,
    gelu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from tfnn.nn.functional.dropout import dropout_backward, dropout_forward, dropout_mask
from tfnn.nn.functional.linear import linear_backward_input, linear_backward_weight, linear_forward
from tfnn.nn.functional.loss import (
    mse_backward,
    mse_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from tfnn.nn.functional.metric import accuracy

__all__ = [
    "accuracy",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "gelu_backward",
    "gelu_forward",
    "linear_backward_input",
    "linear_backward_weight",
    "linear_forward",
    "mse_backward",
    "mse_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "tanh_backward",
    "tanh_forward",
]
