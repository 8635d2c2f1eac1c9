"""The Trainer: one object that trains a model with a chosen strategy.

``fit`` goes through these steps, each in its own place:

1. check what it was given (``tfnn.train.inputs``: ``FitOptions``, ``FitData``);
2. build the pieces: ``Batches`` (shuffled per epoch from ``seed``), ``StepWork`` (the
   step's pieces), ``Control`` (evaluation, stopping, checkpoints, history), and, with a
   checkpoint path, a ``RunCheckpoint`` that saves at every evaluation and, with
   ``resume``, restores the position, weights, optimizer, schedule and generator state
   first (``tfnn.train.run_checkpoint``); then the optimizer's learning-rate schedule
   checks that it covers the run (``Schedule.check``);
3. make the executor (``tfnn.train.running.make_executor``), or reuse the one kept from
   the previous fit inside ``with Trainer(...) as trainer:`` (its worker threads, and so
   their per-thread state such as cuBLAS handles, live from one fit to the next; the
   backend's stream pool is shared per device anyway);
4. run the strategy's runner on it to the end of training (``run_strategy``:
   thread caps, trace, errors; the runners are in ``tfnn.train.graphs``).

Data parallel (``distributed``, see ``tfnn.parallel``): launched as one of several MPI
ranks (``"auto"``, the default) or told so (``"mpi"``, ``"nccl"`` for cupy ranks, a
communicator, a ``DataParallel``), each rank trains on its slice of every global batch
(``batch_size`` stays global) with allreduce tasks in the graph; BLAS threads default to
this rank's share of the node's cores; evaluation is sharded and its counts summed; rank 0
alone writes checkpoints and calls ``on_evaluation``/``on_step``; a trace goes to one file per
rank (``t.json``, ``t.rank1.json``, ...); a failure on one rank aborts the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from tfnn.backends import Backend, Generator, get_backend
from tfnn.errors import InvalidArgument, whole_number
from tfnn.executor import Executor
from tfnn.fsync import remove_stale_temporaries
from tfnn.nn.base import Layer
from tfnn.nn.loss import Loss
from tfnn.nn.sequential import Sequential
from tfnn.optim.optimizer import PerParameterOptimizer
from tfnn.optim.schedules import Schedule
from tfnn.parallel import DataParallel, blas_threads_per_rank, placement
from tfnn.train.control import Control, History, TrainingDiverged
from tfnn.train.graphs import STRATEGIES
from tfnn.train.inputs import FitData, FitOptions
from tfnn.train.run_checkpoint import RunCheckpoint
from tfnn.train.running import make_executor, run_strategy
from tfnn.train.step import StepWork
from tfnn.train.workers import AUTO, workers_for


class Trainer:
    """Train ``model`` on (x, y) with one of the strategies in ``STRATEGIES``.

    ``workers="auto"`` picks the measured fastest count for the backend's device
    (``tfnn.train.workers``: 1); ``blas_threads`` defaults to the cores per worker.

    Example::

        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        trainer = Trainer(model, nn.SoftmaxCrossEntropy(),
                          optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                          strategy="condition",
                          schedule=optim.OneCycle(total_steps=5 * 469))
        history = trainer.fit(x, y, epochs=5, batch_size=128, eval_data=(xt, yt))
    """

    def __init__(
        self,
        model: Layer,
        loss: Loss,
        optimizer: PerParameterOptimizer,
        strategy: str = "condition",
        workers: int | Literal["auto"] = AUTO,
        backend: Backend | None = None,
        *,
        blas_threads: int | None = None,
        streams: int = 4,
        distributed: Any = "auto",
        schedule: Schedule | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise InvalidArgument(
                f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        if schedule is not None:
            # The optimizer reads it at each update (see tfnn.optim.schedules).
            optimizer.schedule = schedule
        self.strategy = strategy
        self.backend = backend or model.backend or get_backend()
        self.workers = (
            workers_for(self.backend) if workers == AUTO else whole_number(workers, "workers")
        )
        if model.backend is not self.backend:
            _move_parameters(model, self.backend)
        # Overlap where measured to pay (DataParallel.auto_overlap): GPU ranks, and CPU
        # ranks on several machines; CPU ranks of one machine exchange with one blocking
        # allreduce a step.
        self.parallel = DataParallel.create(distributed, backend=self.backend)
        if self.parallel is not None and strategy == "pipelined":
            raise InvalidArgument(
                "the pipelined strategy does not support data-parallel training; use "
                "the condition strategy (the default), or distributed='none'"
            )
        cores = os.cpu_count() or 1
        if self.parallel is not None:
            cores = blas_threads_per_rank(placement().local_size, cores)
        if blas_threads is None:
            blas_threads = cores if strategy == "sequential" else max(1, cores // self.workers)
        self.blas_threads = whole_number(blas_threads, "blas_threads")
        self.streams = streams
        self._keep_workers = False
        self._executor: Executor | None = None

    @property
    def device(self) -> str:
        """The backend's device, e.g. ``"cpu"``, ``"cpu:1"`` or ``"cuda:0"``."""
        return self.backend.device

    @property
    def task_device(self) -> str:
        """Where the step's math tasks are placed: ``"cpu"`` (the host) for host backends,
        whose arrays are computed where the task runs, else the backend's device."""
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
        overwrite: bool = False,
        allow_other_data: bool = False,
        normalize: bool | None = None,
    ) -> History:
        """Train; return the ``History``. See the class docstring for an example.

        ``x`` holds the samples (uint8 images are normalised like MNIST: see
        ``normalize``) and ``y`` integer labels 0..classes-1, as numpy arrays or arrays of
        any backend and device. ``target_accuracy`` stops at the first evaluation that
        reaches it (needs ``eval_data``). ``checkpoint`` is written at every evaluation;
        with ``resume`` training continues from it when it exists (a run that finished or
        reached its target trains no further), ``overwrite`` replaces an existing one, and
        neither refuses it; resuming on other data (another fingerprint) needs
        ``allow_other_data``. ``eval_every`` adds an evaluation every that many steps;
        ``trace`` writes a Chrome trace of the tasks; ``on_evaluation`` gets one dict per
        evaluation and ``on_step`` the number of steps done since its last call.
        ``normalize``: True normalises ``x`` like MNIST pixels, False keeps the values,
        None decides from the data (``tfnn.train.inputs.FitData``).
        """
        options = FitOptions.checked(
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            eval_every=eval_every,
            target_accuracy=target_accuracy,
            has_eval_data=eval_data is not None,
            checkpoint=checkpoint,
            resume=resume,
            overwrite=overwrite,
            allow_other_data=allow_other_data,
            trace=trace,
            traces=self.strategy != "sequential",
        )
        data = FitData(self.model, x, y, eval_data, normalize)
        work, control = self._build(data, options, on_evaluation, on_step)
        self._run(work, control, options)
        return control.history

    def _build(
        self,
        data: FitData,
        options: FitOptions,
        on_evaluation: Callable[[dict[str, Any]], None] | None,
        on_step: Callable[[int], None] | None,
    ) -> tuple[StepWork, Control]:
        """The step's pieces and the run's control, restored from the checkpoint on resume."""
        batches: Any = data.batches(options.batch_size, options.seed, self.backend.asarray)
        parallel = self.parallel
        if parallel is not None:
            batches = parallel.shard(batches)
        dropout_rng = self.backend.rng(options.seed + 1)
        saved = self._run_checkpoint(options, dropout_rng, data)
        position, history = (0, 0), History()
        if saved is not None and options.resume and saved.path.exists():
            position, history = saved.restore()
        # The schedule's clock is the optimizer's update count (restored above).
        remaining = (options.epochs - position[0]) * len(batches) - position[1]
        self.optimizer.schedule.check(
            max(self.optimizer.steps, default=0) + max(remaining, 0), data.eval_data is not None
        )
        work = StepWork(
            self.model,
            self.loss,
            self.optimizer,
            batches,
            epochs=options.epochs,
            start_epoch=position[0],
            start_step=position[1],
            dropout_rng=dropout_rng,
        )
        root = parallel is None or parallel.is_root
        if parallel is not None:
            parallel.attach(work, self.backend)
        control = Control(
            work,
            epochs=options.epochs,
            eval_every=options.eval_every,
            evaluate_accuracy=data.accuracy_on_eval_data(self.model, self.backend, parallel),
            target_accuracy=options.target_accuracy,
            save=None if saved is None or not root else saved.save,
            history=history,
            on_evaluation=on_evaluation if root else None,
            on_step=on_step if root else None,
        )
        return work, control

    def _run_checkpoint(
        self, options: FitOptions, dropout_rng: Generator, data: FitData
    ) -> RunCheckpoint | None:
        if options.checkpoint is None:
            return None
        if self.parallel is None or self.parallel.is_root:
            remove_stale_temporaries(options.checkpoint)
        return RunCheckpoint(
            options.checkpoint,
            self.model,
            self.optimizer,
            self.backend,
            self.strategy,
            options.batch_size,
            options.seed,
            dropout_rng,
            data.fingerprint(),
            options.allow_other_data,
        )

    def __enter__(self) -> Trainer:
        """Keep the executor's workers from one ``fit`` to the next until the block ends.

        Example::

            with Trainer(model, loss, optimizer, workers=2) as trainer:
                trainer.fit(x, y, epochs=1)   # starts the workers
                trainer.fit(x, y, epochs=1)   # reuses them (and their cuBLAS handles)
        """
        self._keep_workers = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut down the workers kept between fits (see ``__enter__``)."""
        executor, self._executor = self._executor, None
        self._keep_workers = False
        if executor is not None:
            executor.shutdown()

    def _run(self, work: StepWork, control: Control, options: FitOptions) -> None:
        """Run the strategy to the end of training, on the kept executor or a fresh one."""
        parallel = self.parallel
        # A data-parallel run registers its communicator per fit: no executor kept there.
        keep = self._keep_workers and parallel is None
        executor = self._executor or make_executor(
            self.backend,
            self.task_device,
            workers=self.workers,
            streams=self.streams,
            blas_threads=self.blas_threads,
            extra_devices=parallel.devices() if parallel is not None else None,
        )
        # Taken out while it runs: a failed run shuts it down, and the next fit makes a new one.
        self._executor = None
        trace = options.trace
        if parallel is not None and trace is not None:
            trace = Path(parallel.trace_path(trace))
        try:
            run_strategy(
                STRATEGIES[self.strategy],
                work,
                control,
                executor,
                device=self.task_device,
                backend=self.backend,
                blas_threads=self.blas_threads,
                trace=trace,
                shutdown=not keep,
            )
            if keep:
                self._executor = executor
        except TrainingDiverged:
            raise  # decided from the loss summed over the ranks: every rank stops here
        except BaseException as e:
            if parallel is not None:
                parallel.fail(e)  # the other ranks would wait in their next allreduce
            raise
        finally:
            if parallel is not None:
                parallel.close()


def _move_parameters(model: Layer, backend: Backend) -> None:
    source = model.backend
    for p in model.parameters():
        value = source.to_numpy(p.value) if source is not None else p.value
        p.value = backend.asarray(value)
    model.backend = backend
    if isinstance(model, Sequential):
        for layer in model.layers:
            layer.backend = backend
