"""Who is timed, and what one timed run of a contender is.

A ``Contender`` is a tfnn strategy on a backend with its thread settings
(``tfnn-numpy-condition-w2b1``: 2 executor workers, 1 BLAS thread each) or a reference
(``numpy-loop``, ``torch-cpu``, ``torch-cuda``). ``run(contender, workload)`` trains a fresh
copy of the workload's initial weights for the workload's steps and returns a ``Run``.

What is timed (``Run.seconds``), the same work for every contender: every training step
of the workload, each with its batch gathered from the shuffled data and moved to the
device, forward, loss, backward and SGD-momentum update, plus a loss reading on the host
every ``eval_every`` steps and at each epoch end (a device synchronisation on a GPU), the
last of which ends the clock. Preparing the data (normalising the images into float32,
done once per run by ``Batches``) and building the model happen before the clock starts.

- tfnn: ``Trainer.fit`` with no evaluation data; the time is the ``History``'s
  ``train_seconds + eval_seconds``: from when ``fit`` has its batches ready (executor
  start, BLAS thread limit and graph building included) to the end of the last loss
  reading (which waits for the device).
- references: ``perf_counter`` around the loop over the same ``Batches``, with the BLAS
  thread limit (numpy) or ``torch.set_num_threads`` set before the clock starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tfnn.bench.models import Workload, tfnn_model


@dataclass(frozen=True)
class Contender:
    """One timed configuration; ``kind`` is ``"tfnn"``, ``"numpy-loop"`` or ``"torch"``.

    ``blas_threads`` is the BLAS thread limit (threadpoolctl) for numpy work and, for torch
    work, the value given to ``torch.set_num_threads``; ``streams`` is the size of the
    stream pool on a GPU (1 = no overlap between streams).
    """

    name: str
    kind: str
    backend: str
    device: str = "cpu"
    strategy: str | None = None
    workers: int | None = None
    blas_threads: int = 1
    streams: int | None = None

    def settings(self) -> dict[str, Any]:
        """The fields, plus the thread counts each library is held to during the run."""
        torch = self.backend == "torch"
        return {
            **asdict(self),
            "threads": {
                "executor_workers": self.workers if self.kind == "tfnn" else None,
                "blas": self.blas_threads,
                "torch_intra_op": self.blas_threads if torch else None,
            },
        }


@dataclass
class Run:
    """One run: seconds timed, samples trained, the loss curve, the final weights."""

    seconds: float
    samples: int
    curve: list[tuple[float, int, float]] = field(default_factory=list)
    weights: dict[str, np.ndarray] | None = None

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def cores() -> int:
    return os.cpu_count() or 1


def tfnn_contenders(
    backend: str,
    device: str,
    strategies: list[str],
    workers: int,
    streams: list[int],
) -> list[Contender]:
    """The tfnn contenders of one backend: each strategy with ``workers`` workers and
    ``cores // workers`` BLAS threads (``sequential``: 1 worker, every core), and
    ``condition`` also with 1 worker and every core; on a GPU the graph strategies once per
    stream pool size in ``streams`` (named ``-s1``, ``-s4`` when there are several).

    Example::

        [c.name for c in tfnn_contenders("numpy", "cpu", ["condition"], 2, [4])]
        # ['tfnn-numpy-condition-w2b1', 'tfnn-numpy-condition-w1b2']
    """
    n = cores()
    label = backend if device == "cpu" else f"{backend}-{device.replace(':', '')}"
    configs: list[tuple[str, int, int]] = []
    for strategy in strategies:
        if strategy == "sequential":
            configs.append((strategy, 1, n))
            continue
        configs.append((strategy, workers, max(1, n // workers)))
        if strategy == "condition" and (workers, max(1, n // workers)) != (1, n):
            configs.append((strategy, 1, n))
    gpu = not device.startswith("cpu")
    out = []
    for strategy, w, b in configs:
        base = f"tfnn-{label}-{strategy}"
        name = base if strategy == "sequential" else f"{base}-w{w}b{b}"
        # sequential runs its steps on the calling thread, one stream: no stream variants
        for s in streams if gpu and strategy != "sequential" else [None]:
            suffix = f"-s{s}" if s is not None and len(streams) > 1 else ""
            out.append(
                Contender(name + suffix, "tfnn", backend, device, strategy, w, b, s or streams[0])
            )
    return out


def reference_contenders() -> list[Contender]:
    """``numpy-loop`` and ``torch-cpu`` with every core, and ``torch-cuda``."""
    n = cores()
    return [
        Contender("numpy-loop", "numpy-loop", "numpy", blas_threads=n),
        Contender("torch-cpu", "torch", "torch", blas_threads=n),
        Contender("torch-cuda", "torch", "torch", "cuda:0", blas_threads=n),
    ]


def unavailable(contender: Contender) -> str | None:
    """Why ``contender`` cannot run here, or None when it can."""
    from tfnn.backends import BackendError, available_backends, get_backend

    if contender.kind == "numpy-loop":
        return None
    reason = available_backends().get(contender.backend, f"unknown backend {contender.backend!r}")
    if reason is not None:
        return reason
    if contender.kind == "torch":
        import torch

        if contender.device.startswith("cuda") and not torch.cuda.is_available():
            return f"torch {torch.__version__} sees no CUDA device"
        return None
    try:
        get_backend(contender.backend, contender.device)
    except BackendError as e:
        return str(e)
    return None


def run(contender: Contender, workload: Workload, *, blas_threads: int | None = None) -> Run:
    """Train ``workload`` once with ``contender`` and time it (module docstring).

    ``blas_threads`` overrides the contender's (the correctness guard runs every tfnn
    contender with the same, so that their weights must agree bitwise).

    Example::

        r = run(reference_contenders()[0], make_workload("mlp", load_data(), 128, 50))
        r.samples_per_second
    """
    threads = blas_threads or contender.blas_threads
    if contender.kind == "tfnn":
        return _run_tfnn(contender, workload, threads)
    if contender.kind == "numpy-loop":
        from tfnn.bench.references import NumpyMLP

        net: Any = NumpyMLP(workload.weights, workload.lr, workload.momentum)
        return _run_reference(net, workload, threads, None)
    if contender.kind == "torch":
        from tfnn.bench.references import TorchMLP

        with _torch_threads(threads):
            net = TorchMLP(workload.weights, workload.lr, workload.momentum, contender.device)
            return _run_reference(net, workload, threads, net.torch)
    raise ValueError(f"unknown contender kind {contender.kind!r}")


def _run_tfnn(contender: Contender, workload: Workload, threads: int) -> Run:
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.train import Trainer

    backend = get_backend(contender.backend, contender.device)
    model = tfnn_model(workload.sizes, workload.weights, backend)
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
    curve: list[tuple[float, int, float]] = []

    def record(point: dict[str, Any]) -> None:
        trained = point["step"] * workload.batch_size / point["samples_per_second"]
        curve.append((trained, point["step"], point["loss"]))

    with _torch_threads(threads) if contender.backend == "torch" else _nothing():
        history = trainer.fit(
            workload.x,
            workload.y,
            epochs=workload.epochs,
            batch_size=workload.batch_size,
            seed=workload.seed,
            eval_every=workload.eval_every,
            on_evaluation=record,
        )
    return Run(
        history.train_seconds + history.eval_seconds, history.samples, curve, model.state_dict()
    )


def _run_reference(net: Any, workload: Workload, threads: int, torch: Any) -> Run:
    from threadpoolctl import threadpool_limits

    batches = workload.batches()
    curve: list[tuple[float, int, float]] = []
    loss_sum: Any = 0.0
    since = step = 0
    with threadpool_limits(limits=threads, user_api="blas"):
        begin = time.perf_counter()
        for epoch in range(workload.epochs):
            for s in range(workload.steps_per_epoch):
                x, y = batches.batch(epoch, s)
                loss_sum = loss_sum + net.step(x, y)
                step += 1
                since += 1
                last = s == workload.steps_per_epoch - 1
                if last or (workload.eval_every and step % workload.eval_every == 0):
                    mean = float(loss_sum) / since
                    curve.append((time.perf_counter() - begin, step, mean))
                    loss_sum, since = 0.0, 0
        net.synchronize()
        seconds = time.perf_counter() - begin
    return Run(seconds, step * workload.batch_size, curve, net.weights())


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _nothing() -> Iterator[None]:
    yield
