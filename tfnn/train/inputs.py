"""What ``Trainer.fit`` is given, checked before anything is trained or written.

``FitOptions.checked`` validates the settings of one fit (counts, the target, the output
paths: ``tfnn.train.outputs``) and holds them; ``FitData`` holds the training and
evaluation arrays as numpy arrays on the host, checked against the model, and builds from
them the ``Batches`` the steps read, the accuracy function the evaluations call and the
data's fingerprint (sizes and a hash) that a checkpoint records. Every mistake is an
``InvalidArgument`` (a ``ValueError``) or, for an existing checkpoint, a
``CheckpointError``, whose message says what to pass instead.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

from tfnn.backends import Backend
from tfnn.checkpoint import CheckpointError
from tfnn.data import Batches
from tfnn.errors import InvalidArgument, whole_number
from tfnn.nn.base import Layer
from tfnn.nn.functional import accuracy
from tfnn.nn.linear import Linear
from tfnn.nn.sequential import Sequential
from tfnn.train.outputs import CHECKPOINT, RESUMED, TRACE, OutputKind, check_outputs

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
    overwrite: bool
    allow_other_data: bool
    trace: Path | None

    @classmethod
    def checked(cls, *, has_eval_data: bool, traces: bool, **given: Any) -> FitOptions:
        """The options, or ``InvalidArgument`` naming the first one that does not fit.

        ``given`` holds the fields by name; ``traces`` says whether the strategy runs task
        graphs (so that a trace has tasks to show).
        """
        target = given["target_accuracy"]
        if target is not None and not has_eval_data:
            raise InvalidArgument("target_accuracy needs eval_data to measure accuracy on")
        if target is not None and not 0.0 < target <= 1.0:
            raise InvalidArgument(f"target_accuracy is a fraction in (0, 1], not {target!r}")
        if given["trace"] is not None and not traces:
            raise InvalidArgument(
                "the sequential strategy runs no task graph, so a trace would be empty; "
                "trace another strategy, or leave trace out"
            )
        every = given["eval_every"]
        options = cls(
            **{
                **given,
                "epochs": whole_number(given["epochs"], "epochs"),
                "batch_size": whole_number(given["batch_size"], "batch_size"),
                "seed": whole_number(given["seed"], "seed", minimum=0),
                "eval_every": None if every is None else whole_number(every, "eval_every"),
                "checkpoint": _path(given["checkpoint"]),
                "trace": _path(given["trace"]),
            }
        )
        options._check_outputs(given)
        return options

    def _check_outputs(self, given: dict[str, Any]) -> None:
        outputs: dict[str, tuple[Pathish, OutputKind]] = {}
        if self.checkpoint is not None:
            # A checkpoint to resume from is read first: loading it says what is wrong.
            kind = RESUMED if self.resume else CHECKPOINT
            outputs["checkpoint"] = (given["checkpoint"], kind)
        if self.trace is not None:
            outputs["trace"] = (given["trace"], TRACE)
        check_outputs(outputs)
        path = self.checkpoint
        if path is not None and path.exists() and not (self.resume or self.overwrite):
            raise CheckpointError(
                f"{given['checkpoint']} exists; pass resume=True to continue from it, or "
                "overwrite=True to replace it (the file is left as it is)"
            )


def _path(given: Pathish | None) -> Path | None:
    return None if given is None else Path(given)


class FitData:
    """The arrays of one fit on the host, checked against ``model``.

    ``x``, ``y`` and ``eval_data`` may be numpy arrays, sequences, or arrays of another
    library (torch tensors, cupy arrays, array-api-strict arrays, on any device): they are
    copied to the host once here, and each batch goes back to the backend's device.
    ``normalize`` says whether ``x`` holds pixels 0..255 to normalise like MNIST; None
    decides from the data: uint8 yes, other integers and floats with a fraction no, and
    floats holding only whole numbers 0..255 are refused as ambiguous.

    Example::

        data = FitData(model, x, y, eval_data=(xt, yt))
        batches = data.batches(128, seed=0, asarray=backend.asarray)
    """

    def __init__(
        self,
        model: Layer,
        x: Any,
        y: Any,
        eval_data: tuple[Any, Any] | None,
        normalize: bool | None = None,
    ) -> None:
        self.x, self.y = to_host(x), to_host(y)
        _check_samples(model, self.x, self.y, "x", "y")
        self.normalize = _normalize(self.x, normalize)
        self.eval_data = None
        if eval_data is not None:
            xt, yt = to_host(eval_data[0]), to_host(eval_data[1])
            _check_samples(model, xt, yt, "eval_data[0]", "eval_data[1]")
            self.eval_data = (xt, yt)

    def batches(self, batch_size: int, seed: int, asarray: Callable[[Any], Any]) -> Batches:
        """The shuffled training batches."""
        return Batches(
            self.x, self.y, batch_size, seed=seed, normalize=self.normalize, asarray=asarray
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
                    normalize=self.normalize,
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

    def fingerprint(self) -> dict[str, Any]:
        """The data's sizes and a hash of its values, to tell other data from this.

        Example::

            data.fingerprint()   # {'train': 6000, 'eval': 1000, 'hash': '9f1c...'}
        """
        digest = hashlib.blake2b(digest_size=16)
        arrays = [self.x, self.y, *(self.eval_data or ())]
        for a in arrays:
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a).data)
        evaluated = 0 if self.eval_data is None else len(self.eval_data[1])
        return {"train": len(self.y), "eval": evaluated, "hash": digest.hexdigest()}


def to_host(a: Any) -> np.ndarray:
    """``a`` as a numpy array on the host (a cupy array, a CUDA tensor or an array on
    another device is copied over).

    Example::

        to_host(torch.arange(3, device="cuda"))   # array([0, 1, 2])
    """
    if isinstance(a, np.ndarray):
        return a
    if array_api_compat.is_cupy_array(a):
        return a.get()
    if array_api_compat.is_torch_array(a):
        return a.detach().cpu().numpy()
    if array_api_compat.is_array_api_obj(a):
        xp = array_api_compat.array_namespace(a)
        if array_api_compat.is_array_api_strict_namespace(xp):
            # Its fake devices refuse numpy; its CPU device is the host.
            a = a.to_device(xp.Device("CPU_DEVICE"))
    return np.asarray(a)


def _check_samples(model: Layer, x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    if x.ndim == 0 or len(x) != len(y) or y.ndim != 1:
        raise InvalidArgument(
            f"{x_name} has shape {x.shape} and {y_name} has shape {y.shape}; pass one integer "
            "label per sample"
        )
    if not len(x):
        raise InvalidArgument(
            "no training samples; check the data path"
            if x_name == "x"
            else "eval_data holds no samples; pass at least one, or leave eval_data out"
        )
    layers = model.layers if isinstance(model, Sequential) else [model]
    linears = [layer for layer in layers if isinstance(layer, Linear)]
    features = int(np.prod(x.shape[1:]))
    if linears and linears[0].in_features != features:
        raise InvalidArgument(
            f"the model's first layer takes {linears[0].in_features} features but each sample "
            f"of {x_name} has {features} ({'x'.join(map(str, x.shape[1:]))}); make the first "
            f"layer size {features}"
        )
    _check_labels(y, y_name, linears[-1].out_features if linears else None)
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        kind = "NaN" if np.isnan(x[bad]).any() else "an infinite value"
        raise InvalidArgument(
            f"input contains {kind}: {x_name}[{bad}] (and maybe more samples); clean the "
            "data or drop those samples"
        )


def _check_labels(y: np.ndarray, name: str, classes: int | None) -> None:
    if y.dtype.kind not in "iu" and not (
        y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()
    ):
        raise InvalidArgument(f"{name} must hold integer class labels, not {y.dtype} values")
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise InvalidArgument(f"{name} holds the label {low}; class labels count from 0")
    if classes is not None and high >= classes:
        raise InvalidArgument(
            f"{name} holds labels up to {high}, but the model's last layer has {classes} "
            f"outputs (classes 0..{classes - 1}); fix the labels, or make the last layer "
            f"{high + 1} wide if there are {high + 1} classes"
        )


def _normalize(x: np.ndarray, normalize: bool | None) -> bool:
    if normalize is not None:
        return bool(normalize)
    if x.dtype == np.uint8:
        return True
    if x.dtype.kind == "f" and x.size:
        low, high = float(x.min()), float(x.max())
        if low >= 0.0 and 1.0 < high <= 255.0 and bool((x == np.round(x)).all()):
            raise InvalidArgument(
                f"x holds {x.dtype} whole numbers from {low:g} to {high:g}, like pixels: pass "
                "normalize=True to normalise them like MNIST (as uint8 images are), or "
                "normalize=False to train on the values as they are"
            )
    return False
