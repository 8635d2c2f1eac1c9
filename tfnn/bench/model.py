"""What every benchmark shares: workload x contender -> timed runs -> statistics.

A *workload* is the work to time (``tfnn.bench.workload.Workload`` for training; anything
with a ``name`` elsewhere). A *contender* (``Contender``: a ``name``, its ``settings()``, and
``run(workload) -> Run``) does that work once per call and times it; ``Run`` holds the
seconds timed and the samples (or tasks) done. ``Timed`` makes a contender of a function.

``measure`` runs every contender ``repeats + 1`` times, interleaved: each repetition runs
every contender once, starting one further along the list each time, so a noisy machine
slows all alike and none is always first. Repetition 0 warms the process up (imports,
allocator, thread pools) and is dropped. What must be warm inside one run (a fresh model's
first steps) the contender warms before its own clock starts (``tfnn.bench.contenders``).

``summarize`` turns the kept runs into ``Stats`` per contender: samples/s of each run
(raw), median, min, max, the median seconds of a run, and the ratio of medians against a
baseline contender (> 1: faster than the baseline). A contender with a kept run shorter
than ``MIN_SECONDS`` is *too short* to compare: fixed costs inside its clock (starting an
executor, building a graph, the last device sync) weigh on it as they would not on a long
run, so its ratio is None (and the table says "too short"), as is every ratio when the
baseline is too short.

Example (bench/distributed.py and bench/streams.py time their own work the same way)::

    contenders = [Timed("tfnn-2-ranks", time_two_ranks, {"ranks": 2}),
                  Timed("numpy-loop", time_numpy_loop, {"blas_threads": 2})]
    runs = measure(workload, contenders, repeats=5)
    stats = summarize(runs, baseline="numpy-loop")
    stats["tfnn-2-ranks"].ratio
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tfnn.commands import CommandError

MIN_SECONDS = 0.2

W = TypeVar("W")
W_contra = TypeVar("W_contra", contravariant=True)


class BenchError(CommandError):
    """A benchmark cannot run as asked; the message says why and what to change."""


@dataclass
class Run:
    """One timed run: seconds on the clock, samples trained, the loss curve
    (``(seconds, step, mean loss)`` points) and the final weights (for the guard)."""

    seconds: float
    samples: int
    curve: list[tuple[float, int, float]] = field(default_factory=list)
    weights: dict[str, Any] | None = None

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


class Contender(Protocol[W_contra]):
    """Who is timed: ``run(workload)`` does the work once and returns the timed ``Run``."""

    @property
    def name(self) -> str: ...

    def settings(self) -> dict[str, Any]: ...

    def run(self, workload: W_contra) -> Run: ...


@dataclass(frozen=True)
class Timed(Generic[W]):
    """A contender made of a function; ``options`` are its settings (threads, ranks...).

    Example::

        Timed("numpy-loop", lambda w: Run(seconds_of(w), w.samples), {"blas_threads": 2})
    """

    name: str
    function: Callable[[W], Run]
    options: Mapping[str, Any] = field(default_factory=dict)

    def settings(self) -> dict[str, Any]:
        return dict(self.options)

    def run(self, workload: W) -> Run:
        return self.function(workload)


def measure(
    workload: W,
    contenders: Sequence[Contender[W]],
    repeats: int,
    *,
    progress: Callable[[], None] | None = None,
) -> dict[str, list[Run]]:
    """Run every contender ``repeats + 1`` times, interleaved; drop repetition 0.

    Example::

        runs = measure(workload, contenders, repeats=5)
        [r.samples_per_second for r in runs["numpy-loop"]]
    """
    runs: dict[str, list[Run]] = {c.name: [] for c in contenders}
    for rep in range(repeats + 1):
        start = rep % len(contenders)
        for c in [*contenders[start:], *contenders[:start]]:
            result = c.run(workload)
            result.weights = None
            if rep:
                runs[c.name].append(result)
            if progress is not None:
                progress()
    return runs


@dataclass
class Stats:
    """One contender's kept runs (module docstring); ``to_dict()`` is its JSON."""

    samples_per_second: list[float]
    seconds: list[float]
    samples: list[int]
    median: float
    min: float
    max: float
    median_seconds: float
    too_short: bool
    ratio: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    runs: Mapping[str, list[Run]], baseline: str | None, *, min_seconds: float = MIN_SECONDS
) -> dict[str, Stats]:
    """Median, min, max samples/s per contender and the ratio of medians to ``baseline``.

    Example::

        summarize(runs, "numpy-loop")["tfnn-numpy-condition-w1b2"].ratio   # e.g. 1.05
    """
    out = {}
    for name, rs in runs.items():
        rates = [r.samples_per_second for r in rs]
        seconds = [r.seconds for r in rs]
        out[name] = Stats(
            rates,
            seconds,
            [r.samples for r in rs],
            statistics.median(rates),
            min(rates),
            max(rates),
            statistics.median(seconds),
            min(seconds) < min_seconds,
        )
    base = out.get(baseline) if baseline is not None else None
    if base is not None and not base.too_short:
        for stats in out.values():
            stats.ratio = None if stats.too_short else stats.median / base.median
    return out


def median_run(runs: Sequence[Run]) -> Run:
    """The run whose throughput is the median (the lower middle for an even count)."""
    ordered = sorted(runs, key=lambda r: r.samples_per_second)
    return ordered[(len(ordered) - 1) // 2]
