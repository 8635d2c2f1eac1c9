"""Training runs for the MPI tests: ``mpiexec -n 2 python -m tests.parallel.mpi_cases CASE OUT``.

Each case trains a small network (784-16-10) on the first images of the embedded MNIST
sample and writes what the test compares into the folder ``OUT``: rank 0 the weights
(``.npz``), every rank its own facts (``rank<r>.json``). The same functions run in the
test process for the single-process reference (``distributed=None``).

Cases: ``weights`` (every strategy that supports data parallelism, repeated, two
workers, an uneven split, overlap on with start and wait tasks, overlap on the
communicator's stream as GPU ranks do, the first layer in blocks of rows), ``stops``
(target accuracy and a divergence seen by one rank only), ``checkpoint`` (train with a
checkpoint and a trace), ``fail`` (rank 1's loss task raises), ``kill`` (rank 1 kills
itself with SIGKILL after a checkpoint), ``long`` (trains until interrupted).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tfnn import nn, optim
from tfnn.data import load_mnist_sample
from tfnn.parallel import DataParallel, MPICommunicator, placement
from tfnn.train import Trainer

SAMPLES = 1024
PARALLEL_STRATEGIES = ("sequential", "two-graph", "condition", "unrolled")


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_mnist_sample("train")
    xt, yt = load_mnist_sample("test")
    return x[:SAMPLES], y[:SAMPLES], xt[:500], yt[:500]


class FaultyLoss(nn.SoftmaxCrossEntropy):
    """Softmax cross-entropy that, on one rank at one call, returns NaN or raises."""

    def __init__(self, rank: int, call: int, action: str) -> None:
        super().__init__()
        self.calls = 0
        self.target = (rank, call)
        self.action = action

    def forward(self, logits: Any, labels: Any) -> tuple[Any, Any]:
        value, ctx = super().forward(logits, labels)
        self.calls += 1
        if (placement().rank, self.calls) == self.target:
            if self.action == "nan":
                value = value * math.nan
            elif self.action == "raise":
                raise ValueError("injected failure")
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return value, ctx


def train(
    distributed: Any,
    strategy: str = "condition",
    batch_size: int = 64,
    epochs: int = 2,
    workers: int = 1,
    loss: Any = None,
    **fit: Any,
) -> tuple[Trainer, Any]:
    x, y, xt, yt = data()
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10), seed=3)
    trainer = Trainer(
        model,
        loss or nn.SoftmaxCrossEntropy(),
        optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        strategy=strategy,
        workers=workers,
        distributed=distributed,
    )
    history = trainer.fit(x, y, epochs=epochs, batch_size=batch_size, eval_data=(xt, yt), **fit)
    return trainer, history


def weights(trainer: Trainer) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in trainer.model.state_dict().items()}


def weight_runs(distributed: Any) -> dict[str, dict[str, np.ndarray]]:
    """name -> weights, for every run the ``weights`` case makes."""
    runs = {}
    for strategy in PARALLEL_STRATEGIES:
        runs[strategy] = weights(train(distributed, strategy)[0])
    runs["condition-again"] = weights(train(distributed, "condition")[0])
    runs["condition-2-workers"] = weights(train(distributed, "condition", workers=2)[0])
    runs["uneven"] = weights(train(distributed, "condition", batch_size=67)[0])
    start_wait = distributed
    if distributed is not None:
        # Overlap on as CPU ranks on several machines do it (the default here, ranks of one
        # machine, is one blocking allreduce a step): AR starts, AW waits, in buckets.
        start_wait = DataParallel(MPICommunicator(), overlap=True)
    runs["overlap-start-wait"] = weights(train(start_wait, "condition")[0])
    overlapped = distributed
    if distributed is not None:
        # Overlap on as GPU ranks do it: AR tasks on the communicator's stream, in buckets.
        overlapped = DataParallel(MPICommunicator(), overlap=True, stream=True)
    runs["overlap-stream"] = weights(train(overlapped, "condition")[0])
    blocks = distributed
    if distributed is not None:
        # The first layer (50 KB) sent in 3 blocks of 5-6 rows, each updated as it arrives.
        blocks = DataParallel(MPICommunicator(), overlap=True, block_bytes=20_000)
    runs["row-blocks"] = weights(train(blocks, "condition")[0])
    return runs


def case_weights(out: Path) -> dict[str, Any]:
    runs = weight_runs("auto")
    if placement().rank == 0:
        np.savez(
            out / "weights.npz", **{f"{r}/{k}": v for r, w in runs.items() for k, v in w.items()}
        )
    return {}


def case_stops(out: Path) -> dict[str, Any]:
    _, target = train("auto", epochs=20, eval_every=4, target_accuracy=0.6)
    facts: dict[str, Any] = {"target_steps": target.steps, "target_accuracy": target.accuracy}
    try:
        train("auto", loss=FaultyLoss(rank=1, call=7, action="nan"), eval_every=4)
    except FloatingPointError as e:
        facts["diverged"] = str(e)
    return facts


def case_checkpoint(out: Path, epochs: int = 2) -> dict[str, Any]:
    trainer, history = train(
        "auto", epochs=epochs, checkpoint=out / "run.safetensors", resume=True, trace=out / "t.json"
    )
    if placement().rank == 0:
        np.savez(out / f"weights-{epochs}.npz", **weights(trainer))
    return {"steps": history.steps, "loss": history.loss}


def case_long(out: Path) -> dict[str, Any]:
    train("auto", epochs=10_000, eval_every=4, checkpoint=out / "run.safetensors")
    return {}


def case_fail(out: Path) -> dict[str, Any]:
    train("auto", loss=FaultyLoss(rank=1, call=5, action="raise"))
    return {}


def case_kill(out: Path) -> dict[str, Any]:
    train(
        "auto",
        loss=FaultyLoss(rank=1, call=40, action="kill"),
        epochs=3,
        eval_every=8,
        checkpoint=out / "run.safetensors",
    )
    return {}


CASES = {
    "weights": case_weights,
    "stops": case_stops,
    "checkpoint": case_checkpoint,
    "fail": case_fail,
    "kill": case_kill,
    "long": case_long,
}


def main(argv: list[str]) -> int:
    case, out = argv[0], Path(argv[1])
    facts = CASES[case](out, *map(int, argv[2:]))
    where = placement()
    facts.update(rank=where.rank, size=where.size)
    (out / f"rank{where.rank}.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
