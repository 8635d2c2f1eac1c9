"""The correctness guard, the interleaved timing loop, and the statistics.

Guard: before any timing, every contender trains the workload's first ``steps`` steps
(default 5) from the same weights on the same batches; every tfnn contender runs with the
same BLAS thread count (OpenBLAS's results depend on it). The tfnn contenders on numpy must
give bitwise the weights of the first of them; every contender must match the first
reference (the numpy loop) to float32 tolerance (``rtol``/``atol`` on each weight). A
mismatch raises ``Disagreement``, naming the contender, and nothing is timed.

Timing: ``repeats + 1`` repetitions; each runs every contender once, in turn, starting one
further along the list each time, so a noisy machine slows all alike and none is always
first. Repetition 0 warms up (imports, allocator, BLAS threads) and is dropped.

Statistics per contender: samples/s of each kept repetition, median, min and max, and the
ratio of medians against the baseline contender (> 1: faster than the baseline).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfnn.bench.contenders import Contender, Run, run
from tfnn.bench.models import Workload

GUARD_STEPS = 5
RTOL = 1e-4
ATOL = 1e-5


class Disagreement(AssertionError):
    """A contender trained to other weights than the reference: its timing would mislead."""


@dataclass
class GuardResult:
    """What the guard compared: per contender, the largest absolute weight difference."""

    steps: int
    blas_threads: int
    reference: str
    bitwise_reference: str | None
    max_abs_diff: dict[str, float]
    bitwise: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "tfnn_blas_threads": self.blas_threads,
            "reference": self.reference,
            "bitwise_reference": self.bitwise_reference,
            "rtol": RTOL,
            "atol": ATOL,
            "max_abs_diff": self.max_abs_diff,
            "bitwise_equal": self.bitwise,
            "passed": True,
        }


def guard(
    workload: Workload,
    contenders: list[Contender],
    *,
    steps: int = GUARD_STEPS,
    blas_threads: int = 1,
    progress: Callable[[], None] | None = None,
) -> GuardResult:
    """Check that every contender trains to the same weights (module docstring).

    Example::

        guard(workload, contenders)     # raises Disagreement naming the first odd one out
    """
    short = workload.with_steps(min(steps, workload.steps))
    weights: dict[str, dict[str, np.ndarray]] = {}
    for c in contenders:
        result = run(c, short, blas_threads=blas_threads if c.kind == "tfnn" else None)
        assert result.weights is not None
        weights[c.name] = result.weights
        if progress is not None:
            progress()
    references = [c.name for c in contenders if c.kind != "tfnn"]
    reference = references[0] if references else contenders[0].name
    numpy_tfnn = [c.name for c in contenders if c.kind == "tfnn" and c.backend == "numpy"]
    bitwise_reference = numpy_tfnn[0] if numpy_tfnn else None
    diffs: dict[str, float] = {}
    bitwise: dict[str, bool] = {}
    for c in contenders:
        diffs[c.name] = _compare(c.name, weights[c.name], reference, weights[reference], short)
        if bitwise_reference is not None and c.name in numpy_tfnn:
            same = all(
                np.array_equal(weights[c.name][k], weights[bitwise_reference][k])
                for k in weights[c.name]
            )
            bitwise[c.name] = same
            if not same:
                worst = _worst(weights[c.name], weights[bitwise_reference])
                raise Disagreement(
                    f"contender {c.name} is not bitwise equal to {bitwise_reference} after "
                    f"{short.steps} steps of {workload.name} ({worst}); not timing it"
                )
    return GuardResult(short.steps, blas_threads, reference, bitwise_reference, diffs, bitwise)


def _compare(
    name: str,
    got: dict[str, np.ndarray],
    reference: str,
    expected: dict[str, np.ndarray],
    workload: Workload,
) -> float:
    if set(got) != set(expected):
        raise Disagreement(f"contender {name} has parameters {sorted(got)}, not {sorted(expected)}")
    for key in expected:
        a, b = np.asarray(got[key], np.float64), np.asarray(expected[key], np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=ATOL):
            raise Disagreement(
                f"contender {name} disagrees with {reference} after {workload.steps} steps of "
                f"{workload.name}: {_worst(got, expected)} (rtol {RTOL:g}, atol {ATOL:g}); "
                "not timing it"
            )
    return max(
        float(np.max(np.abs(np.asarray(got[k], np.float64) - expected[k]))) for k in expected
    )


def _worst(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> str:
    diffs = {k: float(np.max(np.abs(np.asarray(got[k], np.float64) - expected[k]))) for k in got}
    key = max(diffs, key=lambda k: diffs[k])
    return f"max |difference| {diffs[key]:.3g} in {key}"


def interleave(
    workload: Workload,
    contenders: list[Contender],
    repeats: int,
    *,
    progress: Callable[[], None] | None = None,
) -> dict[str, list[Run]]:
    """Run every contender ``repeats + 1`` times, interleaved; drop repetition 0.

    Example::

        runs = interleave(workload, contenders, repeats=5)
        [r.samples_per_second for r in runs["numpy-loop"]]
    """
    runs: dict[str, list[Run]] = {c.name: [] for c in contenders}
    for rep in range(repeats + 1):
        start = rep % len(contenders)
        for c in contenders[start:] + contenders[:start]:
            result = run(c, workload)
            result.weights = None
            if rep:
                runs[c.name].append(result)
            if progress is not None:
                progress()
    return runs


def summarize(runs: dict[str, list[Run]], baseline: str | None) -> dict[str, dict[str, Any]]:
    """Median, min, max samples/s per contender and the ratio of medians to ``baseline``.

    Example::

        summarize(runs, "numpy-loop")["tfnn-numpy-condition-w2b1"]["ratio"]   # e.g. 1.2
    """
    out: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        rates = [r.samples_per_second for r in rs]
        out[name] = {
            "samples_per_second": rates,
            "seconds": [r.seconds for r in rs],
            "samples": [r.samples for r in rs],
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
        }
    base = out.get(baseline) if baseline is not None else None
    for stats in out.values():
        stats["ratio"] = stats["median"] / base["median"] if base else None
    return out


def median_run(rs: list[Run]) -> Run:
    """The repetition whose throughput is the median (the lower middle for an even count)."""
    ordered = sorted(rs, key=lambda r: r.samples_per_second)
    return ordered[(len(ordered) - 1) // 2]
