"""The MNIST batch loader as a 4-stage tfnn Pipeline, against the plain loop.

Stages of one batch: read (the step's sample indices from the epoch's order), gather
(``images[index]``, ``labels[index]`` of the raw uint8 arrays), normalise (float32
``(x / 255 - 0.1307) / 0.3081``, flattened, the same operations as ``Batches``), transfer
(``asarray``, then the consumer, in step order).

Contenders, one epoch each:

    batches       tfnn.data.Batches.epoch(): what the trainer uses (normalised once up
                  front, so a batch costs a gather and an asarray)
    loop          the four stages in a plain loop, batch after batch
    pipeline-LxW  Pipeline(L lines: SERIAL read, PARALLEL gather, PARALLEL normalise,
                  SERIAL transfer) composed into a Taskflow, on Executor(workers=W)

Consumers: ``none`` (the loader alone) and ``matmul`` (``x @ W`` with a 784x256 float32
``W`` per batch, a stand-in for a training step: numpy releases the GIL in the matmul,
so a pipeline may load the next batches meanwhile; BLAS runs ``--blas-threads`` threads,
1 by default, since spinning BLAS threads on a busy 2-core machine swamp the figure).
Before timing, every contender's batches are checked equal to ``Batches``' (bitwise).
Every repetition runs every contender once, in turn (interleaved); medians, and
speedup = batches / contender.

    python bench/loader_pipeline.py [--data sample|DIR] [--batch 64] [--repeats 7]
                                    [--blas-threads 1] [--out bench/results/loader_pipeline.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tfnn.data import Batches, load_mnist, load_mnist_sample
from tfnn.data.batches import MEAN, STD
from tfnn.executor import Executor, Pipe, Pipeflow, Pipeline, PipeType, Taskflow

Consumer = Callable[[np.ndarray, np.ndarray], None]
SHAPES = [(2, 1), (2, 2), (4, 2)]  # (lines, workers)


def normalise(raw: np.ndarray) -> np.ndarray:
    x = raw.astype(np.float32)
    x /= np.float32(255)
    x -= np.float32(MEAN)
    x /= np.float32(STD)
    return x.reshape(len(x), -1)


def run_batches(batches: Batches, consume: Consumer) -> None:
    for x, y in batches.epoch(0):
        consume(x, y)


def run_loop(images: np.ndarray, labels: np.ndarray, batches: Batches, consume: Consumer) -> None:
    order, b = batches.order(0), batches.batch_size
    for step in range(len(batches)):
        index = order[step * b : (step + 1) * b]
        x, y = normalise(images[index]), labels[index].astype(np.int64)
        consume(np.asarray(x), np.asarray(y))


def build_pipeline(
    lines: int, images: np.ndarray, labels: np.ndarray, batches: Batches, consume: Consumer
) -> Taskflow:
    """read -> gather -> normalise -> transfer; ``slots[line]`` carries a batch down its line."""
    order, b, steps = batches.order(0), batches.batch_size, len(batches)
    slots: list[Any] = [None] * lines

    def read(pf: Pipeflow) -> None:
        if pf.token() == steps:
            pf.stop()
        else:
            slots[pf.line()] = order[pf.token() * b : (pf.token() + 1) * b]

    def gather(pf: Pipeflow) -> None:
        index = slots[pf.line()]
        slots[pf.line()] = (images[index], labels[index])

    def norm(pf: Pipeflow) -> None:
        raw, y = slots[pf.line()]
        slots[pf.line()] = (normalise(raw), y.astype(np.int64))

    def transfer(pf: Pipeflow) -> None:
        x, y = slots[pf.line()]
        consume(np.asarray(x), np.asarray(y))

    stages = [(PipeType.SERIAL, read), (PipeType.PARALLEL, gather)]
    stages += [(PipeType.PARALLEL, norm), (PipeType.SERIAL, transfer)]
    pipeline = Pipeline(lines, *(Pipe(t, f) for t, f in stages), name="loader")
    tf = Taskflow("epoch")
    # reset -> loader: each run is one epoch, from token 0.
    tf.emplace(pipeline.reset, name="reset").precede(tf.composed_of(pipeline))
    return tf


def consumers(rng: np.random.Generator) -> dict[str, Consumer]:
    weights = rng.standard_normal((784, 256)).astype(np.float32)
    sink = [0.0]

    def none(x: np.ndarray, y: np.ndarray) -> None:
        sink[0] += float(x[0, 0])

    def matmul(x: np.ndarray, y: np.ndarray) -> None:
        sink[0] += float((x @ weights)[0, 0])

    return {"none": none, "matmul": matmul}


def contenders(
    images: np.ndarray, labels: np.ndarray, batches: Batches, consume: Consumer, pools: dict
) -> dict[str, Callable[[], None]]:
    runs: dict[str, Callable[[], None]] = {
        "batches": lambda: run_batches(batches, consume),
        "loop": lambda: run_loop(images, labels, batches, consume),
    }
    for lines, workers in SHAPES:
        tf = build_pipeline(lines, images, labels, batches, consume)
        ex = pools[workers]
        runs[f"pipeline-{lines}x{workers}"] = lambda tf=tf, ex=ex: ex.run(tf).result()
    return runs


def check_equal(images, labels, batches, pools) -> None:
    """Every contender hands the consumer exactly Batches' batches, in step order."""
    expected = list(batches.epoch(0))
    got: list[tuple[np.ndarray, np.ndarray]] = []
    for name, run in contenders(images, labels, batches, lambda *xy: got.append(xy), pools).items():
        got.clear()
        run()
        assert len(got) == len(expected), name
        for (x, y), (ex, ey) in zip(got, expected):
            assert x.dtype == ex.dtype and np.array_equal(x, ex) and np.array_equal(y, ey), name


def measure(images, labels, batches, repeats: int, pools) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for consumer_name, consume in consumers(np.random.default_rng(0)).items():
        runs = contenders(images, labels, batches, consume, pools)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeats):
            for name, run in runs.items():
                gc.collect()
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        results[consumer_name] = {
            "median_seconds": medians,
            "speedup_vs_batches": {n: medians["batches"] / m for n, m in medians.items()},
            "raw_seconds": times,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample", help="'sample' or an MNIST IDX directory")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/loader_pipeline.json"))
    args = parser.parse_args(argv)
    if args.data == "sample":
        images, labels = load_mnist_sample("train")
    else:
        images, labels = load_mnist("train", data_dir=args.data, download_missing=False)
    batches = Batches(images, labels, args.batch, seed=0)
    pools = {w: Executor(workers=w) for w in sorted({w for _, w in SHAPES})}
    try:
        with threadpool_limits(limits=args.blas_threads, user_api="blas"):
            check_equal(images, labels, batches, pools)
            results = measure(images, labels, batches, args.repeats, pools)
    finally:
        for pool in pools.values():
            pool.shutdown()
    report = {
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "data": args.data,
        "samples": len(labels),
        "batch": args.batch,
        "steps": len(batches),
        "repeats": args.repeats,
        "blas_threads": args.blas_threads,
        "results": results,
    }
    for consumer_name, r in results.items():
        print(f"consumer={consumer_name}  ({len(labels)} samples, batch {args.batch})")
        for name, seconds in r["median_seconds"].items():
            speedup = r["speedup_vs_batches"][name]
            print(f"  {name:14s} {seconds * 1e3:8.2f} ms  x{speedup:.2f} vs batches")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
