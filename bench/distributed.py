"""Data-parallel training over MPI on full MNIST: tfnn's ranks against the alternatives.

Contenders, each a fresh process (or ``mpiexec -n 2`` job), run in interleaved rounds,
one epoch each, the same initial weights and the same global batches (SGD lr 0.05
momentum 0.9), for both networks (784-256-128-10 batch 128; 784-64-32-16-8-10 batch 100):

- ``numpy-loop``      the hand-written numpy step, 1 process x 2 BLAS threads;
- ``tfnn-1``          ``Trainer`` with its defaults, 1 process;
- ``tfnn-2``          ``Trainer`` on 2 ranks x 1 BLAS thread, its default (ranks of one
                      machine: one blocking allreduce per step); ``tfnn-2-overlap``: overlap
                      on (each ``AR`` task starts a non-blocking allreduce, ``AW`` waits
                      after the backward pass);
- ``ddp-gloo-2``      PyTorch DistributedDataParallel over gloo, 2 ranks x 1 thread;
- ``mpi4py-loop-2``   the numpy step on half the batch with one blocking Allreduce per step.

A modelled network (``tfnn.parallel.Modelled``: an exchange ends no earlier than latency +
bytes / bandwidth of a ring allreduce after it started, one exchange at a time on the
link) shows how much of the exchange the graph hides: ``tfnn-2@10G`` / ``@100G`` on the 2
real ranks, and N = 2, 4, 8 ranks simulated by *one* process computing B/N samples per
step (each rank on its own machine: this 2-core machine cannot run 8 ranks side by
side), with ``sim-N`` the compute alone (no network) for reference; each with overlap
``on`` (whole layers), ``blocks`` (on, layers over 512 KiB sent in blocks of rows:
``DataParallel(block_bytes=BLOCK_BYTES)``) and ``off``.

Reported per contender: median samples/s (the global batch), ratios, and the allreduce
seconds per step a rank spends starting and waiting for its exchanges (the part of the
exchange not hidden, waiting for the partner included).

    python bench/distributed.py [--data-dir ../shared/data/mnist] [--rounds 3] \
        [--out bench/results/distributed.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"
WORKLOADS = {"mlp": 128, "taskflow-mnist": 100}
LR, MOMENTUM = 0.05, 0.9
NETWORKS = {"10G": (10e-6, 10e9), "100G": (10e-6, 100e9)}


# -- workers: one contender's run, in this process ------------------------------------


def _placement() -> tuple[int, int]:
    from tfnn.parallel import placement

    where = placement()
    return where.rank, where.size


def _data(data_dir: str, model: str) -> tuple[Any, Any, Any]:
    from tfnn.bench.workload import MODELS, initial_weights, load_data

    data = load_data(data_dir)
    return data.x_train, data.y_train, initial_weights(MODELS[model])


def _loop(args: argparse.Namespace, comm: Any = None) -> dict[str, Any]:
    """The numpy step, alone (``comm`` None) or on a shard with one Allreduce per step."""
    from tfnn.bench.ranks import AllreduceMLP
    from tfnn.bench.references import NumpyMLP
    from tfnn.data import Batches
    from tfnn.parallel.sharding import ShardedBatches

    x, y, weights = _data(args.data_dir, args.model)
    batches: Any = Batches(x, y, WORKLOADS[args.model], seed=0)
    net: Any = NumpyMLP(weights, LR, MOMENTUM)
    if comm is not None:
        batches = ShardedBatches(batches, comm.Get_rank(), comm.Get_size())
        net = AllreduceMLP(weights, LR, MOMENTUM, comm)
    begin = time.perf_counter()
    for step in range(len(batches)):
        xb, yb = batches.batch(0, step)
        if comm is None:
            net.step(xb, yb)
        else:
            net.step(xb, yb, batches.share(step))
    seconds = time.perf_counter() - begin
    return {
        "seconds": seconds,
        "samples": len(y),
        "allreduce_per_step": getattr(net, "allreduce_seconds", 0.0) / len(batches),
    }


def _ddp(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from tfnn.bench.references import TorchMLP
    from tfnn.data import Batches
    from tfnn.parallel.sharding import ShardedBatches

    torch.set_num_threads(1)
    rank, size = _placement()
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=size
    )
    x, y, weights = _data(args.data_dir, args.model)
    batches = ShardedBatches(Batches(x, y, WORKLOADS[args.model], seed=0), rank, size)
    net = TorchMLP(weights, LR, MOMENTUM, "cpu")
    model = DistributedDataParallel(net.model)
    begin = time.perf_counter()
    for step in range(len(batches)):
        xb, yb = batches.batch(0, step)
        net.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        net.optimizer.step()
    seconds = time.perf_counter() - begin
    dist.destroy_process_group()
    return {"seconds": seconds, "samples": len(y)}


def _tfnn(args: argparse.Namespace) -> dict[str, Any]:
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.bench.workload import MODELS
    from tfnn.parallel import DataParallel, Modelled, MPICommunicator, NetworkModel, Single
    from tfnn.train import Trainer

    x, y, weights = _data(args.data_dir, args.model)
    model = nn.mlp(MODELS[args.model], backend=get_backend("numpy"))
    model.load_state_dict(weights)
    distributed: Any = None
    if args.ranks > 1 or args.network:
        inner: Any = MPICommunicator() if _placement()[1] > 1 else Single()
        comm = inner
        if args.network:
            latency, bandwidth = NETWORKS[args.network]
            comm = Modelled(inner, NetworkModel(latency, bandwidth), size=args.ranks)
        elif args.ranks > inner.size:
            comm = Modelled(inner, NetworkModel(0.0, float("inf")), size=args.ranks)
        overlap = {"auto": None, "on": True, "off": False}[args.overlap]
        distributed = DataParallel(comm, overlap=overlap, block_bytes=args.block_bytes)
    kwargs: dict[str, Any] = {} if args.default else {"workers": 1, "blas_threads": args.threads}
    trainer = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM),
        distributed=distributed,
        **kwargs,
    )
    history = trainer.fit(x, y, epochs=1, batch_size=WORKLOADS[args.model], seed=0)
    result = {"seconds": history.train_seconds, "samples": history.samples}
    reducer = distributed.last_reducer if distributed is not None else None
    if reducer is not None:
        result["allreduce_per_step"] = reducer.seconds / max(1, history.steps)
    return result


def worker(args: argparse.Namespace) -> None:
    # numpy first: threadpool_limits caps only the BLAS libraries already loaded.
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.threads, user_api="blas"):
        if args.kind == "loop":
            result = _loop(args)
        elif args.kind == "mpi4py-loop":
            from mpi4py import MPI

            result = _loop(args, MPI.COMM_WORLD)
        elif args.kind == "ddp":
            result = _ddp(args)
        else:
            result = _tfnn(args)
    if _placement()[0] == 0:
        from tfnn.bench.ranks import RESULT

        print(RESULT + json.dumps(result), flush=True)


# -- the driver: contenders as processes, interleaved rounds ---------------------------


def contenders(model: str, sim_ranks: tuple[int, ...]) -> dict[str, tuple[int, list[str]]]:
    """name -> (ranks to launch, worker arguments)."""
    runs: dict[str, tuple[int, list[str]]] = {
        "numpy-loop": (1, ["--kind", "loop", "--threads", "2"]),
        "tfnn-1": (1, ["--kind", "tfnn", "--default", "--threads", "2"]),
        "tfnn-2": (2, ["--kind", "tfnn", "--ranks", "2"]),
        "tfnn-2-overlap": (2, ["--kind", "tfnn", "--ranks", "2", "--overlap", "on"]),
        "ddp-gloo-2": (2, ["--kind", "ddp"]),
        "mpi4py-loop-2": (2, ["--kind", "mpi4py-loop"]),
    }
    for net in NETWORKS if model == "mlp" else ("10G",):
        for overlap, tail in OVERLAPS:
            tail = ["--network", net, *tail]
            runs[f"tfnn-2@{net}-{overlap}"] = (2, ["--kind", "tfnn", "--ranks", "2", *tail])
    for n in sim_ranks:
        runs[f"sim-{n}"] = (1, ["--kind", "tfnn", "--ranks", str(n)])
        for net in NETWORKS if model == "mlp" else ("10G",):
            for overlap, tail in OVERLAPS:
                tail = ["--network", net, *tail]
                runs[f"sim-{n}@{net}-{overlap}"] = (1, ["--kind", "tfnn", "--ranks", str(n), *tail])
    return runs


# Overlap on (whole layers), on with large layers in blocks of rows, off.
OVERLAPS = (
    ("on", ["--overlap", "on"]),
    ("blocks", ["--overlap", "on", "--block-bytes", str(512 * 1024)]),
    ("off", ["--overlap", "off"]),
)


def launch(ranks: int, worker_args: list[str], model: str, data_dir: str) -> dict[str, Any]:
    """Run one contender's process (or ``mpiexec`` job); return rank 0's RESULT."""
    from tfnn.bench import ranks as mpi

    global _port
    _port += 1
    script = [str(Path(__file__).resolve()), "worker", "--model", model]
    argv = [*script, "--data-dir", data_dir, "--port", str(_port), *worker_args]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return mpi.launch(ranks, argv, env=env, what=" ".join(worker_args))


_port = 29500


def measure_model(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every contender on ``model``, interleaved (``tfnn.bench.model.measure``)."""
    from tfnn.bench.model import Run, Timed, measure, summarize

    allreduce: dict[str, list[float]] = {}

    def timed(name: str, ranks: int, worker_args: list[str]) -> Timed[str]:
        def run(workload: str) -> Run:
            result = launch(ranks, worker_args, workload, args.data_dir)
            allreduce.setdefault(name, []).append(result.get("allreduce_per_step", math.nan))
            speed = result["samples"] / result["seconds"]
            print(f"{workload} {name:22s} {speed:10.0f} samples/s", flush=True)
            return Run(result["seconds"], result["samples"])

        return Timed(name, run, {"ranks": ranks, "args": " ".join(worker_args)})

    runs = contenders(model, tuple(args.sim_ranks))
    timed_runs = measure(model, [timed(n, *r) for n, r in runs.items()], repeats=args.rounds)
    table: dict[str, Any] = {}
    for base, key in (("numpy-loop", "vs_numpy_loop"), ("ddp-gloo-2", "vs_ddp_gloo")):
        for name, stats in summarize(timed_runs, base, min_seconds=0).items():
            row = table.setdefault(name, {**stats.to_dict(), "settings": runs[name]})
            row[key] = stats.ratio
            kept = [a for a in allreduce[name][1:] if not math.isnan(a)]  # rep 0 is dropped
            if kept:
                row["allreduce_ms_per_step"] = 1e3 * statistics.median(kept)
    return table


def targets(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model, table in results.items():
        best = max(table[n]["median"] for n in ("tfnn-2", "tfnn-2-overlap"))
        out[f"{model}: 2 ranks >= 1.05x numpy loop"] = best / table["numpy-loop"]["median"]
        out[f"{model}: 2 ranks >= 3x DDP gloo"] = best / table["ddp-gloo-2"]["median"]
    mlp = results.get("mlp")
    if mlp and "tfnn-2@10G-on" in mlp:
        for prefix, where in [("tfnn-2", "2 real ranks")] + [
            (f"sim-{n}", f"{n} simulated ranks") for n in (2, 4, 8)
        ]:
            if f"{prefix}@10G-on" not in mlp:
                continue
            off = mlp[f"{prefix}@10G-off"]["median"]
            for overlap in ("on", "blocks"):
                ratio = mlp[f"{prefix}@10G-{overlap}"]["median"] / off
                out[f"mlp: 10G overlap {overlap} >= 1.2x off, {where}"] = ratio
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 * len(results), figsize=(7 * len(results) * 2, 5))
    for k, (model, table) in enumerate(results.items()):
        real = [n for n in table if not n.startswith("sim-")]
        ax = axes[2 * k]
        ax.barh(real, [table[n]["median"] / 1e3 for n in real], color="tab:blue")
        ax.set_xlabel("k samples/s (median)")
        ax.set_title(f"{model}: processes on this machine")
        ax = axes[2 * k + 1]
        for net in NETWORKS:
            for overlap, style in (("on", "-o"), ("blocks", "-.o"), ("off", "--o")):
                ranks = [n for n in (2, 4, 8) if f"sim-{n}@{net}-{overlap}" in table]
                speeds = [table[f"sim-{n}@{net}-{overlap}"]["median"] / 1e3 for n in ranks]
                ax.plot(ranks, speeds, style, label=f"{net} overlap {overlap}")
        ranks = [n for n in (2, 4, 8) if f"sim-{n}" in table]
        ax.plot(
            ranks,
            [table[f"sim-{n}"]["median"] / 1e3 for n in ranks],
            ":k",
            label="no network",
        )
        ax.set_xlabel("ranks (simulated, one machine each)")
        ax.set_ylabel("k samples/s")
        ax.set_title(f"{model}: modelled network")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _ratio(value: float | None) -> str:
    return "  -  " if value is None else f"x{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    run = sub.add_parser("run", help="measure every contender (the default)")
    run.add_argument("--data-dir", default=str(DATA_DIR))
    run.add_argument("--rounds", type=int, default=2, help="kept runs per contender")
    run.add_argument("--models", nargs="+", default=list(WORKLOADS))
    run.add_argument("--sim-ranks", nargs="*", type=int, default=[2, 4, 8])
    run.add_argument("--out", default=str(Path(__file__).parent / "results/distributed.json"))
    run.add_argument("--note", default="", help="how busy the machine was, for the JSON")
    work = sub.add_parser("worker", help="one contender's run (the driver starts these)")
    work.add_argument("--kind", choices=("loop", "mpi4py-loop", "ddp", "tfnn"), required=True)
    work.add_argument("--model", choices=list(WORKLOADS), required=True)
    work.add_argument("--data-dir", required=True)
    work.add_argument("--threads", type=int, default=1)
    work.add_argument("--ranks", type=int, default=1)
    work.add_argument("--network", choices=list(NETWORKS))
    work.add_argument("--overlap", choices=("auto", "on", "off"), default="auto")
    work.add_argument("--block-bytes", type=int, help="send larger layers in blocks of rows")
    work.add_argument("--default", action="store_true", help="Trainer's own defaults")
    work.add_argument("--port", type=int, default=29500)
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(given if given[:1] in (["run"], ["worker"]) else ["run", *given])
    if args.mode == "worker":
        worker(args)
        return 0
    begin = time.time()
    results = {model: measure_model(model, args) for model in args.models}
    from tfnn.bench.report import environment

    report = {
        "command": " ".join(["python bench/distributed.py", *given]),
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(begin)),
        "minutes": (time.time() - begin) / 60,
        "machine_note": args.note or "not given (pass --note)",
        "environment": environment(),
        "networks": {k: {"latency_s": v[0], "bandwidth_bps": v[1]} for k, v in NETWORKS.items()},
        "results": results,
        "targets": targets(results),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    plot(results, out.with_suffix(".png"))
    for model, table in results.items():
        print(f"\n{model}")
        for name, row in table.items():
            extra = (
                f"  AR {row['allreduce_ms_per_step']:.3f} ms/step"
                if "allreduce_ms_per_step" in row
                else ""
            )
            loop, ddp = (_ratio(row[k]) for k in ("vs_numpy_loop", "vs_ddp_gloo"))
            print(f"  {name:22s} {row['median']:10.0f}/s  {loop} loop  {ddp} ddp{extra}")
    for name, value in report["targets"].items():
        print(f"target {name}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
