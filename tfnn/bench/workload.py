"""The training workload every contender runs: network, initial weights, data, steps.

Networks (ReLU between the Linear layers, softmax cross-entropy on top):

- ``mlp``: 784-256-128-10;
- ``taskflow-mnist``: 784-64-32-16-8-10, the network of Taskflow's MNIST benchmark.

Initial weights are He-normal (``W`` of shape (out, in), std sqrt(2 / in)) and zero
biases, float32, drawn with numpy from a seed, and named as ``nn.Sequential`` and
``torch.nn.Sequential`` name them (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...), so
every contender loads the same values (tfnn through ``nn.mlp(sizes)`` and
``load_state_dict``).

A workload runs ``steps`` steps of ``batch_size`` as ``epochs`` epochs of
``steps_per_epoch`` full batches over a fixed random subset of the training images
(``steps_per_epoch * batch_size`` of them; ``steps_per_epoch`` is the largest divisor of
``steps`` that the data can fill), so every contender runs exactly ``steps`` steps with
no partial batch, and the data each run prepares stays no bigger than the data set.
Before its clock starts, each run trains ``warmup_steps`` steps (the first batches of
the subset) on its fresh model: first steps, thread pools, allocator, optimizer state.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tfnn.bench.model import BenchError

MODELS: dict[str, tuple[int, ...]] = {
    "mlp": (784, 256, 128, 10),
    "taskflow-mnist": (784, 64, 32, 16, 8, 10),
}
WARMUP_STEPS = 5


def initial_weights(sizes: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """He-normal weights and zero biases, named like ``nn.Sequential``'s parameters.

    Example::

        w = initial_weights(MODELS["mlp"])
        w["0.weight"].shape, w["4.bias"].shape     # ((256, 784), (10,))
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        scale = np.sqrt(2.0 / n_in)
        weights[f"{2 * i}.weight"] = (rng.standard_normal((n_out, n_in)) * scale).astype(np.float32)
        weights[f"{2 * i}.bias"] = np.zeros(n_out, dtype=np.float32)
    return weights


@dataclass
class Data:
    """MNIST as uint8 images (N, 28, 28) and labels; ``source`` says where it came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def load_data(data_dir: str | os.PathLike[str] | None = None) -> Data:
    """Full MNIST from ``data_dir`` or ``$TFNN_DATA_DIR``, else the embedded sample.

    Example::

        data = load_data()            # the 6,000-image sample that ships with tfnn
        data.source                   # 'embedded sample'
    """
    from tfnn.data import load_mnist, load_mnist_sample
    from tfnn.data.errors import DataError
    from tfnn.data.mnist import DATA_DIR_ENV

    directory = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if directory is None:
        x, y = load_mnist_sample("train")
        xt, yt = load_mnist_sample("test")
        return Data(x, y, xt, yt, "embedded sample")
    try:
        x, y = load_mnist("train", directory, download_missing=False)
        xt, yt = load_mnist("test", directory, download_missing=False)
    except DataError as e:
        raise BenchError(str(e)) from None
    return Data(x, y, xt, yt, str(directory))


def plan_epochs(samples: int, batch_size: int, steps: int) -> tuple[int, int]:
    """``(epochs, steps_per_epoch)`` of full batches with ``epochs * steps_per_epoch == steps``.

    Example::

        plan_epochs(6000, 128, 200)     # (5, 40): 40 batches of 128 fit in 6,000 images
    """
    if batch_size > samples:
        raise BenchError(f"batch size {batch_size} exceeds the {samples} training images")
    fit = samples // batch_size
    per_epoch = max(k for k in range(1, min(steps, fit) + 1) if steps % k == 0)
    return steps // per_epoch, per_epoch


@dataclass
class Workload:
    """One model at one batch size for ``steps`` steps: what every contender runs.

    ``x``/``y`` are the training subset (uint8 images, normalised by ``Batches`` as
    ``Trainer.fit`` does), ``eval_every`` the steps between loss readings (each epoch end
    is one too, as in ``Trainer.fit``), ``warmup_steps`` the untimed steps before the clock.
    """

    model: str
    sizes: tuple[int, ...]
    batch_size: int
    steps: int
    epochs: int
    steps_per_epoch: int
    x: np.ndarray
    y: np.ndarray
    weights: dict[str, np.ndarray]
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    eval_every: int | None = None
    warmup_steps: int = 0

    @property
    def name(self) -> str:
        return f"{self.model}/b{self.batch_size}"

    @property
    def samples(self) -> int:
        return self.steps * self.batch_size

    def batches(self, asarray: Any = np.asarray) -> Any:
        """The batches every contender trains on (``Trainer.fit`` builds the same ones)."""
        from tfnn.data import Batches

        return Batches(
            self.x, self.y, self.batch_size, seed=self.seed, normalize=True, asarray=asarray
        )

    def with_steps(self, steps: int) -> Workload:
        """The same workload cut to its first ``steps`` steps (one epoch, no warm-up)."""
        n = steps * self.batch_size
        return replace(
            self,
            steps=steps,
            epochs=1,
            steps_per_epoch=steps,
            x=self.x[:n],
            y=self.y[:n],
            eval_every=None,
            warmup_steps=0,
        )

    def warmup(self) -> Workload | None:
        """The untimed steps a run trains first (its first ``warmup_steps`` batches)."""
        steps = min(self.warmup_steps, self.steps_per_epoch)
        return self.with_steps(steps) if steps else None


def make_workload(
    model: str,
    data: Data,
    batch_size: int,
    steps: int,
    *,
    lr: float = 0.05,
    momentum: float = 0.9,
    seed: int = 0,
    loss_points: int = 20,
    warmup_steps: int = WARMUP_STEPS,
) -> Workload:
    """Plan ``steps`` steps of ``model`` at ``batch_size`` on ``data`` (module docstring).

    Example::

        w = make_workload("mlp", load_data(), batch_size=128, steps=200)
        w.epochs, w.steps_per_epoch, w.x.shape     # (5, 40, (5120, 28, 28))
    """
    if model not in MODELS:
        raise BenchError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    epochs, per_epoch = plan_epochs(len(data.y_train), batch_size, steps)
    subset = np.random.default_rng(seed).permutation(len(data.y_train))[: per_epoch * batch_size]
    subset.sort()
    sizes = MODELS[model]
    return Workload(
        model,
        sizes,
        batch_size,
        steps,
        epochs,
        per_epoch,
        data.x_train[subset],
        data.y_train[subset],
        initial_weights(sizes, seed),
        lr,
        momentum,
        seed,
        max(1, steps // loss_points),
        warmup_steps,
    )
