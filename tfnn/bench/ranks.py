"""Data-parallel contenders of ``tfnn bench --ranks N``: every run is an ``mpiexec -n N`` job.

For each rank count N > 1 and each CPU backend asked for (``--backends``):

- ``tfnn-<backend>-<strategy>@N-ranks``: ``Trainer(..., distributed=MPICommunicator())``
  with its defaults otherwise (workers "auto", this rank's share of the cores for BLAS,
  overlap off on the CPU), as ``mpiexec -n N tfnn train`` runs it, for each strategy of
  ``--strategies`` (``pipelined`` does not train data parallel: listed as skipped);
- ``mpi4py-loop@N-ranks``: ``AllreduceMLP``, the numpy step of
  ``tfnn.bench.references.NumpyMLP`` on the rank's slice of each batch with one blocking
  ``Allreduce`` of all gradients (and the loss) per step.

The global batch is the workload's: rank r takes its slice as ``tfnn.parallel.sharding``
cuts it, and samples/s count the global batch, so the rows compare with one process.

One run (``run_ranks``): the parent saves the workload (data subset, initial weights, plan)
in a temporary folder and runs ``mpiexec -n N <python> -m tfnn.bench.ranks`` with
``blas_threads_per_rank(N)`` BLAS threads per rank (ranks x threads <= cores). Each rank
loads it, trains the warm-up steps, meets the others at a barrier and times the workload's
steps as ``tfnn.bench.contenders`` times every contender; start-up, imports, MPI
initialisation and warm-up stay off the clock. Rank 0 prints one line ``RESULT {json}``
(seconds, samples, loss curve) and saves its final weights there for the guard. A job
that fails is one ``BenchError`` quoting the worker's last line on stderr.

``unavailable_ranks`` says why such a contender cannot run here (a non-CPU device, a
strategy without data parallelism, no mpi4py, no ``mpiexec`` beside the Python or on
PATH); ``tfnn bench`` lists it as skipped with that reason.

Example::

    $ tfnn bench --ranks 2 --backends numpy --strategies condition --models mlp
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from tfnn.bench.contenders import TrainingContender, run_reference, timed_fit
from tfnn.bench.model import BenchError, Run
from tfnn.bench.references import NumpyMLP
from tfnn.bench.workload import Workload

RESULT = "RESULT "
FAILED_RANK = "tfnn: rank "  # how tfnn.parallel.faults.describe_failure starts
TIMEOUT_SECONDS = 600
# tfnn.train.Trainer refuses distributed= for these strategies.
NOT_DATA_PARALLEL = ("pipelined",)


def rank_contenders(
    devices: Sequence[tuple[str, str]], strategies: Sequence[str], ranks: Sequence[int]
) -> list[TrainingContender]:
    """The data-parallel contenders for ``(backend, device)`` pairs (module docstring).

    Example::

        [c.name for c in rank_contenders([("numpy", "cpu")], ["condition"], [2])]
        # ['tfnn-numpy-condition@2-ranks', 'mpi4py-loop@2-ranks']
    """
    from tfnn.parallel import blas_threads_per_rank
    from tfnn.train.workers import AUTO_WORKERS

    out = []
    for n in ranks:
        threads = blas_threads_per_rank(n)
        for backend, device in devices:
            label = backend if device == "cpu" else f"{backend}-{device.replace(':', '')}"
            workers = AUTO_WORKERS.get(device.split(":")[0], 1)
            for strategy in strategies:
                name = f"tfnn-{label}-{strategy}@{n}-ranks"
                out.append(
                    TrainingContender(
                        name, "tfnn-ranks", backend, device, strategy, workers, threads, ranks=n
                    )
                )
        name = f"mpi4py-loop@{n}-ranks"
        out.append(TrainingContender(name, "mpi4py-loop", "numpy", blas_threads=threads, ranks=n))
    return out


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (a venv with ``tfnn[mpi]``), else on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


def unavailable_ranks(contender: TrainingContender) -> str | None:
    """Why ``contender`` (ranks > 1) cannot run here, or None when it can."""
    if not contender.device.startswith("cpu"):
        return f"--ranks times CPU ranks only, not {contender.backend} on {contender.device}"
    if contender.strategy in NOT_DATA_PARALLEL:
        return f"the {contender.strategy} strategy does not train data parallel"
    if importlib.util.find_spec("mpi4py") is None:
        return "--ranks needs mpi4py and an MPI library: pip install 'tfnn[mpi]'"
    if mpiexec() is None:
        return f"--ranks needs mpiexec beside {sys.executable} or on PATH: pip install 'tfnn[mpi]'"
    return None


def run_ranks(contender: TrainingContender, workload: Workload) -> Run:
    """One timed run of a data-parallel contender: an ``mpiexec`` job (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="tfnn-bench-ranks-") as folder:
        save_workload(workload, Path(folder) / "workload.npz")
        argv = ["-m", "tfnn.bench.ranks", folder, "--kind", contender.kind]
        argv += ["--backend", contender.backend, "--device", contender.device]
        argv += ["--strategy", contender.strategy or "condition"]
        argv += ["--blas-threads", str(contender.blas_threads)]
        result = launch(contender.ranks, argv, env=_environment(), what=contender.name)
        with np.load(Path(folder) / "weights.npz") as saved:
            weights = {name: saved[name] for name in saved.files}
    curve = [(float(t), int(s), float(loss)) for t, s, loss in result["curve"]]
    return Run(float(result["seconds"]), int(result["samples"]), curve, weights)


def launch(
    ranks: int,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    what: str = "worker",
    timeout: float = TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run ``<python> argv`` under ``mpiexec -n ranks`` (alone for 1 rank) and return the
    dict rank 0 printed after ``RESULT``; a failure is one ``BenchError`` line.

    Example::

        launch(2, ["-m", "tfnn.bench.ranks", folder, "--kind", "mpi4py-loop"])
    """
    command = [sys.executable, *argv]
    if ranks > 1:
        command = [mpiexec() or "mpiexec", "-n", str(ranks), *command]
    shown = f"{what} (mpiexec -n {ranks})" if ranks > 1 else what
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{shown} did not finish within {timeout:.0f} s") from None
    except OSError as e:
        raise BenchError(f"{shown} could not start: {e}") from None
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode == 0 and results:
        return dict(json.loads(results[-1][len(RESULT) :]))
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    # A failed rank's own line comes before MPI's abort messages: prefer it.
    reports = [line for line in lines if line.startswith(FAILED_RANK)]
    last = (reports or lines or [f"no {RESULT.strip()} line and nothing on stderr"])[-1]
    raise BenchError(f"{shown} failed (exit status {done.returncode}): {last}")


def _environment() -> dict[str, str]:
    """This environment, with the folder holding this tfnn first on the workers' path."""
    import tfnn

    root = str(Path(tfnn.__file__).resolve().parents[1])
    paths = [root, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


_ARRAYS = ("x", "y", "weights")


def save_workload(workload: Workload, path: Path) -> None:
    """Write ``workload`` (arrays and plan) for the workers' ``load_workload``."""
    plan = {f.name: getattr(workload, f.name) for f in fields(workload) if f.name not in _ARRAYS}
    arrays: dict[str, Any] = {f"w_{name}": value for name, value in workload.weights.items()}
    np.savez(path, x=workload.x, y=workload.y, plan=np.array(json.dumps(plan)), **arrays)


def load_workload(path: Path) -> Workload:
    """The workload ``save_workload`` wrote."""
    with np.load(path) as saved:
        plan = json.loads(str(saved["plan"]))
        weights = {name[2:]: saved[name] for name in saved.files if name.startswith("w_")}
        plan["sizes"] = tuple(plan["sizes"])
        return Workload(x=saved["x"], y=saved["y"], weights=weights, **plan)


class AllreduceMLP:
    """``NumpyMLP`` on this rank's slice of each batch: the gradients, weighted by the
    rank's share of the batch, are summed over the ranks by one blocking ``Allreduce``
    per step (the loss rides in the same buffer), then applied. ``allreduce_seconds``
    adds up the time in it (waiting for the other ranks included).

    Example::

        net = AllreduceMLP(initial_weights(MODELS["mlp"]), 0.05, 0.9, MPI.COMM_WORLD)
        loss = net.step(x_slice, y_slice, share=0.5)    # the global batch's mean loss
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float, momentum: float, comm: Any):
        self.net = NumpyMLP(weights, lr, momentum)
        self.comm = comm
        self.grads: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.allreduce_seconds = 0.0
        # The step hands each layer's gradients to _update: collect them for the exchange.
        self.net._update = lambda i, dW, db: self.grads.append((i, dW, db))  # type: ignore[method-assign]

    def step(self, x: np.ndarray, y: np.ndarray, share: float = 1.0) -> np.ndarray:
        from mpi4py import MPI

        self.grads.clear()
        loss = self.net.step(x, y)
        parts = [g.ravel() for _, dW, db in self.grads for g in (dW, db)]
        flat = np.concatenate([*parts, np.asarray(loss, np.float32).reshape(1)])
        flat *= np.float32(share)
        begin = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        self.allreduce_seconds += time.perf_counter() - begin
        offset = 0
        for i, dW, db in self.grads:
            summed = []
            for g in (dW, db):
                summed.append(flat[offset : offset + g.size].reshape(g.shape))
                offset += g.size
            NumpyMLP._update(self.net, i, *summed)
        return flat[-1]

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.weights()

    def synchronize(self) -> None:
        """A barrier: every rank's clock starts and ends together."""
        self.comm.Barrier()


class _Shares:
    """This rank's slices of a workload's batches, each with its share of the batch."""

    def __init__(self, shards: Any) -> None:
        self.shards = shards

    def batch(self, epoch: int, step: int) -> tuple[Any, Any, float]:
        return (*self.shards.batch(epoch, step), self.shards.share(step))


def _time_loop(workload: Workload, comm: Any, threads: int) -> Run:
    from tfnn.parallel.sharding import ShardedBatches

    rank, size = comm.Get_rank(), comm.Get_size()
    net = AllreduceMLP(workload.weights, workload.lr, workload.momentum, comm)
    return run_reference(
        net, workload, threads, lambda batches: _Shares(ShardedBatches(batches, rank, size))
    )


def _time_tfnn(workload: Workload, args: argparse.Namespace, comm: Any) -> Run:
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.parallel import MPICommunicator
    from tfnn.train import Trainer

    backend = get_backend(args.backend, args.device)
    model = nn.mlp(workload.sizes, backend=backend)
    model.load_state_dict(workload.weights)
    optimizer = optim.SGD(model.parameters(), lr=workload.lr, momentum=workload.momentum)
    trainer = Trainer(
        model,
        nn.SoftmaxCrossEntropy(),
        optimizer,
        strategy=args.strategy,
        backend=backend,
        distributed=MPICommunicator(comm),
    )
    return timed_fit(trainer, workload, before=comm.Barrier)


def main(argv: Sequence[str] | None = None) -> int:
    """One rank of a data-parallel run (``run_ranks`` starts it under ``mpiexec``)."""
    parser = argparse.ArgumentParser(prog="python -m tfnn.bench.ranks", description=__doc__)
    parser.add_argument("folder", help="holds workload.npz; rank 0 writes weights.npz")
    parser.add_argument("--kind", choices=("tfnn-ranks", "mpi4py-loop"), required=True)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strategy", default="condition")
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args(argv)
    from mpi4py import MPI

    from tfnn.parallel import MPICommunicator
    from tfnn.parallel.faults import abort_job

    comm = MPI.COMM_WORLD
    folder = Path(args.folder)
    try:
        workload = load_workload(folder / "workload.npz")
        if args.kind == "mpi4py-loop":
            run = _time_loop(workload, comm, args.blas_threads)
        else:
            run = _time_tfnn(workload, args, comm)
    except BaseException as error:
        # The other ranks would wait in their next collective forever: end the job.
        abort_job(MPICommunicator(comm), error)
    if comm.Get_rank() == 0:
        np.savez(folder / "weights.npz", **(run.weights or {}))
        result = {"seconds": run.seconds, "samples": run.samples, "curve": run.curve}
        print(RESULT + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
