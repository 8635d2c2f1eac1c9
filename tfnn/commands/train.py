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
in ``--metrics`` (JSON lines), then one summary line. Under an MPI launcher with several
ranks (``mpiexec -n 4 tfnn train ...``, ``srun``) the run is data parallel
(``--distributed``, ``tfnn.parallel``): ``--batch-size`` stays the global batch, rank 0
alone prints and writes metrics and checkpoints, and a GPU backend gives rank r the device
``cuda:(local rank mod device count)`` unless ``--device`` says otherwise.

Before any training the flags, the model against the data and memory, and every output
path (``tfnn.train.outputs``: distinct, not an input, in a writable folder, never a file
of another kind) are checked. Every error a user can cause is one of tfnn's
``UserError``s and ``tfnn.cli`` prints it as one line; anything else (a bug, even inside
a task) keeps its traceback. A checkpoint already on disk is never lost: without
``--resume`` the command refuses to start over it, and the Trainer writes checkpoints
atomically and never after a diverged step.

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

from tfnn import nn, optim
from tfnn.backends import Backend, get_backend
from tfnn.commands import CommandError
from tfnn.commands.arguments import (
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
    target,
    workers,
)
from tfnn.commands.checks import check_flags, check_model, check_output_flags
from tfnn.commands.model_spec import add_model_arguments
from tfnn.commands.progress import Progress, format_rate
from tfnn.data import DataError, load_mnist, load_mnist_sample
from tfnn.data.mnist import DATA_DIR_ENV, FILES
from tfnn.data.sample import SAMPLE_DIR
from tfnn.errors import UserError
from tfnn.executor import TaskError
from tfnn.parallel import DISTRIBUTED_CHOICES, placement
from tfnn.train import STRATEGIES, History, Trainer, TrainingDiverged
from tfnn.train.workers import AUTO

HELP = "train an MLP on MNIST (the embedded sample unless --data-dir is given)"
# With the default one-cycle schedule these are the peak rates. Measured on full MNIST, 10
# epochs: SGD peaking at 0.1 ended at 98.35-98.48% for seeds 0-2 (seed 0 at a constant 0.05:
# 98.00%; cosine from 0.05: 98.13%); bench/results/recipe-seeds.json.
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}
DEFAULT_MOMENTUM = 0.9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tfnn train`` (``tfnn train --help`` lists them)."""
    _where_arguments(parser.add_argument_group("where it runs"))
    add_model_arguments(parser)
    _optimizer_arguments(parser.add_argument_group("optimizer"))
    _run_arguments(parser.add_argument_group("training run"))
    _file_arguments(parser.add_argument_group("files (checked before training)"))


def _where_arguments(where: argparse._ArgumentGroup) -> None:
    where.add_argument("--backend", help="array backend (default $TFNN_BACKEND or numpy)")
    where.add_argument("--device", help="cpu, cuda:0, ... (default $TFNN_DEVICE or the backend's)")
    where.add_argument(
        "--strategy", choices=list(STRATEGIES), default="condition", help="(default condition)"
    )
    where.add_argument(
        "--workers",
        type=workers,
        default=AUTO,
        help="executor threads, or auto: the measured fastest for the backend and device "
        "(1, with every core for BLAS; see tfnn.train.workers) (default auto)",
    )
    where.add_argument(
        "--blas-threads",
        type=positive_int,
        metavar="N",
        help="BLAS threads per worker (default: the cores divided by the workers; on a "
        "machine whose cores are busy with other work, 1 avoids OpenBLAS busy-waiting)",
    )
    where.add_argument(
        "--distributed",
        choices=DISTRIBUTED_CHOICES,
        default="auto",
        help="data parallel: auto (when launched as several ranks, the default: NCCL for "
        "cupy on GPUs where cupy has it, else MPI), mpi (require MPI), nccl (require NCCL: "
        "cupy ranks) or none (one process)",
    )


def _optimizer_arguments(optimizer: argparse._ArgumentGroup) -> None:
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
        "--momentum", type=fraction, help=f"SGD momentum (default {DEFAULT_MOMENTUM})"
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
        type=non_negative_int,
        default=0,
        metavar="STEPS",
        help="raise the rate linearly over the first STEPS steps (not with onecycle)",
    )


def _run_arguments(run: argparse._ArgumentGroup) -> None:
    run.add_argument("--epochs", type=positive_int, default=5, help="(default 5)")
    run.add_argument("--batch-size", type=positive_int, default=128, help="(default 128)")
    run.add_argument(
        "--seed", type=seed, default=0, help="model init and batch order, >= 0 (default 0)"
    )
    run.add_argument("--data-dir", help="folder with the MNIST IDX files (or $TFNN_DATA_DIR)")
    run.add_argument(
        "--target-accuracy", type=target, help="stop once test accuracy reaches it, e.g. 0.95"
    )
    run.add_argument(
        "--eval-every", type=positive_int, metavar="STEPS", help="evaluate every STEPS steps too"
    )


def _file_arguments(files: argparse._ArgumentGroup) -> None:
    files.add_argument("--checkpoint", metavar="PATH", help="safetensors file, written each eval")
    files.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    files.add_argument(
        "--allow-other-data",
        action="store_true",
        help="with --resume: continue although the data differs from the checkpoint's",
    )
    files.add_argument("--trace", metavar="PATH", help="write a Chrome trace (JSON) of the tasks")
    files.add_argument("--metrics", metavar="PATH", help="append one JSON line per evaluation")


def run(args: argparse.Namespace) -> int:
    """Train as the flags say; print the evaluations and a summary; return 0."""
    check_flags(args)
    where = placement()
    if args.distributed == "none":
        where = type(where)()
    if where.rank != 0:
        # Rank 0 speaks for the job; the others train quietly (errors still reach stderr).
        with contextlib.redirect_stdout(io.StringIO()):
            args.metrics = None
            return _train(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    # Without --device or $TFNN_DEVICE, a GPU backend gives each rank its own GPU.
    backend = get_backend(args.backend, args.device)
    (x, y), (xt, yt), inputs = _load_data(args.data_dir)
    check_output_flags(args, inputs)
    check_model(args.layers, x, y, yt, backend)
    with _task_errors():
        model = nn.mlp(args.layers, args.activation, seed=args.seed, backend=backend)
        steps = args.epochs * math.ceil(len(y) / args.batch_size)
        trainer = Trainer(
            model,
            nn.SoftmaxCrossEntropy(),
            _optimizer(args, model.parameters()),
            strategy=args.strategy,
            workers=args.workers,
            backend=backend,
            blas_threads=args.blas_threads,
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
                allow_other_data=args.allow_other_data,
                eval_every=args.eval_every,
                trace=args.trace,
                on_evaluation=progress.evaluation,
                on_step=progress.step,
            )
    if not progress.evaluations:
        print(_nothing_to_train(args, history))
    size = trainer.parallel.size if trainer.parallel is not None else None
    print(_summary(history, time.perf_counter() - begin, backend, args.strategy, size))
    return 0


def _summary(
    history: History, seconds: float, backend: Backend, strategy: str, ranks: int | None
) -> str:
    accuracy = history.accuracy[-1] if history.accuracy else None
    return (
        f"accuracy {'-' if accuracy is None else f'{accuracy:.4f}'}  "
        f"steps {history.steps}  time {seconds:.1f} s  "
        f"{format_rate(history.samples_per_second)} samples/s  backend {backend.name}  "
        f"device {backend.device}  strategy {strategy}"
        + (f"  ranks {ranks}" if ranks is not None else "")
    )


def _nothing_to_train(args: argparse.Namespace, history: History) -> str:
    accuracy = history.accuracy[-1] if history.accuracy else None
    target = args.target_accuracy
    if target is not None and accuracy is not None and accuracy >= target:
        return (
            f"nothing to train: {args.checkpoint} already reached accuracy {accuracy:.4f} "
            f">= --target-accuracy {target}"
        )
    return (
        f"nothing to train: {args.checkpoint} already finished epoch {history.epochs} of "
        f"--epochs {args.epochs}; pass more --epochs to train further"
    )


def _load_data(
    data_dir: str | None,
) -> tuple[tuple[Any, Any], tuple[Any, Any], list[Path]]:
    """The training and test splits, and the files they came from (outputs must differ)."""
    from_env = os.environ.get(DATA_DIR_ENV)
    if data_dir is None and not from_env:
        train, test = load_mnist_sample("train"), load_mnist_sample("test")
        where = "the MNIST sample embedded in tfnn", " (offline; --data-dir for the full set)"
        folder = SAMPLE_DIR
    else:
        try:
            # load_mnist reads $TFNN_DATA_DIR itself when data_dir is None, names it in errors.
            train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
        except DataError as e:
            raise CommandError(
                f"{e} (--data-dir or $TFNN_DATA_DIR; without either, tfnn train uses the "
                "embedded sample)"
            ) from e
        folder = Path(data_dir or from_env or ".")
        where = f"MNIST in {folder}", ""
    print(f"data: {where[0]}, {len(train[1])} training and {len(test[1])} test images{where[1]}")
    inputs = [folder / name for names in FILES.values() for name in names]
    return train, test, [p for name in inputs for p in (name, name.with_name(name.name + ".gz"))]


def _optimizer(args: argparse.Namespace, params: list[nn.Parameter]) -> optim.Optimizer:
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    if args.optimizer == "adam":
        return optim.Adam(params, lr=lr)
    momentum = DEFAULT_MOMENTUM if args.momentum is None else args.momentum
    return optim.SGD(params, lr=lr, momentum=momentum)


@contextlib.contextmanager
def _task_errors() -> Iterator[None]:
    """A user error raised inside a task reads as itself; a bug keeps its TaskError."""
    try:
        yield
    except TaskError as e:
        cause = e.__cause__
        # main reports a closed pipe (`tfnn train | head`) or a full disk as it does outside
        # a task, and a user error as one line; anything else is a bug: its traceback,
        # with the task's name, is what is needed to fix it.
        if isinstance(cause, (OSError, UserError)):
            raise cause from e
        raise
    except TrainingDiverged as e:
        raise CommandError(f"{e} (--lr sets the learning rate)") from e
    except MemoryError as e:
        raise CommandError(
            "out of memory while training; use smaller --layers or --batch-size"
        ) from e


@contextlib.contextmanager
def _quiet_overflow() -> Iterator[None]:
    # A diverging run overflows in numpy first; the divergence check then reports it as one
    # line, so the RuntimeWarnings on the way would only repeat it on stderr.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning
        )
        yield
