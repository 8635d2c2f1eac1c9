"""CUDA streams through the tfnn Executor: two independent matmul chains, 1 stream vs more.

The graph (``length`` tasks per chain, each ``a = a @ B`` in float32, ``n x n``)::

    A0 -> A1 -> ... -> A(length-1)        chain A
    B0 -> B1 -> ... -> B(length-1)        chain B, independent of A

runs on ``Executor(workers=2, devices={"cuda:0": get_backend("cupy").stream_pool(s)})``.
Stream assignment keeps each chain on one stream; with ``s >= 2`` the chains land on
different streams and may overlap on the GPU, with ``s = 1`` they share one stream and
run one after the other. Timed: ``executor.run(graph).result()``, which ends by
synchronising the device's streams. Every repetition runs every stream count in turn,
repetition 0 is dropped, and the speedup is the median time on 1 stream over the median
on ``s`` streams, per matrix size.

``--simulate`` runs the same graphs on tfnn's simulated asynchronous device (each stream
a CPU thread, numpy matmuls with 1 BLAS thread) to check the script without a GPU.
Without cupy (and without ``--simulate``) it prints why and exits with status 1.

    python bench/streams.py [--sizes 1024,4096] [--streams 1,2,4] [--length 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tfnn.executor import Executor, Taskflow


def chains(xp: Any, n: int, length: int, device: str, seed: int = 0) -> tuple[Taskflow, Any]:
    """The two-chain graph on ``device`` and its state (a dict of the two matrices)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    state: dict[str, Any] = {}
    factors = {}
    for chain in "AB":
        state[chain] = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        # std 1/sqrt(n) keeps the product's scale about constant along the chain
        factors[chain] = xp.asarray(rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n))
    tf = Taskflow(f"chains-{n}")
    for chain in "AB":
        previous = None
        for k in range(length):

            def step(chain: str = chain) -> Any:
                state[chain] = state[chain] @ factors[chain]
                return state[chain]

            task = tf.emplace(step, name=f"{chain}{k}", device=device)
            if previous is not None:
                previous.precede(task)
            previous = task
    return tf, state


class Setup:
    """Where the chains run: ``xp``, the device name, one stream pool per count, and how
    to wait for and release them."""

    def __init__(self, simulate: bool, counts: list[int]) -> None:
        self.simulate = simulate
        self.limit: Any = None
        if simulate:
            import numpy as xp
            from threadpoolctl import threadpool_limits

            from tfnn.executor.simulated import SimulatedDevice

            self.xp, self.device = xp, "sim:0"
            self.name = f"simulated streams on {platform.processor() or 'the CPU'}"
            self.pools: dict[int, Any] = {
                s: SimulatedDevice(streams=s, max_delay=0.0) for s in counts
            }
            self.limit = threadpool_limits(limits=1, user_api="blas")
        else:
            from tfnn.backends import get_backend

            backend = get_backend("cupy", "cuda:0")
            self.xp, self.device, self.name = backend.xp, "cuda:0", _gpu_name()
            self.pools = {s: backend.stream_pool(s) for s in counts}
            self._backend = backend

    def synchronize(self) -> None:
        if self.simulate:
            for pool in self.pools.values():
                pool.synchronize()
        else:
            self._backend.synchronize()

    def close(self) -> None:
        if self.simulate:
            for pool in self.pools.values():
                pool.close()
        if self.limit is not None:
            self.limit.restore_original_limits()


def time_sizes(setup: Setup, sizes: list[int], counts: list[int], args: Any) -> dict:
    """Median seconds per stream count and size, interleaved, repetition 0 dropped."""
    executors = {s: Executor(workers=2, devices={setup.device: setup.pools[s]}) for s in counts}
    results = {}
    try:
        for n in sizes:
            # One graph per executor: a graph caches its stream assignment, and a graph
            # shared between executors would keep the first executor's streams.
            graphs = {s: chains(setup.xp, n, args.length, setup.device)[0] for s in counts}
            seconds: dict[int, list[float]] = {s: [] for s in counts}
            for rep in range(args.repeats + 1):
                for s in counts:
                    setup.synchronize()
                    begin = time.perf_counter()
                    executors[s].run(graphs[s]).result()
                    if rep:
                        seconds[s].append(time.perf_counter() - begin)
            medians = {s: statistics.median(v) for s, v in seconds.items()}
            results[str(n)] = {
                "raw_seconds": {str(s): v for s, v in seconds.items()},
                "median_seconds": {str(s): m for s, m in medians.items()},
                "speedup_vs_first": {str(s): medians[counts[0]] / m for s, m in medians.items()},
            }
    finally:
        for executor in executors.values():
            executor.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,4096")
    parser.add_argument("--streams", default="1,2,4", help="stream counts; the first is the base")
    parser.add_argument("--length", type=int, default=20, help="matmuls per chain")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--simulate", action="store_true", help="CPU threads as streams, numpy")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(s) for s in args.streams.split(",")]
    from tfnn.backends import BackendError

    try:
        setup = Setup(args.simulate, counts)
    except BackendError as e:
        print(
            f"bench/streams.py: needs cupy and an NVIDIA GPU ({e}); "
            "pass --simulate to run the same graphs on the CPU",
            file=sys.stderr,
        )
        return 1
    try:
        timed = time_sizes(setup, sizes, counts, args)
    finally:
        setup.close()
    results = {"device": setup.name, "simulated": args.simulate, "length": args.length}
    results |= {"repeats": args.repeats, "sizes": timed}
    print(f"device: {setup.name}; two chains of {args.length} float32 matmuls, n x n")
    print(f"{'n':>6} {'streams':>8} {'median ms':>10} {'speedup':>8}")
    for n, r in timed.items():
        for s in counts:
            ms = r["median_seconds"][str(s)] * 1e3
            print(f"{n:>6} {s:>8} {ms:10.2f} {r['speedup_vs_first'][str(s)]:7.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def _gpu_name() -> str:
    from tfnn.backends import describe_backends

    for info in describe_backends():
        if info.name == "cupy" and info.devices:
            return info.devices[0].name
    return "unknown GPU"


if __name__ == "__main__":
    raise SystemExit(main())
