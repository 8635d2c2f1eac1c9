"""Training as task graphs: strategies, the Trainer and its History.

Example::

    from tfnn.train import Trainer
    trainer = Trainer(model, loss, optimizer, strategy="condition", workers=2)
    history = trainer.fit(x, y, epochs=5, batch_size=128, eval_data=(xt, yt))
"""

from tfnn.train.control import History, TrainingDiverged
from tfnn.train.graphs import STRATEGIES
from tfnn.train.trainer import Trainer

__all__ = ["STRATEGIES", "History", "Trainer", "TrainingDiverged"]
