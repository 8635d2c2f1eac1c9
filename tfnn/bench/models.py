"""Benchmark networks, their initial weights, the data, and one timed ``Workload``.

Networks (ReLU between the Linear layers, softmax cross-entropy on top):

- ``mlp``: 784-256-128-10;
- ``taskflow-mnist``: 784-64-32-16-8-10, the network of Taskflow's MNIST benchmark.

Initial weights are He-normal (``W`` of shape (out, in), std sqrt(2 / in)) and zero
biases, float32, drawn with numpy from a seed, and named as ``nn.Sequential`` and
``torch.nn.Sequential`` name them (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...), so
every contender loads the same values.

A workload runs ``steps`` steps of ``batch_size`` as ``epochs`` epochs of
``steps_per_epoch`` full batches over a fixed random subset of the training images
(``steps_per_epoch * batch_size`` of them; ``steps_per_epoch`` is the largest divisor of
``steps`` that the data can fill), so every contender runs exactly ``steps`` steps with
no partial batch, and the data each run prepares stays no bigger than the data set.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MODELS: dict[str, tuple[int, ...]] = {
    "mlp": (784, 256, 128, 10),
    "taskflow-mnist": (784, 64, 32, 16, 8, 10),
}


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


def tfnn_model(sizes: tuple[int, ...], weights: dict[str, np.ndarray], backend: Any) -> Any:
    """An ``nn.Sequential`` of Linear and ReLU layers on ``backend`` holding ``weights``.

    Example::

        model = tfnn_model(MODELS["mlp"], initial_weights(MODELS["mlp"]), get_backend())
    """
    from tfnn import nn

    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    model = nn.Sequential(*layers, backend=backend)
    model.load_state_dict(weights)
    return model


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
    from tfnn.data.mnist import DATA_DIR_ENV

    directory = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if directory is None:
        x, y = load_mnist_sample("train")
        xt, yt = load_mnist_sample("test")
        return Data(x, y, xt, yt, "embedded sample")
    x, y = load_mnist("train", directory, download_missing=False)
    xt, yt = load_mnist("test", directory, download_missing=False)
    return Data(x, y, xt, yt, str(directory))


def plan_epochs(samples: int, batch_size: int, steps: int) -> tuple[int, int]:
    """``(epochs, steps_per_epoch)`` of full batches with ``epochs * steps_per_epoch == steps``.

    Example::

        plan_epochs(6000, 128, 200)     # (5, 40): 40 batches of 128 fit in 6,000 images
    """
    if batch_size > samples:
        raise ValueError(f"batch size {batch_size} exceeds the {samples} training images")
    fit = samples // batch_size
    per_epoch = max(k for k in range(1, min(steps, fit) + 1) if steps % k == 0)
    return steps // per_epoch, per_epoch


@dataclass
class Workload:
    """One model at one batch size for ``steps`` steps: what every contender runs.

    ``x``/``y`` are the training subset (uint8 images, normalised by ``Batches`` as
    ``Trainer.fit`` does), ``eval_every`` the steps between loss readings (each epoch end
    is one too, as in ``Trainer.fit``).
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
    extra: dict[str, Any] = field(default_factory=dict)

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
        """The same workload cut to its first ``steps`` steps (one epoch)."""
        n = steps * self.batch_size
        return Workload(
            self.model,
            self.sizes,
            self.batch_size,
            steps,
            1,
            steps,
            self.x[:n],
            self.y[:n],
            self.weights,
            self.lr,
            self.momentum,
            self.seed,
            None,
        )


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
) -> Workload:
    """Plan ``steps`` steps of ``model`` at ``batch_size`` on ``data`` (module docstring).

    Example::

        w = make_workload("mlp", load_data(), batch_size=128, steps=200)
        w.epochs, w.steps_per_epoch, w.x.shape     # (5, 40, (5120, 28, 28))
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
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
    )
