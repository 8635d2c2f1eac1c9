"""The host-side decisions of a training run: count steps, evaluate, stop, checkpoint.

Every strategy makes the same calls after each step, which keeps their behaviour (and
their history) identical:

- ``count_step()``: count the finished step and advance the position; it sets
  ``evaluation_due`` (an epoch ended, or ``eval_every`` steps passed);
- ``evaluate()`` (when due): read the summed loss (the one host synchronisation on a GPU),
  stop with ``TrainingDiverged`` if it is NaN/inf or over ``EXPLODED`` times the first
  step's loss (``History.initial_loss``, kept across resumes), measure accuracy on the
  evaluation data, hand both to the optimizer's learning-rate schedule (a plateau lowers
  the rate here, inside the graph's ``evaluate`` task, before the next step's updates),
  record the history, save the checkpoint, and set ``stopped`` when training should stop
  (epochs done, or the target accuracy reached);
- ``finished``: no step is left (stopped, or every epoch done).

State: ``epoch`` and ``step`` (position of the next step), ``global_step``, ``samples``,
``evaluation_due``, ``stopped``, the history, and the seconds spent evaluating (left out
of samples/s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from tfnn.errors import UserError
from tfnn.train.step import StepWork

EXPLODED = 1e3
"""A mean training loss this many times the run's first step's loss is divergence."""


class TrainingDiverged(UserError, FloatingPointError):
    """The training loss became NaN or infinite, or exploded (``EXPLODED``); the last good
    checkpoint is kept: a diverged state is never saved."""


@dataclass
class History:
    """What ``Trainer.fit`` measured: one entry per evaluation (each epoch end, and every
    ``eval_every`` steps when set).

    Example::

        history = trainer.fit(x, y, epochs=3, eval_data=(xt, yt))
        history.loss[-1], history.accuracy[-1], history.samples_per_second
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    lr: list[float | None] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    initial_loss: float | None = None

    @property
    def samples_per_second(self) -> float:
        """Training throughput, evaluation and checkpoint time left out."""
        return self.samples / self.train_seconds if self.train_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.lr,
            "epochs": self.epochs,
            "steps": self.steps,
            "samples": self.samples,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "initial_loss": self.initial_loss,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The History ``to_dict`` gave; ValueError/TypeError when ``data`` is not one."""
        missing = {f.name for f in fields(cls)} - {"initial_loss", "lr"} - set(data)
        if missing:
            raise ValueError(f"a history needs {sorted(missing)} too")
        # Checkpoints written before schedules did not record the rate.
        history = cls(**{"lr": [None] * len(data.get("loss", ())), **data})
        entries = (history.loss, history.accuracy, history.epoch, history.step, history.lr)
        if not all(isinstance(e, list) for e in entries) or len({len(e) for e in entries}) > 1:
            raise ValueError(
                "a history's loss, accuracy, epoch, step and lr are lists of one length"
            )
        return history


class Control:
    """Step counting and evaluation for one ``fit`` (see the module docstring)."""

    def __init__(
        self,
        work: StepWork,
        *,
        epochs: int,
        eval_every: int | None,
        evaluate_accuracy: Callable[[], float] | None,
        target_accuracy: float | None,
        save: Callable[[Control], None] | None,
        history: History,
        on_evaluation: Callable[[dict[str, Any]], None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        self.work = work
        self.epochs = epochs
        self.eval_every = eval_every
        self.evaluate_accuracy = evaluate_accuracy
        self.target_accuracy = target_accuracy
        self.save = save
        self.history = history
        self.on_evaluation = on_evaluation
        self.on_step = on_step
        self.epoch, self.step = work.cursor
        self.global_step = history.steps
        self.steps_since_eval = 0
        self.evaluation_due = False
        # A resumed run that had reached its target is done: it trains no further.
        self.stopped = bool(history.accuracy) and self._reached(history.accuracy[-1])
        self.started = time.perf_counter()

    @property
    def finished(self) -> bool:
        """True when no step is left to run."""
        return self.stopped or self.epoch >= self.epochs

    def count_step(self) -> None:
        """Count one finished step and advance the position; set ``evaluation_due``."""
        # From the position, not from the batch: on an asynchronous device the batch a
        # device task loads may not be there yet when this host-side count runs.
        self.history.samples += self.work.batches.size(self.step)
        self.global_step += 1
        self.steps_since_eval += 1
        self.step += 1
        if self.on_step is not None:
            self.on_step(1)
        if self.step == self.work.steps_per_epoch:
            self.epoch, self.step = self.epoch + 1, 0
            self.evaluation_due = True
        else:
            self.evaluation_due = (
                self.eval_every is not None and self.global_step % self.eval_every == 0
            )

    def evaluate(self) -> None:
        """Record an evaluation point; set ``stopped`` when training should stop."""
        # Reading the loss waits for the device's queued steps: training time, not evaluation.
        self.evaluation_due = False
        mean_loss = self.work.take_loss_sum() / max(self.steps_since_eval, 1)
        begin = time.perf_counter()
        self.history.train_seconds += begin - self.started
        self.steps_since_eval = 0
        self._check_divergence(mean_loss)
        accuracy = self.evaluate_accuracy() if self.evaluate_accuracy else None
        optimizer = self.work.optimizer
        # The rate the last step used; a plateau's decision applies from the next step.
        lr = optimizer.last_lr
        optimizer.schedule.observe(mean_loss, accuracy)
        self._record(mean_loss, accuracy, lr)
        self.stopped = self._reached(accuracy) or self.epoch >= self.epochs
        if self.save is not None:
            self.save(self)
        if self.on_evaluation is not None:
            self.on_evaluation(
                {
                    "epoch": self.epoch,
                    "step": self.global_step,
                    "loss": mean_loss,
                    "accuracy": accuracy,
                    "lr": lr,
                    "samples_per_second": self.history.samples_per_second,
                }
            )
        self.started = time.perf_counter()
        self.history.eval_seconds += self.started - begin

    def _check_divergence(self, mean_loss: float) -> None:
        h = self.history
        if h.initial_loss is None:
            h.initial_loss = self.work.first_loss()
        initial = h.initial_loss
        exploded = initial is not None and initial > 0.0 and mean_loss > EXPLODED * initial
        if math.isfinite(mean_loss) and not exploded:
            return
        self.stopped = True
        how = (
            f"exploded to {mean_loss:.3g}, over {EXPLODED:g} times its first value {initial:.3g},"
            if exploded and initial is not None
            else f"became {mean_loss}"
        )
        raise TrainingDiverged(
            f"the training loss {how} by epoch {self.epoch}, step {self.step}; lower the "
            "learning rate or use another initialisation; the last good checkpoint, if any, "
            "is kept"
        )

    def _record(self, mean_loss: float, accuracy: float | None, lr: float) -> None:
        h = self.history
        h.loss.append(mean_loss)
        h.accuracy.append(accuracy)
        h.epoch.append(self.epoch)
        h.step.append(self.global_step)
        h.lr.append(lr)
        h.epochs = self.epoch
        h.steps = self.global_step

    def _reached(self, accuracy: float | None) -> bool:
        return (
            self.target_accuracy is not None
            and accuracy is not None
            and accuracy >= self.target_accuracy
        )
