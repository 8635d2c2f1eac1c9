"""Per-task overhead of tfnn's Executor against concurrent.futures and dask.threaded.

Workloads (no-op task bodies, so only scheduling is timed):

    (a) fan      source -> 10,000 independent tasks -> sink
    (b) chain    a chain of 10,000 tasks
    (c) loop     a condition-task loop of 100,000 iterations (body + condition), the graph
                 of ``tfnn.bench.overhead.loop_graph``
    (d) dag      a random layered DAG of 10,000 tasks (100 layers x 100, 1-3 inputs each)
    (e) async    100,000 async tasks submitted from the main thread, then a wait for all
    (f) depchain a chain of 10,000 dependent async tasks, each built when submitted

Contenders, all with 2 workers:

    tfnn      tfnn.executor.Executor(workers=2): a Taskflow; (e) ``async_``; (f)
              ``silent_dependent_async(fn, previous)``
    threads   concurrent.futures.ThreadPoolExecutor(2): each finished future's callback
              decrements its successors' counters and submits the ready ones; (e)
              ``submit``; (f) the chain by callbacks, as (b)
    dask      dask.threaded.get(num_workers=2) on the same graph as a dask dict; the loop
              is unrolled (dask has no cycles), and shortened to 10,000 iterations since
              dask takes ~0.1 ms per task: it is reported per iteration like the others.
              (e) and (f) would need dask.distributed's futures: skipped, with the reason
              printed, where it is not installed

Every repetition runs every contender once, in turn (interleaved), so a noisy machine
slows them alike; the figure that counts is the median ratio within one run. The
graphs of all workloads are built once, up front, and then frozen out of the garbage
collector (``gc.freeze``): otherwise the full collections that one workload's
allocations trigger scan every other workload's live graph (about 300,000 objects;
measured: 100,000 ``async_`` calls cost 3.5 us of CPU each with those graphs alive,
1.1 us without). The process
CPU time per task is recorded too: on a shared machine it moves far less than the wall
clock (threads waiting for a core cost wall time, not CPU time). Each timed
run starts after ``gc.collect()``; the garbage collector stays on during it.

    python bench/executor.py [--repeats 5] [--out bench/results/executor.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tfnn.bench.overhead import loop_graph
from tfnn.executor import AsyncTask, Executor, Taskflow

WORKERS = 2
SIZE = 10_000
LOOP = 100_000
DASK_LOOP = 10_000
ASYNC = 100_000
Edges = tuple[int, list[tuple[int, int]]]


def _noop(*_: object) -> None:
    return None


# -- the graphs, as edge lists: (number of tasks, [(i, j), ...]) --------------------------


def fan_edges() -> Edges:
    sink = SIZE + 1
    return SIZE + 2, [(0, i) for i in range(1, SIZE + 1)] + [(i, sink) for i in range(1, SIZE + 1)]


def chain_edges() -> Edges:
    return SIZE, [(i, i + 1) for i in range(SIZE - 1)]


def dag_edges(seed: int = 0) -> Edges:
    rng = random.Random(seed)
    layers, width = 100, SIZE // 100
    edges = []
    for layer in range(1, layers):
        for k in range(width):
            j = layer * width + k
            for i in rng.sample(range((layer - 1) * width, layer * width), rng.randint(1, 3)):
                edges.append((i, j))
    return layers * width, edges


# -- tfnn -----------------------------------------------------------------------------


def tfnn_static(executor: Executor, n: int, edges: list[tuple[int, int]]) -> Callable[[], None]:
    tf = Taskflow("bench")
    tasks = [tf.emplace(_noop) for _ in range(n)]
    for i, j in edges:
        tasks[i].precede(tasks[j])
    return lambda: executor.run(tf).result()


def tfnn_async(executor: Executor, n: int) -> Callable[[], None]:
    def run() -> None:
        submit = executor.async_
        for _ in range(n):
            submit(_noop)
        executor.wait_for_all()

    return run


def tfnn_dependent_chain(executor: Executor, n: int) -> Callable[[], None]:
    def run() -> None:
        then = executor.silent_dependent_async
        previous: tuple[AsyncTask[object], ...] = ()
        for _ in range(n):
            previous = (then(_noop, *previous),)
        executor.wait_for_all()

    return run


# -- concurrent.futures driven by dependency callbacks ------------------------------------


def threads_static(pool: ThreadPoolExecutor, n: int, edges: list[tuple[int, int]]):
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for i, j in edges:
        succ[i].append(j)
        indegree[j] += 1
    sources = [i for i in range(n) if indegree[i] == 0]

    def run() -> None:
        remaining = list(indegree)
        left = [n]
        lock = threading.Lock()
        done = threading.Event()

        def finished(i: int) -> None:
            ready = []
            with lock:
                left[0] -= 1
                for j in succ[i]:
                    remaining[j] -= 1
                    if remaining[j] == 0:
                        ready.append(j)
                if left[0] == 0:
                    done.set()
            for j in ready:
                submit(j)

        def submit(i: int) -> None:
            pool.submit(_noop).add_done_callback(lambda _f, i=i: finished(i))

        for i in sources:
            submit(i)
        done.wait()

    return run


def threads_loop(pool: ThreadPoolExecutor, iterations: int):
    def run() -> None:
        count = [0]
        done = threading.Event()

        def body() -> None:
            count[0] += 1

        def condition() -> int:
            return 0 if count[0] < iterations else 1

        def after_condition(future) -> None:
            if future.result() == 0:
                pool.submit(body).add_done_callback(after_body)
            else:
                done.set()

        def after_body(_future) -> None:
            pool.submit(condition).add_done_callback(after_condition)

        pool.submit(body).add_done_callback(after_body)
        done.wait()

    return run


def threads_async(pool: ThreadPoolExecutor, n: int) -> Callable[[], None]:
    def run() -> None:
        submit = pool.submit
        futures = [submit(_noop) for _ in range(n)]
        for f in futures:
            f.result()

    return run


# -- dask.threaded ----------------------------------------------------------------------


def dask_static(n: int, edges: list[tuple[int, int]]):
    from dask.threaded import get

    inputs: list[list[int]] = [[] for _ in range(n)]
    for i, j in edges:
        inputs[j].append(i)
    graph = {i: (_noop, *inputs[i]) for i in range(n)}
    keys = list(range(n))  # fetch every key: the whole graph must run
    return lambda: get(graph, keys, num_workers=WORKERS)


def dask_loop(iterations: int):
    from dask.threaded import get

    graph: dict = {("body", 0): (_noop,)}
    for k in range(iterations):
        graph[("cond", k)] = (_noop, ("body", k))
        if k + 1 < iterations:
            graph[("body", k + 1)] = (_noop, ("cond", k))
    last = ("cond", iterations - 1)
    return lambda: get(graph, last, num_workers=WORKERS)


# -- driver -----------------------------------------------------------------------------

Workloads = dict[str, tuple[int, dict[str, Callable[[], None]]]]


def workloads(executor: Executor, pool: ThreadPoolExecutor, dask: bool) -> Workloads:
    """Each workload's task count (per contender, for the loop) and contenders."""
    out: Workloads = {}
    for name, (n, edges) in {
        "fan": fan_edges(),
        "chain": chain_edges(),
        "dag": dag_edges(),
    }.items():
        contenders = {
            "tfnn": tfnn_static(executor, n, edges),
            "threads": threads_static(pool, n, edges),
        }
        if dask:
            contenders["dask"] = dask_static(n, edges)
        out[name] = (n, contenders)
    loop = loop_graph(LOOP)
    out["loop"] = (
        LOOP,
        {"tfnn": lambda: executor.run(loop).result(), "threads": threads_loop(pool, LOOP)},
    )
    if dask:
        out["loop"][1]["dask"] = dask_loop(DASK_LOOP)
    out["async"] = (
        ASYNC,
        {"tfnn": tfnn_async(executor, ASYNC), "threads": threads_async(pool, ASYNC)},
    )
    chain_n, chain = chain_edges()
    out["depchain"] = (
        chain_n,
        {
            "tfnn": tfnn_dependent_chain(executor, chain_n),
            "threads": threads_static(pool, chain_n, chain),
        },
    )
    return out


Timings = dict[str, dict[str, list[float]]]


def measure(work: Workloads, repeats: int) -> tuple[Timings, Timings]:
    """Microseconds per task, wall clock and process CPU time (all threads), of every
    run but repetition 0 (the warm-up), interleaved."""
    per_unit: Timings = {w: {} for w in work}
    cpu_per_unit: Timings = {w: {} for w in work}
    for rep in range(repeats + 1):
        for workload, (units, contenders) in work.items():
            for contender, fn in contenders.items():
                # Start each run from a clean heap: otherwise a full collection that the
                # previous contender's garbage (dask's 20,000-key loop graph) set up lands
                # in whoever runs next (seen: tfnn's fan at 1 us per task or at 7).
                gc.collect()
                start, cpu = time.perf_counter(), time.process_time()
                fn()
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                unit = DASK_LOOP if (workload, contender) == ("loop", "dask") else units
                if rep:
                    per_unit[workload].setdefault(contender, []).append(elapsed / unit * 1e6)
                    cpu_per_unit[workload].setdefault(contender, []).append(cpu / unit * 1e6)
        print(f"repetition {rep}/{repeats} done", file=sys.stderr)
    return per_unit, cpu_per_unit


def environment() -> dict[str, Any]:
    """The interpreter, library versions and thread settings the figures depend on."""
    try:
        import numpy

        numpy_version: str | None = numpy.__version__
    except ImportError:
        numpy_version = None
    threads = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "numpy": numpy_version,
        "thread_settings": {**threads, "switch_interval_s": sys.getswitchinterval()},
        "workers": WORKERS,
    }


def report(per_unit: Timings, cpu_per_unit: Timings) -> dict[str, Any]:
    """Print the table (wall clock); return the JSON's workloads part."""
    print(f"{'workload':8} {'tfnn':>8} {'threads':>9} {'dask':>9} ", end="")
    print(f"{'threads/tfnn':>13} {'dask/tfnn':>10}")
    out: dict[str, Any] = {}
    for workload, by_contender in per_unit.items():
        medians = {c: statistics.median(v) for c, v in by_contender.items()}
        ratios = {c: medians[c] / medians["tfnn"] for c in medians if c != "tfnn"}
        out[workload] = {
            "median_us": medians,
            "min_us": {c: min(v) for c, v in by_contender.items()},
            "max_us": {c: max(v) for c, v in by_contender.items()},
            "raw_us": by_contender,
            "ratio_vs_tfnn": ratios,
            "median_cpu_us": {c: statistics.median(v) for c, v in cpu_per_unit[workload].items()},
        }
        dask_median = f"{medians['dask']:9.2f}" if "dask" in medians else f"{'-':>9}"
        dask_ratio = f"{ratios['dask']:10.1f}x" if "dask" in ratios else f"{'-':>11}"
        print(
            f"{workload:8} {medians['tfnn']:8.2f} {medians['threads']:9.2f} {dask_median} "
            f"{ratios['threads']:12.1f}x {dask_ratio}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/executor.json"))
    args = parser.parse_args(argv)
    try:
        import dask
    except ImportError:
        dask_here = False
        print("dask not installed: pip install 'tfnn[bench]'; skipping the dask contender")
    else:
        dask_here = True
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        print("dask.distributed not installed: skipping dask futures in 'async' and 'depchain'")
    results: dict[str, Any] = {"machine": environment()}
    executor, pool = Executor(workers=WORKERS), ThreadPoolExecutor(max_workers=WORKERS)
    try:
        work = workloads(executor, pool, dask_here)
        gc.collect()
        gc.freeze()
        per_unit, cpu_per_unit = measure(work, args.repeats)
    finally:
        gc.unfreeze()
        executor.shutdown()
        pool.shutdown()
    results["unit"] = (
        "microseconds per task (loop: per iteration of body + condition), wall clock; "
        "median_cpu_us: process CPU time (all threads) per task"
    )
    results["repeats"] = args.repeats
    results["workloads"] = report(per_unit, cpu_per_unit)
    print("process CPU time, us per task (all threads):")
    for workload, by_contender in cpu_per_unit.items():
        cells = " ".join(f"{c} {statistics.median(v):.2f}" for c, v in by_contender.items())
        print(f"  {workload:8} {cells}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
