"""Who is timed on a training ``Workload``, and what one timed run of a contender is.

A ``TrainingContender`` is a tfnn strategy on a backend with its thread settings
(``tfnn-numpy-condition-w2b1``: 2 executor workers, 1 BLAS thread each) or a reference
(``numpy-loop``, ``torch-cpu``, ``torch-cuda``); ``run(workload)`` trains a fresh copy of
the workload's initial weights and returns a ``tfnn.bench.model.Run``. With ``ranks`` > 1
it is a data-parallel contender (``tfnn-numpy-condition@2-ranks``, ``mpi4py-loop@2-ranks``)
whose every run is an ``mpiexec`` job timed the same way inside (``tfnn.bench.ranks``).

Warm-up, the same for every contender and outside the clock: the fresh model first trains
the workload's ``warmup_steps`` steps (its first batches), paying first-step costs
(allocator, thread pools, optimizer state) before the clock starts; without it PyTorch's
20-step runs measured 21.5k samples/s against 77k for 200 steps. tfnn does this as one
``fit`` and times a second ``fit`` of the same ``Trainer``; the references run the steps on
the same network object.

What is timed (``Run.seconds``), the same work for every contender: every training step
of the workload, each with its batch gathered from the shuffled data and moved to the
device, forward, loss, backward and SGD-momentum update, plus a loss reading on the host
every ``eval_every`` steps and at each epoch end (a device synchronisation on a GPU), the
last of which ends the clock. Preparing the data (normalising the images into float32,
done once per run by ``Batches``) and building the model happen before the clock starts.

- tfnn: the timed ``Trainer.fit`` with no evaluation data; the time is the ``History``'s
  ``train_seconds + eval_seconds``: from when ``fit`` has its batches ready (executor
  start, BLAS thread limit and graph building included) to the end of the last loss
  reading (which waits for the device).
- references: ``perf_counter`` around the loop over the same ``Batches``, with the BLAS
  thread limit (numpy) or ``torch.set_num_threads`` set before the clock starts.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tfnn.bench.model import BenchError, Run
from tfnn.bench.references import Reference
from tfnn.bench.workload import Workload


@dataclass(frozen=True)
class TrainingContender:
    """One timed configuration; ``kind`` is ``"tfnn"``, ``"numpy-loop"`` or ``"torch"``, or
    for ``ranks`` > 1 ``"tfnn-ranks"`` or ``"mpi4py-loop"`` (``tfnn.bench.ranks``).

    ``blas_threads`` is the BLAS thread limit (threadpoolctl) for numpy work (per rank) and,
    for torch work, the value given to ``torch.set_num_threads``; ``streams`` is the size of
    the stream pool on a GPU (1 = no overlap between streams).
    """

    name: str
    kind: str
    backend: str
    device: str = "cpu"
    strategy: str | None = None
    workers: int | None = None
    blas_threads: int = 1
    streams: int | None = None
    ranks: int = 1

    def settings(self) -> dict[str, Any]:
        """The fields, plus the thread counts each library is held to during the run."""
        return {
            **asdict(self),
            "threads": {
                "executor_workers": self.workers if self.kind.startswith("tfnn") else None,
                "blas": self.blas_threads,
                "torch_intra_op": self.blas_threads if self.backend == "torch" else None,
            },
        }

    def run(self, workload: Workload, *, blas_threads: int | None = None) -> Run:
        """Train ``workload`` once, warm-up first, and time it (module docstring).

        ``blas_threads`` overrides the contender's (the correctness guard runs every tfnn
        contender with the same, so that their weights must agree bitwise).

        Example::

            reference_contenders()[0].run(make_workload("mlp", load_data(), 128, 50))
        """
        if self.ranks > 1:
            from tfnn.bench.ranks import run_ranks

            return run_ranks(self, workload)
        threads = blas_threads or self.blas_threads
        torch = self.backend == "torch"
        with _torch_threads(threads) if torch else contextlib.nullcontext():
            if self.kind == "tfnn":
                return _run_tfnn(self, workload, threads)
            return run_reference(_reference(self, workload), workload, threads)


def cores() -> int:
    return os.cpu_count() or 1


def tfnn_contenders(
    backend: str, device: str, strategies: list[str], workers: int, streams: list[int]
) -> list[TrainingContender]:
    """The tfnn contenders of one backend: each strategy with ``workers`` workers and
    ``cores // workers`` BLAS threads (``sequential``: 1 worker, every core), and
    ``condition`` also with 1 worker and every core; on a GPU the graph strategies once per
    stream pool size in ``streams`` (named ``-s1``, ``-s4`` when there are several).

    Example::

        [c.name for c in tfnn_contenders("numpy", "cpu", ["condition"], 2, [4])]
        # ['tfnn-numpy-condition-w2b1', 'tfnn-numpy-condition-w1b2']
    """
    n = cores()
    configs: list[tuple[str, int, int]] = []
    for strategy in strategies:
        if strategy == "sequential":
            configs.append((strategy, 1, n))
            continue
        configs.append((strategy, workers, max(1, n // workers)))
        if strategy == "condition" and (workers, max(1, n // workers)) != (1, n):
            configs.append((strategy, 1, n))
    label = backend if device == "cpu" else f"{backend}-{device.replace(':', '')}"
    gpu = not device.startswith("cpu")
    out = []
    for strategy, w, b in configs:
        base = f"tfnn-{label}-{strategy}"
        name = base if strategy == "sequential" else f"{base}-w{w}b{b}"
        # sequential runs its steps on the calling thread, one stream: no stream variants
        for s in streams if gpu and strategy != "sequential" else [None]:
            suffix = f"-s{s}" if s is not None and len(streams) > 1 else ""
            stream_pool = s or streams[0]
            out.append(
                TrainingContender(
                    name + suffix, "tfnn", backend, device, strategy, w, b, stream_pool
                )
            )
    return out


def reference_contenders() -> list[TrainingContender]:
    """``numpy-loop`` and ``torch-cpu`` with every core, and ``torch-cuda``."""
    n = cores()
    return [
        TrainingContender("numpy-loop", "numpy-loop", "numpy", blas_threads=n),
        TrainingContender("torch-cpu", "torch", "torch", blas_threads=n),
        TrainingContender("torch-cuda", "torch", "torch", "cuda:0", blas_threads=n),
    ]


def contenders_for(
    backends: list[str],
    strategies: list[str],
    workers: int,
    streams: list[int],
    ranks: Sequence[int] = (),
) -> tuple[list[TrainingContender], list[dict[str, str]]]:
    """The contenders that can run here, and the skipped ones with their reasons; with
    ``ranks``, the data-parallel ones too (``tfnn.bench.ranks.rank_contenders``).

    Example::

        runnable, skipped = contenders_for(["numpy"], ["condition"], 2, [4], ranks=[2])
    """
    from tfnn.backends import available_backends
    from tfnn.bench.ranks import rank_contenders, unavailable_ranks

    wanted, devices = [], []
    for spec in backends:
        name, _, device = spec.partition(":")
        if name not in available_backends():
            choices = ", ".join(available_backends())
            raise BenchError(f"unknown backend {name!r}; choose from {choices}")
        device = device or ("cuda:0" if name == "cupy" else "cpu")
        devices.append((name, device))
        wanted += tfnn_contenders(name, device, strategies, workers, streams)
    # After the references: the guard compares everyone with the first reference.
    wanted += [*reference_contenders(), *rank_contenders(devices, strategies, ranks)]
    runnable, skipped = [], []
    for c in wanted:
        if c.ranks > 1:
            reason = unavailable_ranks(c)
        else:
            reason = None if c.kind == "numpy-loop" else unavailable(c.backend, c.device)
        if reason is None:
            runnable.append(c)
        else:
            skipped.append({"contender": c.name, "reason": reason})
    return runnable, skipped


@functools.cache
def unavailable(backend: str, device: str) -> str | None:
    """Why ``backend`` cannot run on ``device`` here, or None when it can."""
    from tfnn.backends import BackendError, get_backend

    try:
        get_backend(backend, device)
    except BackendError as e:
        return str(e)
    return None


def _run_tfnn(contender: TrainingContender, workload: Workload, threads: int) -> Run:
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.train import Trainer

    backend = get_backend(contender.backend, contender.device)
    model = nn.mlp(workload.sizes, backend=backend)
    model.load_state_dict(workload.weights)
    optimizer = optim.SGD(model.parameters(), lr=workload.lr, momentum=workload.momentum)
    trainer = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        strategy=contender.strategy or "sequential",
        workers=contender.workers or 1,
        backend=backend,
        blas_threads=threads,
        streams=contender.streams or 1,
    )
    return timed_fit(trainer, workload)


def timed_fit(trainer: Any, workload: Workload, before: Callable[[], Any] | None = None) -> Run:
    """Train the warm-up steps, call ``before()`` (a barrier across ranks), then time a
    ``fit`` of the workload (module docstring)."""
    warm = workload.warmup()
    if warm is not None:
        trainer.fit(warm.x, warm.y, epochs=1, batch_size=warm.batch_size, seed=warm.seed)
    if before is not None:
        before()
    curve: list[tuple[float, int, float]] = []

    def record(point: dict[str, Any]) -> None:
        trained = point["step"] * workload.batch_size / point["samples_per_second"]
        curve.append((trained, point["step"], point["loss"]))

    history = trainer.fit(
        workload.x,
        workload.y,
        epochs=workload.epochs,
        batch_size=workload.batch_size,
        seed=workload.seed,
        eval_every=workload.eval_every,
        on_evaluation=record,
    )
    seconds = history.train_seconds + history.eval_seconds
    return Run(seconds, history.samples, curve, trainer.model.state_dict())


def _reference(contender: TrainingContender, workload: Workload) -> Reference:
    from tfnn.bench.references import NumpyMLP, TorchMLP

    if contender.kind == "numpy-loop":
        return NumpyMLP(workload.weights, workload.lr, workload.momentum)
    return TorchMLP(workload.weights, workload.lr, workload.momentum, contender.device)


def run_reference(net: Reference, workload: Workload, threads: int, shard: Any = None) -> Run:
    """Warm up, then time ``net`` on every step (``shard(batches)``: this rank's part)."""
    from threadpoolctl import threadpool_limits

    shard = shard or (lambda batches: batches)
    with threadpool_limits(limits=threads, user_api="blas"):
        warm = workload.warmup()
        if warm is not None:
            _train(net, warm, shard(warm.batches()), time.perf_counter())
        # Also the barrier across ranks: every rank's clock starts together.
        net.synchronize()
        batches = shard(workload.batches())
        begin = time.perf_counter()
        curve = _train(net, workload, batches, begin)
        net.synchronize()
        seconds = time.perf_counter() - begin
    return Run(seconds, workload.samples, curve, net.weights())


def _train(
    net: Reference, workload: Workload, batches: Any, begin: float
) -> list[tuple[float, int, float]]:
    """Every step of ``workload`` on ``net``; the mean loss read as ``Trainer.fit`` reads it."""
    curve: list[tuple[float, int, float]] = []
    loss_sum: Any = 0.0
    since = step = 0
    for epoch in range(workload.epochs):
        for s in range(workload.steps_per_epoch):
            loss_sum = loss_sum + net.step(*batches.batch(epoch, s))
            step += 1
            since += 1
            last = s == workload.steps_per_epoch - 1
            if last or (workload.eval_every and step % workload.eval_every == 0):
                curve.append((time.perf_counter() - begin, step, float(loss_sum) / since))
                loss_sum, since = 0.0, 0
    return curve


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
