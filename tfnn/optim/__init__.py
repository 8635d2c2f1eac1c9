"""Optimizers that update one parameter at a time (``step_param(i)``) or all (``step()``),
and the learning-rate schedules they read at each update (``tfnn.optim.schedules``).

Example::

    from tfnn import optim
    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.schedule = optim.CosineDecay(total_steps=4690, warmup_steps=200)
    opt.step()
"""

from tfnn.optim.adam import Adam
from tfnn.optim.optimizer import Optimizer, PerParameterOptimizer
from tfnn.optim.schedules import (
    SCHEDULES,
    ConstantLR,
    CosineDecay,
    OneCycle,
    ReduceOnPlateau,
    Schedule,
    ScheduleError,
    StepDecay,
    make_schedule,
)
from tfnn.optim.sgd import SGD

__all__ = [
    "SCHEDULES",
    "SGD",
    "Adam",
    "ConstantLR",
    "CosineDecay",
    "OneCycle",
    "Optimizer",
    "PerParameterOptimizer",
    "ReduceOnPlateau",
    "Schedule",
    "ScheduleError",
    "StepDecay",
    "make_schedule",
]
