"""Data-parallel contenders of ``tfnn bench --ranks N``: every run is an ``mpiexec -n N`` job.

Per rank count N > 1 and CPU backend: ``tfnn-<backend>-<strategy>@N-ranks``, ``Trainer``
with ``distributed=`` an ``MPICommunicator`` and its defaults otherwise (what ``mpiexec -n
N tfnn train`` runs: workers "auto", the rank's share of the cores for BLAS, overlap on);
and ``mpi4py-loop@N-ranks``, ``AllreduceMLP``: the numpy step of
``tfnn.bench.references.NumpyMLP`` on the rank's slice of each batch, one blocking
``Allreduce`` of all gradients per step. The global batch is the workload's (sliced as
``tfnn.parallel.sharding`` does); samples/s count it, so the rows compare with one process.

``run_ranks``: the parent pickles the contender and the workload into a temporary folder and
runs ``mpiexec -n N <python> -m tfnn.bench.ranks <folder>``, ``blas_threads_per_rank(N)``
BLAS threads per rank. Each rank trains the warm-up steps, meets the others at a barrier
and times the steps as ``tfnn.bench.contenders`` times every contender (start-up and
warm-up off the clock); rank 0 prints ``RESULT {json}`` and saves its weights for the
guard. A failed job is one ``BenchError`` quoting the worker's last line on stderr.
``unavailable_ranks`` says why a contender cannot run here (skipped, with the reason).

Example::

    $ tfnn bench --ranks 2 --backends numpy --strategies condition --models mlp
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfnn.bench.contenders import TrainingContender, run_reference, timed_fit, unavailable
from tfnn.bench.model import BenchError, Run
from tfnn.bench.references import NumpyMLP
from tfnn.bench.workload import Workload
from tfnn.parallel.sharding import ShardedBatches

RESULT = "RESULT "
FAILED_RANK = "tfnn: rank "  # how tfnn.parallel.faults.describe_failure starts its line
TIMEOUT_SECONDS = 600
NOT_DATA_PARALLEL = ("pipelined",)  # tfnn.train.Trainer refuses distributed= for these


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
            for s in strategies:
                name = f"tfnn-{label}-{s}@{n}-ranks"
                tfnn = ("tfnn-ranks", backend, device, s, workers, threads)
                out.append(TrainingContender(name, *tfnn, ranks=n))
        loop = ("mpi4py-loop", "numpy", "cpu", None, None, threads)
        out.append(TrainingContender(f"mpi4py-loop@{n}-ranks", *loop, ranks=n))
    return out


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (a venv with ``tfnn[mpi]``), else on PATH."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("mpiexec")


def unavailable_ranks(c: TrainingContender) -> str | None:
    """Why data-parallel ``c`` cannot run here, or None when it can."""
    if c.kind == "tfnn-ranks" and unavailable(c.backend, c.device):
        return unavailable(c.backend, c.device)
    if not c.device.startswith("cpu"):
        return f"--ranks times CPU ranks only, not {c.backend} on {c.device}"
    if c.strategy in NOT_DATA_PARALLEL:
        return f"the {c.strategy} strategy does not train data parallel"
    if importlib.util.find_spec("mpi4py") is None:
        return "--ranks needs mpi4py and an MPI library: pip install 'tfnn[mpi]'"
    if mpiexec() is None:
        return f"--ranks needs mpiexec beside {sys.executable} or on PATH: pip install 'tfnn[mpi]'"
    return None


def run_ranks(contender: TrainingContender, workload: Workload) -> Run:
    """One timed run of a data-parallel contender: an ``mpiexec`` job (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="tfnn-bench-ranks-") as text:
        folder = Path(text)
        # A folder only this user can read (0700), so the workers may unpickle from it.
        with open(folder / "job.pickle", "wb") as job:
            pickle.dump((contender, workload), job)
        argv = ["-m", "tfnn.bench.ranks", text]
        # `-m` looks in the working folder first: run where this tfnn is, so it is the one
        here = Path(sys.modules["tfnn"].__file__ or ".").resolve().parents[1]
        result = launch(contender.ranks, argv, what=contender.name, cwd=here)
        with np.load(folder / "weights.npz") as saved:
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
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run ``<python> argv`` under ``mpiexec -n ranks`` (alone for 1 rank) and return the
    dict rank 0 printed after ``RESULT``; a failure is one ``BenchError`` line.

    Example::

        launch(2, ["-m", "tfnn.bench.ranks", folder])["seconds"]
    """
    command = [sys.executable, *argv]
    if ranks > 1:
        command = [mpiexec() or "mpiexec", "-n", str(ranks), *command]
    shown = f"{what} (mpiexec -n {ranks})" if ranks > 1 else what
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{shown} did not finish within {timeout:.0f} s") from None
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode == 0 and results:
        return dict(json.loads(results[-1][len(RESULT) :]))
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    # A failed rank's own line comes before MPI's abort messages: prefer it.
    reports = [line for line in lines if line.startswith(FAILED_RANK)]
    last = (reports or lines or [f"no {RESULT.strip()} line and nothing on stderr"])[-1]
    raise BenchError(f"{shown} failed (exit status {done.returncode}): {last}")


class AllreduceMLP:
    """``NumpyMLP`` on this rank's slice of each batch: its gradients (and loss), weighted
    by the rank's share of the batch, summed over the ranks by one blocking ``Allreduce``
    per step, then applied; ``allreduce_seconds`` adds up the time in it.

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
            n, m = dW.size, db.size
            summed = flat[offset : offset + n].reshape(dW.shape), flat[offset + n : offset + n + m]
            NumpyMLP._update(self.net, i, *summed)
            offset += n + m
        return flat[-1]

    def weights(self) -> dict[str, np.ndarray]:
        return self.net.weights()

    def synchronize(self) -> None:
        """A barrier: every rank's clock starts and ends together."""
        self.comm.Barrier()


class _Shares(ShardedBatches):
    """This rank's slices of the batches, each with its share of the batch."""

    def batch(self, epoch: int, step: int) -> tuple[Any, Any, float]:  # type: ignore[override]
        return (*super().batch(epoch, step), self.share(step))


def _time(contender: TrainingContender, workload: Workload, comm: Any) -> Run:
    """This rank's part of one run of ``contender``."""
    from tfnn import nn, optim
    from tfnn.backends import get_backend
    from tfnn.parallel import MPICommunicator
    from tfnn.train import Trainer

    w, c = workload, contender
    if c.kind == "mpi4py-loop":
        net = AllreduceMLP(w.weights, w.lr, w.momentum, comm)
        rank, size = comm.Get_rank(), comm.Get_size()
        return run_reference(net, w, c.blas_threads, lambda b: _Shares(b, rank, size))
    backend = get_backend(c.backend, c.device)
    model = nn.mlp(w.sizes, backend=backend)
    model.load_state_dict(w.weights)
    optimizer = optim.SGD(model.parameters(), lr=w.lr, momentum=w.momentum)
    loss = nn.SoftmaxCrossEntropy()
    distributed = MPICommunicator(comm)
    trainer = Trainer(model, loss, optimizer, c.strategy or "condition", distributed=distributed)
    return timed_fit(trainer, w, before=comm.Barrier)


def main(argv: Sequence[str] | None = None) -> int:
    """One rank of ``run_ranks``' job: ``python -m tfnn.bench.ranks <folder>``."""
    from mpi4py import MPI

    from tfnn.parallel import MPICommunicator
    from tfnn.parallel.faults import abort_job

    comm = MPI.COMM_WORLD
    folder = Path((sys.argv[1:] if argv is None else argv)[0])
    try:
        with open(folder / "job.pickle", "rb") as job:
            contender, workload = pickle.load(job)
        run = _time(contender, workload, comm)
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
