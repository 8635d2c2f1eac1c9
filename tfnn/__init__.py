"""tfnn: neural-network training as Taskflow-style task graphs over array-API backends.

Example::

    from tfnn import nn, optim
    from tfnn.executor import Taskflow, Executor
    from tfnn.train import Trainer
"""

__version__ = "0.1.0"
