"""Optimizers that update one parameter at a time (``step_param(i)``) or all (``step()``).

Example::

    from tfnn import optim
    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.step()
"""

from tfnn.optim.adam import Adam
from tfnn.optim.optimizer import Optimizer, PerParameterOptimizer
from tfnn.optim.sgd import SGD

__all__ = ["SGD", "Adam", "Optimizer", "PerParameterOptimizer"]
