"""Neural-network math: stateless ops, the layers that hold parameters, losses.

``tfnn.nn.functional`` has the ops as forward/backward pairs; the layers wrap them and
return contexts instead of storing them (``tfnn.nn.base`` states the contract the training
graphs rely on; ``tfnn.nn.sequential`` shows the per-layer calls). Each layer file wraps
the op file of the same name: ``nn/linear.py`` -> ``nn/functional/linear.py``,
``nn/activation.py``, ``nn/dropout.py``, ``nn/loss.py`` (loss objects and the ``Loss``
protocol) -> ``nn/functional/loss.py``. Only ``xp`` is used,
never numpy or cupy directly.

Example::

    from tfnn import nn, optim
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    value, grads = nn.value_and_grad(model, nn.SoftmaxCrossEntropy(), x, y)
    for p, g in zip(model.parameters(), grads):
        p.grad = g
    opt.step()
"""

import tfnn.nn.functional as functional
from tfnn.nn.activation import GELU, ReLU, Sigmoid, Tanh
from tfnn.nn.base import Layer
from tfnn.nn.dropout import Dropout
from tfnn.nn.functional import accuracy
from tfnn.nn.grad import value_and_grad
from tfnn.nn.linear import Linear
from tfnn.nn.loss import MSE, Loss, SoftmaxCrossEntropy
from tfnn.nn.mlp import mlp
from tfnn.nn.parameter import Parameter
from tfnn.nn.sequential import Sequential

__all__ = [
    "GELU",
    "MSE",
    "Dropout",
    "Layer",
    "Linear",
    "Loss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Tanh",
    "accuracy",
    "functional",
    "mlp",
    "value_and_grad",
]
