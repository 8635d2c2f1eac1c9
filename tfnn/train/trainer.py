"""The Trainer: one object that trains a model with a chosen strategy.

``fit`` builds the pieces and hands them to the strategy's runner (``tfnn.train.graphs``):
``Batches`` (shuffled per epoch from ``seed``), ``StepWork`` (the step's pieces),
``Control`` (evaluation, stopping, checkpoints, history) and an ``Executor`` whose
``workers`` run the graph, with the backend's stream pool registered when the backend is
a GPU. With one worker the graph runs on the calling thread (``SyncExecutor``, the same
transitions in the same order): a hand-off to a lone worker thread only adds wake-ups,
and torch's OpenMP teams driven from a second thread run tiny ops several times slower
(measured on 2 cores: 2.2 ms against 0.35 ms for the same 15 small matmuls).
BLAS threads are capped for the run (threadpoolctl) so that workers x BLAS threads do not
oversubscribe the cores: an oversubscribed OpenBLAS busy-waits and runs many times slower.
torch's intra-op threads are set per thread, so every thread that runs tasks (the workers,
through the executor's ``initializer``, and the calling thread) gets the same cap
(``Backend.limit_threads``), restored on the calling thread when ``fit`` returns.

Checkpoints are written at every evaluation (atomically, see ``tfnn.checkpoint``) and
hold the parameters, the optimizer state, the learning-rate schedule's settings and state,
the position (epoch, step), the dropout generator's state and the history, so
``resume=True`` continues to bitwise the same weights as a run that was never interrupted
(numpy).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tfnn.backends import Backend, get_backend
from tfnn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tfnn.data import Batches
from tfnn.executor import Executor, SyncExecutor, TaskError, TraceObserver
from tfnn.nn.functional import accuracy
from tfnn.nn.layer import Layer
from tfnn.nn.layers import Linear
from tfnn.nn.sequential import Sequential
from tfnn.optim.schedules import ConstantLR, Schedule
from tfnn.train.control import Control, History, TrainingDiverged
from tfnn.train.graphs import STRATEGIES
from tfnn.train.step import StepWork

EVAL_CHUNK = 10_000


class Trainer:
    """Train ``model`` on (x, y) with one of the strategies in ``STRATEGIES``.

    Example::

        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        trainer = Trainer(model, nn.SoftmaxCrossEntropy(),
                          optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                          strategy="condition", workers=2,
                          schedule=optim.CosineDecay(total_steps=5 * 469))
        history = trainer.fit(x, y, epochs=5, batch_size=128, eval_data=(xt, yt))
    """

    def __init__(
        self,
        model: Layer,
        loss: Any,
        optimizer: Any,
        strategy: str = "condition",
        workers: int = 2,
        backend: Backend | None = None,
        *,
        blas_threads: int | None = None,
        streams: int = 4,
        schedule: Schedule | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, not {workers!r}")
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        if schedule is not None:
            # The optimizer reads it at each update (see tfnn.optim.schedules).
            optimizer.schedule = schedule
        self.strategy = strategy
        self.workers = workers
        self.backend = backend or model.backend or get_backend()
        if model.backend is not self.backend:
            _move_parameters(model, self.backend)
        cores = os.cpu_count() or 1
        if blas_threads is None:
            blas_threads = cores if strategy == "sequential" else max(1, cores // workers)
        self.blas_threads = blas_threads
        self.streams = streams

    @property
    def device(self) -> str:
        """Where the step's math tasks run: the backend's device ("cpu" for host backends)."""
        device = self.backend.device
        return "cpu" if device.startswith("cpu") else device

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 5,
        batch_size: int = 128,
        seed: int = 0,
        eval_data: tuple[Any, Any] | None = None,
        target_accuracy: float | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        resume: bool = False,
        *,
        eval_every: int | None = None,
        trace: str | os.PathLike[str] | None = None,
        on_evaluation: Callable[[dict[str, Any]], None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> History:
        """Train; return the ``History``. See the class docstring for an example.

        ``x`` is uint8 images (normalised like MNIST) or float features, ``y`` integer
        labels. ``target_accuracy`` stops at the first evaluation that reaches it (needs
        ``eval_data``). ``checkpoint`` is written at every evaluation; with ``resume``
        training continues from it when it exists.
        """
        x, y = np.asarray(x), np.asarray(y)
        _check_inputs(self.model, x, y, epochs, batch_size, target_accuracy, eval_data)
        if eval_every is not None and (
            isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1
        ):
            raise ValueError(f"eval_every must be a number of steps >= 1, not {eval_every!r}")
        be = self.backend
        batches = Batches(
            x, y, batch_size, seed=seed, normalize=x.dtype == np.uint8, asarray=be.asarray
        )
        dropout_rng = be.rng(seed + 1)
        history = History()
        position = (0, 0)
        path = Path(checkpoint) if checkpoint is not None else None
        if resume and path is not None and path.exists():
            position, history = self._restore(path, batch_size, seed, dropout_rng)
        work = StepWork(
            self.model,
            self.loss,
            self.optimizer,
            batches,
            epochs=epochs,
            start_epoch=position[0],
            start_step=position[1],
            dropout_rng=dropout_rng,
        )
        remaining = (epochs - position[0]) * len(batches) - position[1]
        self.optimizer.schedule.check(
            max(self.optimizer.steps, default=0) + max(remaining, 0), eval_data is not None
        )
        evaluate = self._accuracy_on(eval_data) if eval_data is not None else None
        save = None
        if path is not None:
            checkpoint_path = path

            def save(control: Control) -> None:
                self._save(checkpoint_path, control, batch_size, seed, dropout_rng)

        control = Control(
            work,
            epochs=epochs,
            eval_every=eval_every,
            evaluate_accuracy=evaluate,
            target_accuracy=target_accuracy,
            save=save,
            history=history,
            on_evaluation=on_evaluation,
            on_step=on_step,
        )
        devices = {}
        if self.device != "cpu":
            devices[self.device] = be.stream_pool(self.streams)
        # Each thread that runs tasks gets the backend's per-thread cap too (torch).
        executor = (
            SyncExecutor(devices=devices)
            if self.workers == 1
            else Executor(
                workers=self.workers,
                devices=devices,
                initializer=partial(be.limit_threads, self.blas_threads),
            )
        )
        previous_threads = be.limit_threads(self.blas_threads)
        observer = TraceObserver() if trace is not None else None
        if observer is not None:
            executor.observe(observer)
        try:
            with threadpool_limits(limits=self.blas_threads, user_api="blas"):
                STRATEGIES[self.strategy](work, control, executor, self.device)
        except TaskError as e:
            # Divergence is found by a task (an evaluation), but it is the run's verdict
            # on the training, not a failure of that task.
            if isinstance(e.__cause__, TrainingDiverged):
                raise e.__cause__ from None
            # Ctrl-C lands inside a task when the graph runs on this thread: it is still
            # the user's interrupt, not that task's failure.
            if isinstance(e.__cause__, KeyboardInterrupt):
                raise KeyboardInterrupt from e
            raise
        except BaseException:
            # Ctrl-C (or any error on this thread): stop the graph now, not at its end.
            executor.cancel_all()
            raise
        finally:
            executor.shutdown()
            be.limit_threads(previous_threads)
            if observer is not None and trace is not None:
                observer.dump(trace)
        return history

    def _accuracy_on(self, eval_data: tuple[Any, Any]) -> Callable[[], float]:
        xt, yt = np.asarray(eval_data[0]), np.asarray(eval_data[1])
        chunks = list(
            Batches(
                xt,
                yt,
                min(EVAL_CHUNK, len(yt)),
                shuffle=False,
                normalize=xt.dtype == np.uint8,
                asarray=self.backend.asarray,
            ).epoch(0)
        )

        def evaluate() -> float:
            hits = sum(accuracy(self.model.predict(cx), cy) * cy.shape[0] for cx, cy in chunks)
            return hits / len(yt)

        return evaluate

    def _save(
        self, path: Path, control: Control, batch_size: int, seed: int, dropout_rng: Any
    ) -> None:
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays, optimizer_meta = self.optimizer.state_dict()
        tensors.update({f"optimizer/{k}": self.backend.to_numpy(v) for k, v in arrays.items()})
        save_checkpoint(
            path,
            tensors,
            {
                "epoch": control.epoch,
                "step": control.step,
                "history": control.history.to_dict(),
                "strategy": self.strategy,
                "model": repr(self.model),
                "batch_size": batch_size,
                "seed": seed,
                "optimizer": optimizer_meta,
                "schedule": self.optimizer.schedule.state_dict(),
                "dropout_rng": getattr(dropout_rng, "state", None),
            },
        )

    def _restore(
        self, path: Path, batch_size: int, seed: int, dropout_rng: Any
    ) -> tuple[tuple[int, int], History]:
        tensors, meta = load_checkpoint(path)
        _, optimizer_meta = self.optimizer.state_dict()
        expected = {
            "model": repr(self.model),
            "batch_size": batch_size,
            "seed": seed,
            # As JSON gives it back (tuples become lists), to compare like with like.
            "optimizer": json.loads(
                json.dumps(
                    {
                        "type": optimizer_meta["type"],
                        "hyperparameters": optimizer_meta["hyperparameters"],
                    }
                )
            ),
        }
        schedule = self.optimizer.schedule.state_dict()
        expected["schedule"] = json.loads(json.dumps([schedule["type"], schedule["config"]]))
        saved = dict(meta)
        saved["optimizer"] = {
            key: meta.get("optimizer", {}).get(key) for key in ("type", "hyperparameters")
        }
        # Checkpoints from before schedules ran at a constant rate.
        saved_schedule = meta.get("schedule") or ConstantLR().state_dict()
        saved["schedule"] = [saved_schedule["type"], saved_schedule["config"]]
        for key, value in expected.items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"{path} was written with {key}={saved.get(key)!r}, but this run has "
                    f"{key}={value!r}; resume with the same settings or pass another "
                    "--checkpoint path"
                )
        self.model.load_state_dict(
            {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
        )
        self.optimizer.load_state_dict(
            {k[len("optimizer/") :]: v for k, v in tensors.items() if k.startswith("optimizer/")},
            meta["optimizer"],
        )
        self.optimizer.schedule.load_state_dict(saved_schedule)
        if meta.get("dropout_rng") is not None:
            dropout_rng.state = meta["dropout_rng"]
        return (meta["epoch"], meta["step"]), History.from_dict(meta["history"])


def _move_parameters(model: Layer, backend: Backend) -> None:
    source = model.backend
    for p in model.parameters():
        value = source.to_numpy(p.value) if source is not None else p.value
        p.value = backend.asarray(value)
    model.backend = backend
    if isinstance(model, Sequential):
        for layer in model.layers:
            layer.backend = backend


def _check_inputs(
    model: Layer,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    target_accuracy: float | None,
    eval_data: Any,
) -> None:
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(
            f"x has {len(x)} samples and y has shape {y.shape}; pass one integer label per sample"
        )
    if not len(x):
        raise ValueError("no training samples; check the data path")
    features = int(np.prod(x.shape[1:]))
    layers = model.layers if isinstance(model, Sequential) else [model]
    first = next((layer for layer in layers if isinstance(layer, Linear)), None)
    if first is not None and first.in_features != features:
        raise ValueError(
            f"the model's first layer takes {first.in_features} features but each sample has "
            f"{features} ({'x'.join(map(str, x.shape[1:]))}); make the first layer size "
            f"{features} (e.g. --layers {features},...)"
        )
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, not {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, not {batch_size!r}")
    if target_accuracy is not None and eval_data is None:
        raise ValueError("target_accuracy needs eval_data to measure accuracy on")
    if target_accuracy is not None and not 0.0 < target_accuracy <= 1.0:
        raise ValueError(f"target_accuracy is a fraction in (0, 1], not {target_accuracy!r}")
