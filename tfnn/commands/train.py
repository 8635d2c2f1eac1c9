"""``tfnn train``: train an MLP on MNIST as a task graph, with progress, metrics and checkpoints.

Data: ``--data-dir`` (or ``$TFNN_DATA_DIR``) names a folder with the MNIST IDX files;
without either the run uses the sample embedded in the package (6,000 training and 1,000
test images), so it works offline on a fresh machine. The model comes from ``--layers``
and ``--activation`` (``tfnn.commands.model_spec``), the optimizer is SGD with momentum
or Adam, its learning rate follows ``--schedule`` (``tfnn.optim.make_schedule``, over the
run's steps), and ``Trainer.fit`` runs the chosen strategy. The defaults (784-256-128-10
ReLU, SGD with momentum 0.9 and a one-cycle rate peaking at 0.1, batch 128) reach about 95%
test accuracy on the sample in about a second of training on a CPU, and 98.3-98.5% on full
MNIST with ``--epochs 10`` (seeds 0-2: ``python bench/quality_mlp.py``, whose results are in
bench/results/recipe-seeds.json).

Output: a progress bar on stderr (terminal only), one line per evaluation on stdout and
in ``--metrics``, then one summary line. Under an MPI launcher with several ranks
(``mpiexec -n 4 tfnn train ...``, ``srun``) the run is data parallel (``--distributed``,
``tfnn.parallel``): ``--batch-size`` stays the global batch, rank 0 alone prints and
writes metrics and checkpoints, and a GPU backend gives rank r the device
``cuda:(local rank mod device count)`` unless ``--device`` says otherwise.

Every error a user can cause here (bad data, a model that does not fit the data, an
unusable checkpoint, a diverged run, a failing task) becomes a ``CommandError``. A
checkpoint already on disk is never lost: without ``--resume`` the command refuses to
start over it, and the Trainer writes checkpoints atomically and never after a diverged
step.

Example::

    $ tfnn train --epochs 3 --checkpoint run.safetensors --metrics run.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfnn import errors, nn, optim
from tfnn.backends import get_backend
from tfnn.commands import CommandError
from tfnn.commands.model_spec import add_model_arguments
from tfnn.commands.progress import Progress, format_rate
from tfnn.data import load_mnist, load_mnist_sample
from tfnn.data.mnist import DATA_DIR_ENV
from tfnn.executor import TaskError
from tfnn.parallel import DISTRIBUTED_CHOICES, DistributedError, placement
from tfnn.parallel.launcher import rank_device
from tfnn.train import STRATEGIES, Trainer, TrainingDiverged

HELP = "train an MLP on MNIST (the embedded sample unless --data-dir is given)"
# With the default one-cycle schedule these are the peak rates. Measured on full MNIST, 10
# epochs, seed 0: SGD at 0.1 reached 98.45% (constant 0.05: 98.00%, cosine from 0.05: 98.13%).
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tfnn train`` (``tfnn train --help`` lists them)."""
    where = parser.add_argument_group("where it runs")
    where.add_argument("--backend", help="array backend (default $TFNN_BACKEND or numpy)")
    where.add_argument("--device", help="cpu, cuda:0, ... (default $TFNN_DEVICE or the backend's)")
    where.add_argument(
        "--strategy", choices=list(STRATEGIES), default="condition", help="(default condition)"
    )
    where.add_argument(
        "--workers", type=positive_int, default=2, help="executor threads (default 2)"
    )
    where.add_argument(
        "--distributed",
        choices=DISTRIBUTED_CHOICES,
        default="auto",
        help="data parallel over MPI: auto (when launched as several ranks, the default), "
        "mpi (require it) or none (one process)",
    )
    add_model_arguments(parser)
    optimizer = parser.add_argument_group("optimizer")
    optimizer.add_argument(
        "--optimizer", choices=sorted(DEFAULT_LR), default="sgd", help="(default sgd)"
    )
    optimizer.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate: the peak of onecycle, the start of the other schedules "
        "(default 0.1 for sgd, 0.001 for adam)",
    )
    optimizer.add_argument(
        "--momentum", type=fraction, default=0.9, help="SGD momentum (default 0.9)"
    )
    optimizer.add_argument(
        "--schedule",
        choices=list(optim.SCHEDULES),
        default="onecycle",
        help="learning-rate schedule over the run (default onecycle: up from --lr/25 to --lr "
        "over 30%% of the steps, then down to --lr/250000; cosine: from --lr down to 0; step: "
        "/10 at each third; plateau: /10 after two evaluations without a better accuracy; "
        "constant)",
    )
    optimizer.add_argument(
        "--warmup-steps",
        type=whole,
        default=0,
        metavar="STEPS",
        help="raise the rate linearly over the first STEPS steps (not with onecycle)",
    )
    run = parser.add_argument_group("training run")
    run.add_argument("--epochs", type=positive_int, default=5, help="(default 5)")
    run.add_argument("--batch-size", type=positive_int, default=128, help="(default 128)")
    run.add_argument("--seed", type=int, default=0, help="model init and batch order (default 0)")
    run.add_argument("--data-dir", help="folder with the MNIST IDX files (or $TFNN_DATA_DIR)")
    run.add_argument(
        "--target-accuracy", type=target, help="stop once test accuracy reaches it, e.g. 0.95"
    )
    run.add_argument(
        "--eval-every", type=positive_int, metavar="STEPS", help="evaluate every STEPS steps too"
    )
    run.add_argument("--checkpoint", metavar="PATH", help="safetensors file, written each eval")
    run.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    run.add_argument("--trace", metavar="PATH", help="write a Chrome trace (JSON) of the tasks")
    run.add_argument("--metrics", metavar="PATH", help="append one JSON line per evaluation")


def run(args: argparse.Namespace) -> int:
    """Train as the flags say; print the evaluations and a summary; return 0."""
    _check_checkpoint_flags(args.checkpoint, args.resume)
    where = placement()
    if args.distributed == "none":
        where = type(where)()
    if where.rank != 0:
        # Rank 0 speaks for the job; the others train quietly (errors still reach stderr).
        with contextlib.redirect_stdout(io.StringIO()):
            args.metrics = None
            return _train(args, where.size, where.local_rank)
    return _train(args, where.size, where.local_rank)


def _train(args: argparse.Namespace, ranks: int, local_rank: int) -> int:
    device = args.device
    if ranks > 1 and device is None and not os.environ.get("TFNN_DEVICE"):
        device = rank_device(args.backend, local_rank)
    backend = get_backend(args.backend, device)
    with _user_errors():
        (x, y), (xt, yt) = _load_data(args.data_dir)
        _check_classes(args.layers[-1], y, yt)
        model = nn.mlp(args.layers, args.activation, seed=args.seed, backend=backend)
        steps = args.epochs * math.ceil(len(y) / args.batch_size)
        trainer = Trainer(
            model,
            nn.SoftmaxCrossEntropy(),
            _optimizer(args, model.parameters()),
            strategy=args.strategy,
            workers=args.workers,
            backend=backend,
            schedule=optim.make_schedule(args.schedule, steps, args.warmup_steps),
            distributed=args.distributed,
        )
        begin = time.perf_counter()
        with Progress(steps, args.metrics) as progress, _quiet_overflow():
            history = trainer.fit(
                x,
                y,
                epochs=args.epochs,
                batch_size=args.batch_size,
                seed=args.seed,
                eval_data=(xt, yt),
                target_accuracy=args.target_accuracy,
                checkpoint=args.checkpoint,
                resume=args.resume,
                eval_every=args.eval_every,
                trace=args.trace,
                on_evaluation=progress.evaluation,
                on_step=progress.step,
            )
    accuracy = history.accuracy[-1] if history.accuracy else None
    print(
        f"accuracy {'-' if accuracy is None else f'{accuracy:.4f}'}  "
        f"steps {history.steps}  time {time.perf_counter() - begin:.1f} s  "
        f"{format_rate(history.samples_per_second)} samples/s  backend {backend.name}  "
        f"device {backend.device}  strategy {args.strategy}"
        + (f"  ranks {trainer.parallel.size}" if trainer.parallel is not None else "")
    )
    return 0


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``tfnn.errors.positive_int`` on the number)."""
    try:
        return errors.positive_int(int(text), "the value")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1") from None


def whole(text: str) -> int:
    """argparse type: a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 0")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``nan`` and ``inf`` are refused)."""
    value = float(text)
    if not math.isfinite(value) or value <= 0.0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number > 0")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a number in [0, 1)")
    return value


def target(text: str) -> float:
    """argparse type: an accuracy in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy in (0, 1], e.g. 0.95")
    return value


def _check_checkpoint_flags(checkpoint: str | None, resume: bool) -> None:
    if resume and checkpoint is None:
        raise CommandError("--resume needs --checkpoint PATH, the checkpoint to continue from")
    if checkpoint is not None and not resume and Path(checkpoint).exists():
        raise CommandError(
            f"{checkpoint} exists; pass --resume to continue from it, or another --checkpoint "
            "path to start afresh (the file is left as it is)"
        )


def _load_data(data_dir: str | None) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    from_env = os.environ.get(DATA_DIR_ENV)
    if data_dir is None and not from_env:
        train, test = load_mnist_sample("train"), load_mnist_sample("test")
        where = "the MNIST sample embedded in tfnn", " (offline; --data-dir for the full set)"
    else:
        # load_mnist reads $TFNN_DATA_DIR itself when data_dir is None, and names it in errors.
        train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
        where = f"MNIST in {data_dir or from_env}", ""
    print(f"data: {where[0]}, {len(train[1])} training and {len(test[1])} test images{where[1]}")
    return train, test


def _check_classes(outputs: int, y: np.ndarray, yt: np.ndarray) -> None:
    classes = int(max(y.max(), yt.max())) + 1
    if outputs < classes:
        raise CommandError(
            f"the last layer has {outputs} outputs but the labels have {classes} classes; "
            f"end --layers with {classes}"
        )


def _optimizer(args: argparse.Namespace, params: list[nn.Parameter]) -> optim.Optimizer:
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.optimizer == "adam":
        return optim.Adam(params, lr=lr)
    return optim.SGD(params, lr=lr, momentum=args.momentum)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn what a user can cause into ``CommandError``; a task's failure keeps its cause."""
    try:
        yield
    except TaskError as e:
        cause = e.__cause__
        # main reports a closed pipe (`tfnn train | head`) or a full disk as it does outside
        # a task; a diverged run or bad value reads better without the task wrapper.
        if isinstance(cause, OSError):
            raise cause from None
        if isinstance(cause, (TrainingDiverged, ValueError)):
            raise CommandError(str(cause)) from e
        raise CommandError(str(e)) from e
    except (TrainingDiverged, ValueError, DistributedError) as e:
        raise CommandError(str(e)) from e


@contextlib.contextmanager
def _quiet_overflow() -> Iterator[None]:
    # A diverging run overflows in numpy first; the divergence check then reports it as one
    # line, so the RuntimeWarnings on the way would only repeat it on stderr.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning
        )
        yield
