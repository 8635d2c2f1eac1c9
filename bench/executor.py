"""Per-task overhead of tfnn's Executor against concurrent.futures and dask.threaded.

Workloads (no-op task bodies, so only scheduling is timed):

    (a) fan    source -> 10,000 independent tasks -> sink
    (b) chain  a chain of 10,000 tasks
    (c) loop   a condition-task loop of 100,000 iterations (body + condition)
    (d) dag    a random layered DAG of 10,000 tasks (100 layers x 100, 1-3 inputs each)

Contenders, all with 2 workers:

    tfnn      tfnn.executor.Executor(workers=2) on a Taskflow
    threads   concurrent.futures.ThreadPoolExecutor(2), each finished future's callback
              decrements its successors' counters and submits the ready ones
    dask      dask.threaded.get(num_workers=2) on the same graph as a dask dict; the loop
              is unrolled (dask has no cycles), and shortened to 10,000 iterations since
              dask takes ~0.1 ms per task: it is reported per iteration like the others

Every repetition runs every contender once, in turn (interleaved), so a noisy machine
slows them alike; the figure that counts is the median ratio within one run. Each timed
run starts after ``gc.collect()``; the garbage collector stays on during it.

    python bench/executor.py [--repeats 5] [--out bench/results/executor.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tfnn.executor import Executor, Taskflow

WORKERS = 2
SIZE = 10_000
LOOP = 100_000
DASK_LOOP = 10_000


def _noop(*_: object) -> None:
    return None


# -- the graphs, as edge lists: (number of tasks, [(i, j), ...]) --------------------------


def fan_edges() -> tuple[int, list[tuple[int, int]]]:
    sink = SIZE + 1
    return SIZE + 2, [(0, i) for i in range(1, SIZE + 1)] + [(i, sink) for i in range(1, SIZE + 1)]


def chain_edges() -> tuple[int, list[tuple[int, int]]]:
    return SIZE, [(i, i + 1) for i in range(SIZE - 1)]


def dag_edges(seed: int = 0) -> tuple[int, list[tuple[int, int]]]:
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


def tfnn_loop(executor: Executor, iterations: int) -> Callable[[], None]:
    count = [0]
    tf = Taskflow("loop")
    init = tf.emplace(lambda: count.__setitem__(0, 0))
    body = tf.emplace(lambda: count.__setitem__(0, count[0] + 1))
    cond = tf.condition(lambda: 0 if count[0] < iterations else 1)
    done = tf.emplace(_noop)
    init.precede(body)
    body.precede(cond)
    cond.precede(body, done)
    return lambda: executor.run(tf).result()


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/executor.json"))
    args = parser.parse_args(argv)
    try:
        import dask
    except ImportError:
        dask = None
        print("dask not installed: pip install 'tfnn[bench]'; skipping the dask contender")

    executor = Executor(workers=WORKERS)
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    workloads: dict[str, tuple[int, dict[str, Callable[[], None]]]] = {}
    for name, (n, edges) in {
        "fan": fan_edges(),
        "chain": chain_edges(),
        "dag": dag_edges(),
    }.items():
        contenders = {
            "tfnn": tfnn_static(executor, n, edges),
            "threads": threads_static(pool, n, edges),
        }
        if dask is not None:
            contenders["dask"] = dask_static(n, edges)
        workloads[name] = (n, contenders)
    loop = {"tfnn": tfnn_loop(executor, LOOP), "threads": threads_loop(pool, LOOP)}
    if dask is not None:
        loop["dask"] = dask_loop(DASK_LOOP)
    workloads["loop"] = (LOOP, loop)
    units = {"fan": SIZE + 2, "chain": SIZE, "dag": SIZE}

    per_unit: dict[str, dict[str, list[float]]] = {w: {} for w in workloads}
    for rep in range(args.repeats + 1):  # repetition 0 warms up and is dropped
        for workload, (_, contenders) in workloads.items():
            for contender, fn in contenders.items():
                # Start each run from a clean heap: otherwise a full collection that the
                # previous contender's garbage (dask's 20,000-key loop graph) set up lands
                # in whoever runs next (seen: tfnn's fan at 1 us per task or at 7).
                gc.collect()
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                unit = units.get(workload) or (DASK_LOOP if contender == "dask" else LOOP)
                if rep:
                    per_unit[workload].setdefault(contender, []).append(elapsed / unit * 1e6)
        print(f"repetition {rep}/{args.repeats} done", file=sys.stderr)
    executor.shutdown()
    pool.shutdown()

    results = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": sys.version.split()[0],
            "workers": WORKERS,
        },
        "unit": "microseconds per task (loop: per iteration of body + condition)",
        "repeats": args.repeats,
        "workloads": {},
    }
    print(f"{'workload':8} {'tfnn':>8} {'threads':>9} {'dask':>9} ", end="")
    print(f"{'threads/tfnn':>13} {'dask/tfnn':>10}")
    for workload, by_contender in per_unit.items():
        medians = {c: statistics.median(v) for c, v in by_contender.items()}
        ratios = {c: medians[c] / medians["tfnn"] for c in medians if c != "tfnn"}
        results["workloads"][workload] = {
            "median_us": medians,
            "min_us": {c: min(v) for c, v in by_contender.items()},
            "max_us": {c: max(v) for c, v in by_contender.items()},
            "raw_us": by_contender,
            "ratio_vs_tfnn": ratios,
        }
        dask_median = f"{medians['dask']:9.2f}" if "dask" in medians else f"{'-':>9}"
        dask_ratio = f"{ratios['dask']:10.1f}x" if "dask" in ratios else f"{'-':>11}"
        print(
            f"{workload:8} {medians['tfnn']:8.2f} {medians['threads']:9.2f} {dask_median} "
            f"{ratios['threads']:12.1f}x {dask_ratio}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
