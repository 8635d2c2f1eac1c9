"""What the executor costs per task, and how many tasks a training step is.

The no-op graphs (only scheduling is timed; ``bench/executor.py`` times the same graphs
on concurrent.futures and dask)::

    chain_graph(n):  t0 -> t1 -> ... -> t(n-1)        each runs on the worker that ran the last
    fan_graph(n):    source -> n independent tasks -> sink
    loop_graph(n):   init -> body -> again? --0--> body (n iterations), --1--> done

``task_overhead`` runs each graph on ``Executor(workers=w)`` (w = 1 and 2) through the shared
runner (``tfnn.bench.model.measure``: interleaved, repetition 0, which also prepares each
graph for its first run, dropped) and reports microseconds per task. ``tasks_per_step``
counts the tasks of a short traced ``Trainer.fit`` per step; multiplied by the per-task
cost it estimates the executor's share of a step.
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

from tfnn.bench.model import Run, Timed, measure
from tfnn.executor import Executor, Taskflow


def _noop() -> None:
    return None


def chain_graph(size: int) -> Taskflow:
    """A chain of ``size`` no-op tasks."""
    tf = Taskflow("chain")
    tasks = [tf.emplace(_noop) for _ in range(size)]
    for a, b in itertools.pairwise(tasks):
        a.precede(b)
    return tf


def fan_graph(size: int) -> Taskflow:
    """A source, ``size`` independent no-op tasks, a sink: ``size + 2`` tasks."""
    tf = Taskflow("fan")
    source, sink = tf.emplace(_noop), tf.emplace(_noop)
    for _ in range(size):
        t = tf.emplace(_noop)
        source.precede(t)
        t.precede(sink)
    return tf


def loop_graph(iterations: int) -> Taskflow:
    """A condition-task loop: ``iterations`` times a body task and a condition task.

    Example::

        Executor(workers=2).run(loop_graph(100_000)).result()   # 200,000 tasks, plus 2
    """
    count = [0]
    tf = Taskflow("loop")
    init = tf.emplace(lambda: count.__setitem__(0, 0))
    body = tf.emplace(lambda: count.__setitem__(0, count[0] + 1))
    again = tf.condition(lambda: 0 if count[0] < iterations else 1)
    done = tf.emplace(_noop)
    init.precede(body)
    body.precede(again)
    again.precede(body, done)
    return tf


def task_overhead(
    size: int = 2000, repeats: int = 5, workers: tuple[int, ...] = (1, 2)
) -> dict[str, dict[str, dict[str, Any]]]:
    """Microseconds per task of each no-op graph and worker count (module docstring).

    Example::

        task_overhead(size=500, repeats=3)["chain"]["w2"]["median_us"]
    """
    graphs = {
        "chain": (chain_graph(size), size),
        "fan": (fan_graph(size), size + 2),
        "loop": (loop_graph(size), 2 * size),
    }
    executors = {f"w{w}": Executor(workers=w) for w in workers}
    contenders = [
        Timed(f"{graph}/{label}", _timer(executor, tf, tasks))
        for graph, (tf, tasks) in graphs.items()
        for label, executor in executors.items()
    ]
    try:
        runs = measure(None, contenders, repeats)
    finally:
        for executor in executors.values():
            executor.shutdown()
    out: dict[str, dict[str, dict[str, Any]]] = {graph: {} for graph in graphs}
    for name, rs in runs.items():
        graph, label = name.split("/")
        values = [r.seconds / r.samples * 1e6 for r in rs]
        out[graph][label] = {
            "median_us": statistics.median(values),
            "min_us": min(values),
            "max_us": max(values),
            "raw_us": values,
        }
    return out


def _timer(executor: Executor, tf: Taskflow, tasks: int) -> Callable[[None], Run]:
    def run(_: None) -> Run:
        begin = time.perf_counter()
        executor.run(tf).result()
        return Run(time.perf_counter() - begin, tasks)

    return run


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
