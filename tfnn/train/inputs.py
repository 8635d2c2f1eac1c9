"""What ``Trainer.fit`` is given, checked before anything is trained or written.

``FitOptions.checked`` validates the settings of one fit (counts, the target, the paths)
and holds them; ``FitData`` holds the training and evaluation arrays as numpy arrays on
the host, checked against the model, and builds from them the ``Batches`` the steps read
and the accuracy function the evaluations call. Every mistake is an ``InvalidArgument``
(a ``ValueError``) whose message says what to pass instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfnn.backends import Backend
from tfnn.data import Batches
from tfnn.errors import InvalidArgument, positive_int
from tfnn.nn.base import Layer
from tfnn.nn.functional import accuracy
from tfnn.nn.linear import Linear
from tfnn.nn.sequential import Sequential

EVAL_CHUNK = 10_000

Pathish = str | os.PathLike[str]


@dataclass(frozen=True)
class FitOptions:
    """The settings of one ``Trainer.fit``, checked (see ``Trainer.fit``)."""

    epochs: int
    batch_size: int
    seed: int
    eval_every: int | None
    target_accuracy: float | None
    checkpoint: Path | None
    resume: bool
    trace: Path | None

    @classmethod
    def checked(
        cls,
        *,
        epochs: int,
        batch_size: int,
        seed: int,
        eval_every: int | None,
        target_accuracy: float | None,
        has_eval_data: bool,
        checkpoint: Pathish | None,
        resume: bool,
        trace: Pathish | None,
    ) -> FitOptions:
        """The options, or ``InvalidArgument`` naming the first one that does not fit."""
        if target_accuracy is not None and not has_eval_data:
            raise InvalidArgument("target_accuracy needs eval_data to measure accuracy on")
        if target_accuracy is not None and not 0.0 < target_accuracy <= 1.0:
            raise InvalidArgument(
                f"target_accuracy is a fraction in (0, 1], not {target_accuracy!r}"
            )
        return cls(
            epochs=positive_int(epochs, "epochs"),
            batch_size=positive_int(batch_size, "batch_size"),
            seed=seed,
            eval_every=None if eval_every is None else positive_int(eval_every, "eval_every"),
            target_accuracy=target_accuracy,
            checkpoint=None if checkpoint is None else Path(checkpoint),
            resume=resume,
            trace=None if trace is None else Path(trace),
        )


class FitData:
    """The arrays of one fit on the host, checked against ``model``.

    Example::

        data = FitData(model, x, y, eval_data=(xt, yt))
        batches = data.batches(128, seed=0, asarray=backend.asarray)
    """

    def __init__(self, model: Layer, x: Any, y: Any, eval_data: tuple[Any, Any] | None) -> None:
        self.x, self.y = np.asarray(x), np.asarray(y)
        _check_samples(model, self.x, self.y)
        self.eval_data = None
        if eval_data is not None:
            self.eval_data = (np.asarray(eval_data[0]), np.asarray(eval_data[1]))

    def batches(self, batch_size: int, seed: int, asarray: Callable[[Any], Any]) -> Batches:
        """The shuffled training batches (uint8 images are normalised like MNIST)."""
        return Batches(
            self.x,
            self.y,
            batch_size,
            seed=seed,
            normalize=self.x.dtype == np.uint8,
            asarray=asarray,
        )

    def accuracy_on_eval_data(
        self, model: Layer, backend: Backend, parallel: Any = None
    ) -> Callable[[], float] | None:
        """A function measuring ``model``'s accuracy on the evaluation data (None without).

        With ``parallel`` (a ``tfnn.parallel.DataParallel``) each rank counts the hits on
        its part of the data and the counts are summed, so every rank gets the same
        accuracy, the one a single process measures.
        """
        if self.eval_data is None:
            return None
        xt, yt = self.eval_data
        total = len(yt)
        if parallel is not None:
            lo, hi = parallel.eval_bounds(total)
            xt, yt = xt[lo:hi], yt[lo:hi]
        chunks = (
            list(
                Batches(
                    xt,
                    yt,
                    min(EVAL_CHUNK, len(yt)),
                    shuffle=False,
                    normalize=xt.dtype == np.uint8,
                    asarray=backend.asarray,
                ).epoch(0)
            )
            if len(yt)
            else []
        )

        def evaluate() -> float:
            hits = sum(accuracy(model.predict(cx), cy) * cy.shape[0] for cx, cy in chunks)
            if parallel is not None:
                hits = parallel.reduce_values([hits])[0]
            return hits / total

        return evaluate


def _check_samples(model: Layer, x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y) or y.ndim != 1:
        raise InvalidArgument(
            f"x has {len(x)} samples and y has shape {y.shape}; pass one integer label per sample"
        )
    if not len(x):
        raise InvalidArgument("no training samples; check the data path")
    features = int(np.prod(x.shape[1:]))
    layers = model.layers if isinstance(model, Sequential) else [model]
    first = next((layer for layer in layers if isinstance(layer, Linear)), None)
    if first is not None and first.in_features != features:
        raise InvalidArgument(
            f"the model's first layer takes {first.in_features} features but each sample has "
            f"{features} ({'x'.join(map(str, x.shape[1:]))}); make the first layer size "
            f"{features} (e.g. --layers {features},...)"
        )
