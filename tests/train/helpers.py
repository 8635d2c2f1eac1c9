"""Small models, the embedded MNIST sample and comparisons shared by the training tests.

Every Trainer here gets ``blas_threads=1``: OpenBLAS splits a matmul differently for
different thread counts and so rounds differently, which would break bitwise comparisons
between runs that differ only in their BLAS thread count (the cap is process-wide, so it
also covers the simulated device's stream threads).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tfnn import nn, optim
from tfnn.backends import get_backend
from tfnn.data import Batches, load_mnist_sample
from tfnn.executor import SyncExecutor
from tfnn.train import STRATEGIES, History, Trainer
from tfnn.train.control import Control
from tfnn.train.step import StepWork

BLAS_THREADS = 1  # the same for every run: other counts round differently (see above)
SAMPLES = 300  # 300 / 64: four full batches and a partial one of 44
BATCH = 64
STEPS_PER_EPOCH = 5
SEED = 5
EXECUTOR_STRATEGIES = ["two-graph", "condition", "pipelined", "unrolled"]
ALL_STRATEGIES = ["sequential", *EXECUTOR_STRATEGIES]


@functools.cache
def mnist(samples: int = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The first ``samples`` images of the embedded sample (uint8) and their labels."""
    x, y = load_mnist_sample("train")
    return x[:samples], y[:samples]


def sgd_mlp() -> tuple[nn.Layer, Any]:
    model = nn.Sequential(
        nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 10), seed=3
    )
    return model, optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4
    )


def dropout_adam() -> tuple[nn.Layer, Any]:
    model = nn.Sequential(
        nn.Linear(784, 32), nn.ReLU(), nn.Dropout(0.25), nn.Linear(32, 10), seed=4
    )
    return model, optim.Adam(model.parameters(), lr=2e-3)


def dropout_first() -> tuple[nn.Layer, Any]:
    """A parameterless first layer: no BW/U for layer 0, and BI1's result is unused."""
    model = nn.Sequential(
        nn.Dropout(0.1), nn.Linear(784, 24), nn.GELU(), nn.Linear(24, 10, bias=False), seed=5
    )
    return model, optim.SGD(model.parameters(), lr=0.05, momentum=0.5)


def adamw_sigmoid() -> tuple[nn.Layer, Any]:
    model = nn.Sequential(
        nn.Linear(784, 16, init="xavier", bias=False), nn.Sigmoid(), nn.Linear(16, 10), seed=6
    )
    return model, optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-2, decoupled=True)


def single_linear() -> tuple[nn.Layer, Any]:
    """A bare layer, not a Sequential: one step is start, F0, loss, BW0, U0."""
    model = nn.Linear(784, 10).initialize(seed=7)
    return model, optim.SGD(model.parameters(), lr=0.02)


MODELS: dict[str, Callable[[], tuple[nn.Layer, Any]]] = {
    "sgd-mlp": sgd_mlp,
    "dropout-adam": dropout_adam,
    "dropout-first": dropout_first,
    "adamw-sigmoid": adamw_sigmoid,
    "single-linear": single_linear,
}


def trainer(
    model: nn.Layer, optimizer: Any, strategy: str, workers: int = 2, loss: Any = None
) -> Trainer:
    return Trainer(
        model,
        loss if loss is not None else nn.SoftmaxCrossEntropy(),
        optimizer,
        strategy=strategy,
        workers=workers,
        blas_threads=BLAS_THREADS,
    )


def fit(
    model_name: str, strategy: str, workers: int = 2, **kwargs: Any
) -> tuple[nn.Layer, History]:
    """Train a fresh ``MODELS[model_name]`` on the sample; return the model and history."""
    model, optimizer = MODELS[model_name]()
    x, y = mnist()
    kwargs = {"epochs": 2, "batch_size": BATCH, "seed": SEED, **kwargs}
    history = trainer(model, optimizer, strategy, workers).fit(x, y, **kwargs)
    return model, history


def assert_same_weights(a: nn.Layer, b: nn.Layer) -> None:
    """Bitwise equality of two models' parameters (``tobytes`` also tells -0.0 from 0.0)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert sa[name].shape == sb[name].shape, name
        assert sa[name].tobytes() == sb[name].tobytes(), f"{name} differs"


def recorded(history: History) -> dict[str, Any]:
    """What a history recorded, leaving out the wall-clock timings."""
    data = history.to_dict()
    del data["train_seconds"], data["eval_seconds"]
    return data


def step_pieces(
    model: nn.Layer,
    optimizer: Any,
    *,
    epochs: int = 2,
    eval_every: int | None = 2,
    samples: int = SAMPLES,
    eval_data: bool = True,
) -> tuple[StepWork, Control]:
    """StepWork and Control as ``Trainer.fit`` builds them, without the Trainer."""
    backend = get_backend()
    x, y = mnist(samples)
    batches = Batches(x, y, BATCH, seed=SEED, asarray=backend.asarray)
    work = StepWork(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        batches,
        epochs=epochs,
        dropout_rng=backend.rng(SEED + 1),
    )
    evaluate = None
    if eval_data:
        xe, ye = Batches(x, y, samples, shuffle=False, asarray=backend.asarray).batch(0, 0)

        def evaluate() -> float:
            # Reads the parameters on the host: it must see every update of the step.
            return nn.accuracy(model.predict(xe), ye)

    control = Control(
        work,
        epochs=epochs,
        eval_every=eval_every,
        evaluate_accuracy=evaluate,
        target_accuracy=None,
        save=None,
        history=History(),
    )
    return work, control


def run_strategy(strategy: str, executor: Any, device: str, model_name: str, **kw: Any):
    """Run ``graphs.STRATEGIES[strategy]`` on fresh pieces; return the model and history."""
    model, optimizer = MODELS[model_name]()
    work, control = step_pieces(model, optimizer, **kw)
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        STRATEGIES[strategy](work, control, executor, device)
    return model, control.history


def sequential_reference(model_name: str, **kw: Any):
    """The plain loop over the same pieces: the oracle for every graph."""
    executor = SyncExecutor()
    try:
        return run_strategy("sequential", executor, "cpu", model_name, **kw)
    finally:
        executor.shutdown()
