"""The correctness guard: every contender must train to the same weights before it is timed.

Before any timing, every contender trains the workload's first ``steps`` steps
(default 5) from the same weights on the same batches; every tfnn contender runs with the
same BLAS thread count (OpenBLAS's results depend on it). The tfnn contenders on numpy must
give bitwise the weights of the first of them; every contender must match the first
reference (the numpy loop) to float32 tolerance (``rtol``/``atol`` on each weight). A
mismatch raises ``Disagreement``, naming the contender, and nothing is timed. A training
that diverges (tfnn's ``TrainingDiverged``, non-finite weights, or a weight ``GROWTH``
times the largest initial one: a few steps at a workable learning rate move the weights
little) is a ``BenchError`` that says so instead: the learning rate is too high.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfnn.bench.contenders import TrainingContender
from tfnn.bench.model import BenchError
from tfnn.bench.workload import Workload
from tfnn.train import TrainingDiverged

GUARD_STEPS = 5
GROWTH = 1000.0
RTOL = 1e-4
ATOL = 1e-5


class Disagreement(BenchError):
    """A contender trained to other weights than the reference: its timing would mislead."""


def guard(
    workload: Workload,
    contenders: list[TrainingContender],
    *,
    steps: int = GUARD_STEPS,
    blas_threads: int = 1,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Check that every contender trains to the same weights (module docstring).

    Example::

        guard(workload, contenders)["max_abs_diff"]   # or Disagreement naming the odd one
    """
    short = workload.with_steps(min(steps, workload.steps))
    weights: dict[str, dict[str, np.ndarray]] = {}
    for c in contenders:
        weights[c.name] = _train(c, short, blas_threads if c.kind == "tfnn" else None)
        if progress is not None:
            progress()
    references = [c.name for c in contenders if c.kind != "tfnn"]
    reference = references[0] if references else contenders[0].name
    numpy_tfnn = [c.name for c in contenders if c.kind == "tfnn" and c.backend == "numpy"]
    bitwise_reference = numpy_tfnn[0] if numpy_tfnn else None
    diffs, bitwise = {}, {}
    for name, got in weights.items():
        if bitwise_reference is not None and name in numpy_tfnn:
            bitwise[name] = _difference(got, weights[bitwise_reference])[0] == 0.0
            if not bitwise[name]:
                raise Disagreement(
                    f"contender {name} is not bitwise equal to {bitwise_reference} after "
                    f"{short.steps} steps of {workload.name} "
                    f"({_worst(got, weights[bitwise_reference])}); not timing it"
                )
        diffs[name], close = _difference(got, weights[reference])
        if not close:
            raise Disagreement(
                f"contender {name} disagrees with {reference} after {short.steps} steps of "
                f"{workload.name}: {_worst(got, weights[reference])} (rtol {RTOL:g}, atol "
                f"{ATOL:g}); not timing it"
            )
    return {
        "steps": short.steps,
        "tfnn_blas_threads": blas_threads,
        "reference": reference,
        "bitwise_reference": bitwise_reference,
        "rtol": RTOL,
        "atol": ATOL,
        "max_abs_diff": diffs,
        "bitwise_equal": bitwise,
        "passed": True,
    }


def _train(
    contender: TrainingContender, workload: Workload, blas_threads: int | None
) -> dict[str, np.ndarray]:
    try:
        weights = contender.run(workload, blas_threads=blas_threads).weights
    except TrainingDiverged as e:
        raise _diverged(contender, workload, str(e)) from None
    assert weights is not None
    start = max(float(np.max(np.abs(w))) for w in workload.weights.values())
    if not all(np.isfinite(w).all() for w in weights.values()):
        raise _diverged(contender, workload, "its weights are no longer finite")
    largest = max(float(np.max(np.abs(w))) for w in weights.values())
    if largest > GROWTH * start:
        why = f"its largest weight grew from {start:.3g} to {largest:.3g}"
        raise _diverged(contender, workload, why)
    return weights


def _diverged(contender: TrainingContender, workload: Workload, why: str) -> BenchError:
    return BenchError(
        f"the training diverges with lr {workload.lr:g}, momentum {workload.momentum:g}: "
        f"{contender.name} after {workload.steps} steps of {workload.name}: {why}; "
        "lower --lr to time it"
    )


def _difference(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> tuple[float, bool]:
    """The largest absolute difference, and whether every weight is close (rtol, atol)."""
    if got.keys() != expected.keys():
        return math.inf, False
    a = {k: np.asarray(got[k], np.float64) for k in expected}
    b = {k: np.asarray(expected[k], np.float64) for k in expected}
    if any(a[k].shape != b[k].shape for k in expected):
        return math.inf, False
    largest = max(float(np.max(np.abs(a[k] - b[k]))) for k in expected)
    return largest, all(np.allclose(a[k], b[k], rtol=RTOL, atol=ATOL) for k in expected)


def _worst(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> str:
    if got.keys() != expected.keys():
        return f"parameters {sorted(got)}, not {sorted(expected)}"
    for k in got:
        if np.shape(got[k]) != np.shape(expected[k]):
            return f"{k} of shape {np.shape(got[k])}, not {np.shape(expected[k])}"
    diffs = {k: float(np.max(np.abs(np.asarray(got[k], np.float64) - expected[k]))) for k in got}
    key = max(diffs, key=lambda k: diffs[k])
    return f"max |difference| {diffs[key]:.3g} in {key}"
