"""What the executor costs per task, and how many tasks a training step is.

``task_overhead`` times no-op graphs on ``Executor(workers=w)`` (w = 1 and 2), so only
scheduling is timed, interleaved, repetition 0 dropped, medians:

- ``chain``: a chain of ``size`` tasks (each runs on the worker that finished the one before);
- ``fan``:   a source, ``size`` independent tasks, a sink;
- ``loop``:  a condition-task loop of ``size`` iterations (body + condition per iteration).

``tasks_per_step`` counts the tasks of a short traced ``Trainer.fit`` with the ``condition``
strategy per step; multiplied by the per-task cost it estimates the executor's share of
a step. ``bench/executor.py`` compares the same cost with concurrent.futures and dask.
"""

from __future__ import annotations

import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfnn.executor import Executor, Taskflow


def _noop() -> None:
    return None


def _chain(size: int) -> Taskflow:
    tf = Taskflow("chain")
    tasks = [tf.emplace(_noop) for _ in range(size)]
    for a, b in itertools.pairwise(tasks):
        a.precede(b)
    return tf


def _fan(size: int) -> Taskflow:
    tf = Taskflow("fan")
    source, sink = tf.emplace(_noop), tf.emplace(_noop)
    for _ in range(size):
        t = tf.emplace(_noop)
        source.precede(t)
        t.precede(sink)
    return tf


def _loop(size: int) -> Taskflow:
    count = [0]
    tf = Taskflow("loop")
    init = tf.emplace(lambda: count.__setitem__(0, 0))
    body = tf.emplace(lambda: count.__setitem__(0, count[0] + 1))
    again = tf.condition(lambda: 0 if count[0] < size else 1)
    done = tf.emplace(_noop)
    init.precede(body)
    body.precede(again)
    again.precede(body, done)
    return tf


def task_overhead(
    size: int = 2000, repeats: int = 5, workers: tuple[int, ...] = (1, 2)
) -> dict[str, dict[str, Any]]:
    """Microseconds per task of each no-op graph and worker count (module docstring).

    Example::

        task_overhead(size=500, repeats=3)["chain"]["w2"]["median_us"]
    """
    graphs: dict[str, tuple[Taskflow, int]] = {
        "chain": (_chain(size), size),
        "fan": (_fan(size), size + 2),
        "loop": (_loop(size), 2 * size),
    }
    executors = {f"w{w}": Executor(workers=w) for w in workers}
    raw: dict[str, dict[str, list[float]]] = {g: {e: [] for e in executors} for g in graphs}
    try:
        for rep in range(repeats + 1):
            for graph, (tf, tasks) in graphs.items():
                for label, executor in executors.items():
                    begin = time.perf_counter()
                    executor.run(tf).result()
                    elapsed = time.perf_counter() - begin
                    if rep:
                        raw[graph][label].append(elapsed / tasks * 1e6)
    finally:
        for executor in executors.values():
            executor.shutdown()
    return {
        graph: {
            label: {
                "median_us": statistics.median(values),
                "min_us": min(values),
                "max_us": max(values),
                "raw_us": values,
            }
            for label, values in by_executor.items()
        }
        for graph, by_executor in raw.items()
    }


def tasks_per_step(fit: Callable[[Path], int]) -> float:
    """Tasks run per step by ``fit(trace_path) -> steps``, from the trace it writes.

    Example::

        tasks_per_step(lambda path: trainer.fit(x, y, epochs=1, trace=path).steps)
    """
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trace.json"
        steps = fit(path)
        events = json.loads(path.read_text())["traceEvents"]
    return sum(1 for e in events if e.get("ph") == "X") / max(steps, 1)
